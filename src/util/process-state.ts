import { readFileSync } from 'node:fs';

/**
 * True when a process with this PID exists and has not exited (signal 0
 * checks without sending anything). An exited process that its parent has
 * not reaped yet (a zombie, state Z in /proc/PID/stat on Linux) counts as not
 * running, because an orphan is reaped only when the machine's PID 1 does so.
 */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // The state follows the command name, which is in parentheses and may itself contain spaces or parentheses.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
}
