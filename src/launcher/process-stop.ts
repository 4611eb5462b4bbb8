import { readFile } from 'node:fs/promises';
import { isProcessRunning } from './address-block.js';

const POLL_MS = 100;

/** Returns a process's command line as its arguments, or undefined when it cannot be read (gone, or not Linux). */
export async function commandLineOf(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((part) => part !== '');
  } catch {
    return undefined;
  }
}

/** Resolves true once `pid` has exited, or false when it still runs after `timeoutMs`. */
export async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessRunning(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return true;
}

/**
 * Stops one process this tool started: SIGTERM, then SIGKILL after
 * `graceMs`. `owned` checks the command line first, so a PID the kernel has
 * reused for another program is left alone. Returns how it ended.
 */
export async function stopOwnedProcess(pid: number, owned: (commandLine: string[]) => boolean, graceMs: number): Promise<'not running' | 'not ours' | 'stopped' | 'killed'> {
  if (!isProcessRunning(pid)) return 'not running';
  const commandLine = await commandLineOf(pid);
  if (commandLine === undefined) return isProcessRunning(pid) ? 'not ours' : 'not running';
  if (!owned(commandLine)) return 'not ours';

  signal(pid, 'SIGTERM');
  if (await waitForPidExit(pid, graceMs)) return 'stopped';
  signal(pid, 'SIGKILL');
  await waitForPidExit(pid, graceMs);
  return 'killed';
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
