import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cliEntry } from '../launcher/project-root.js';
import { checkRunFolder, defaultRunDir } from '../launcher/run-folder.js';
import { ConfigError } from '../util/errors.js';

/** Time `up --detach` waits for the background supervisor to report every node connected or a failure. */
export const DEFAULT_DETACH_TIMEOUT_MS = 180_000;
/** Hidden flag: run as the background supervisor that `up --detach` starts. */
export const SUPERVISE_FLAG = '--supervise';

/** Message the background supervisor sends to `up --detach` over IPC once, before it disconnects. */
export type SupervisorOutcome = { type: 'up-ready'; runDir: string; lines: string[] } | { type: 'up-failed'; error: string };

export interface DetachArgs {
  topologyFile?: string;
  runDir?: string;
  seed?: string;
  withClients: boolean;
}

/**
 * Starts the cluster in a detached supervisor process (its own session, so
 * a closed terminal does not stop it), waits for its outcome, prints it and
 * returns the exit code. The supervisor logs to logs/launcher.log in the run
 * folder; its stdout and stderr are discarded, because the run folder must be
 * empty until the launcher prepares it.
 */
export async function detachCluster(args: DetachArgs, timeoutMs = DEFAULT_DETACH_TIMEOUT_MS): Promise<number> {
  const runDir = resolve(args.runDir ?? defaultRunDir());
  const logsDir = join(runDir, 'logs');
  const launcherLog = join(logsDir, 'launcher.log');
  try {
    await checkRunFolder(runDir);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`atlas-sim up: ${error.message}`);
    return 2;
  }

  const forwarded = ['--run-dir', runDir];
  if (args.topologyFile !== undefined) forwarded.push('--topology', resolve(args.topologyFile));
  if (args.seed !== undefined) forwarded.push('--seed', args.seed);
  if (args.withClients) forwarded.push('--with-clients');
  const child = spawn(process.execPath, [cliEntry(), 'up', SUPERVISE_FLAG, ...forwarded], { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });

  console.log(`starting cluster in the background (supervisor pid ${child.pid ?? '?'}, log ${launcherLog})...`);
  const outcome = await waitForOutcome(child, timeoutMs);
  if (child.connected) child.disconnect();
  child.unref();

  if (outcome.type === 'up-failed') {
    console.error(`atlas-sim up: the cluster did not start: ${outcome.error}`);
    // The run folder was missing or empty before the supervisor started, so any logs in it are this run's.
    if (existsSync(logsDir)) console.error(`see the logs in ${logsDir}`);
    return 1;
  }
  console.log(outcome.lines.join('\n'));
  return 0;
}

/** Resolves with the supervisor's message; a supervisor that exits or stays silent is a failure, and a silent one is stopped. */
function waitForOutcome(child: ChildProcess, timeoutMs: number): Promise<SupervisorOutcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      resolve({ type: 'up-failed', error: `the supervisor reported nothing within ${timeoutMs} ms and was sent SIGTERM` });
    }, timeoutMs);
    child.on('message', (message: SupervisorOutcome) => {
      if (message.type !== 'up-ready' && message.type !== 'up-failed') return;
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ type: 'up-failed', error: `the supervisor exited (${signal ?? `code ${String(code)}`}) before the cluster was up` });
    });
  });
}
