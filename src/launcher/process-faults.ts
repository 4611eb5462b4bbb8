import type { Logger } from '../logging/logger.js';
import type { ChildExit, ChildHandle } from './child-process.js';

/**
 * Process faults: `kill` sends SIGKILL, `stop` SIGTERM (a clean shutdown),
 * `pause` SIGSTOP, `resume` SIGCONT, and `restart` stops the process and
 * starts it again from the same config file, so it keeps its identity and
 * data folder.
 */
export type ProcessFault = 'kill' | 'stop' | 'pause' | 'resume' | 'restart';
export const PROCESS_FAULTS: readonly ProcessFault[] = ['kill', 'stop', 'pause', 'resume', 'restart'];

/** Time a killed or stopped process gets to exit before the call fails. */
export const PROCESS_EXIT_WAIT_MS = 10_000;

const SIGNALS: Record<Exclude<ProcessFault, 'restart'>, NodeJS.Signals> = {
  kill: 'SIGKILL',
  stop: 'SIGTERM',
  pause: 'SIGSTOP',
  resume: 'SIGCONT',
};

/** Returns the signal of a fault other than restart. */
export function faultSignal(fault: Exclude<ProcessFault, 'restart'>): NodeJS.Signals {
  return SIGNALS[fault];
}

/** Checks a fault name from a command line or a request, naming the allowed values. */
export function parseProcessFault(value: unknown): ProcessFault {
  if (typeof value !== 'string' || !(PROCESS_FAULTS as readonly string[]).includes(value)) {
    throw new Error(`process fault is ${JSON.stringify(value)}; expected one of ${PROCESS_FAULTS.join(', ')}`);
  }
  return value as ProcessFault;
}

/**
 * Sends the signal of `fault` to a running process. For kill and stop it
 * waits until the process has exited; a paused process gets SIGCONT after
 * SIGTERM so that it can handle the SIGTERM. Throws when the process is not
 * running or does not exit in time.
 */
export async function applyProcessSignal(handle: ChildHandle, fault: Exclude<ProcessFault, 'restart'>, logger: Logger): Promise<ChildExit | null> {
  if (!handle.running) throw new Error(`${handle.name} is not running (${handle.exitStatus?.signal ?? `exit code ${String(handle.exitStatus?.code)}`}); restart it first`);
  const signal = SIGNALS[fault];
  logger.warn({ process: handle.name, childPid: handle.pid, fault, signal }, 'process fault');
  handle.kill(signal);
  if (fault === 'stop') handle.kill('SIGCONT');
  if (fault !== 'kill' && fault !== 'stop') return null;

  const exit = await handle.waitForExit(PROCESS_EXIT_WAIT_MS);
  if (exit === null) throw new Error(`${handle.name} (pid ${handle.pid}) did not exit within ${PROCESS_EXIT_WAIT_MS} ms of ${signal}`);
  return exit;
}

/**
 * Stops a process before a restart: SIGTERM (and SIGCONT in case it is
 * paused), then SIGKILL after `graceMs`, or SIGKILL at once when `hard`.
 */
export async function stopForRestart(handle: ChildHandle, graceMs: number, hard: boolean): Promise<void> {
  if (!handle.running) return;
  if (hard) {
    handle.kill('SIGKILL');
  } else {
    handle.kill('SIGTERM');
    handle.kill('SIGCONT');
    if ((await handle.waitForExit(graceMs)) !== null) return;
    handle.kill('SIGKILL');
  }
  await handle.waitForExit();
}
