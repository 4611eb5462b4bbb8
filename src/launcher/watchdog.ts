import type { Logger } from '../logging/logger.js';
import { errorMessage } from '../util/errors.js';
import { DEFAULT_READY_TIMEOUT_MS, forkChild, type ChildHandle } from './child-process.js';

/** Name of the watchdog process and of its log file. */
export const WATCHDOG_PROCESS_NAME = 'watchdog';

export interface WatchdogOptions {
  cliPath: string;
  logFile: string;
  runDir: string;
  /** Remove the run folder when the launcher dies without stopping the cluster. */
  removeRunDir: boolean;
  /** True when the launcher made the run folder, so it may remove the folder itself and not only its contents. */
  runDirCreated: boolean;
  /** Address block lock to release when the launcher dies. */
  lockFile: string;
}

/**
 * A process that outlives a launcher killed without cleanup and then stops
 * what it left behind (see watchdog-main.ts). Every process the launcher
 * starts is reported with track().
 */
export class Watchdog {
  private constructor(readonly handle: ChildHandle, private readonly logger: Logger) {}

  static async start(options: WatchdogOptions, logger: Logger): Promise<Watchdog> {
    const args = ['watchdog', '--log-file', options.logFile, '--run-dir', options.runDir, '--lock-file', options.lockFile];
    if (options.removeRunDir) args.push('--remove-run-dir');
    if (options.runDirCreated) args.push('--run-dir-created');
    const handle = forkChild({ name: WATCHDOG_PROCESS_NAME, role: 'watchdog', cliPath: options.cliPath, args, logFile: options.logFile });
    try {
      await handle.waitForReady(DEFAULT_READY_TIMEOUT_MS);
    } catch (error) {
      handle.kill('SIGKILL');
      throw error;
    }
    logger.info({ pid: handle.pid }, 'watchdog ready');
    return new Watchdog(handle, logger);
  }

  /** Reports a process the launcher started, so the watchdog can stop it if the launcher dies. */
  track(name: string, pid: number): void {
    this.handle.request('track', { name, pid }).catch((error: unknown) => {
      this.logger.warn({ process: name, pid, err: errorMessage(error) }, 'watchdog did not record a process');
    });
  }

  /** Ends the watchdog without cleanup, once the launcher has stopped the cluster itself. */
  async stop(): Promise<void> {
    this.handle.kill('SIGTERM');
    if ((await this.handle.waitForExit(5000)) === null) {
      this.handle.kill('SIGKILL');
      await this.handle.waitForExit();
    }
  }
}
