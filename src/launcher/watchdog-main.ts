import { readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { parseCommandLine } from '../util/argv.js';

import { createLogger, type Logger } from '../logging/logger.js';
import { errorMessage } from '../util/errors.js';
import { sendToParent, type ParentMessage } from '../util/ipc.js';
import { removeRunFolder } from './run-folder.js';

/** Time the cluster's processes get to exit by themselves after the launcher died, before SIGKILL. */
export const ORPHAN_GRACE_MS = 5000;
const POLL_MS = 100;

export const WATCHDOG_USAGE = `usage: atlas-sim watchdog --log-file FILE [--run-dir DIR --remove-run-dir [--run-dir-created]] [--lock-file FILE]

Watches the launcher that forked it. When the launcher dies without stopping
its cluster, it resumes any paused cluster process so that it can exit by
itself, sends SIGKILL to any still running after ${ORPHAN_GRACE_MS} ms, releases the
address block lock and, with --remove-run-dir, removes the run folder (only
its contents unless --run-dir-created says the launcher made the folder).
The launcher forks it; it is not meant to be started by hand.
`;

/**
 * Entry of `atlas-sim watchdog`. The launcher sends `track { name, pid }`
 * for every process it starts. SIGTERM ends the watchdog without cleanup,
 * because the launcher then stops the cluster itself.
 */
export async function main(argv: string[]): Promise<number> {
  let values: { 'log-file'?: string; 'run-dir'?: string; 'remove-run-dir'?: boolean; 'run-dir-created'?: boolean; 'lock-file'?: string; help?: boolean };
  try {
    ({ values } = parseCommandLine({
      args: argv,
      options: { 'log-file': { type: 'string' }, 'run-dir': { type: 'string' }, 'remove-run-dir': { type: 'boolean' }, 'run-dir-created': { type: 'boolean' }, 'lock-file': { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`atlas-sim watchdog: ${errorMessage(error)}\n\n${WATCHDOG_USAGE}`);
    return 2;
  }
  if (values.help === true || process.send === undefined) {
    process.stdout.write(WATCHDOG_USAGE);
    return values.help === true ? 0 : 2;
  }

  const logger = createLogger({ name: 'watchdog', ...(values['log-file'] === undefined ? {} : { file: values['log-file'] }) });
  const tracked = new Map<number, string>();
  const launcherPid = process.ppid;
  process.on('message', (message: ParentMessage) => {
    if (message?.type !== 'request') return;
    const args = message.args ?? {};
    if (message.command === 'track' && typeof args.pid === 'number' && typeof args.name === 'string') tracked.set(args.pid, args.name);
    if (message.command === 'untrack' && typeof args.pid === 'number') tracked.delete(args.pid);
    sendToParent({ type: 'reply', requestId: message.requestId, ok: true, result: null });
  });
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => undefined);

  const launcherGone = new Promise<void>((resolve) => process.once('disconnect', () => resolve()));
  sendToParent({ type: 'ready', role: 'watchdog', name: 'watchdog', pid: process.pid, info: { launcherPid } });
  logger.info({ launcherPid }, 'watchdog ready');
  await launcherGone;

  logger.warn({ launcherPid, processes: tracked.size }, 'launcher gone without stopping its cluster; cleaning up');
  await stopOrphans(tracked, logger);
  await releaseLock(values['lock-file'], launcherPid, logger);
  if (values['remove-run-dir'] === true && values['run-dir'] !== undefined) {
    await removeRunFolder({ dir: values['run-dir'], created: values['run-dir-created'] === true });
    logger.info({ runDir: values['run-dir'] }, 'run folder removed');
  }
  logger.info('watchdog finished');
  return 0;
}

/**
 * Resumes every tracked process that still runs this CLI (a PID may have been
 * reused by an unrelated process), waits for them to exit by themselves, and
 * sends SIGKILL to those left after ORPHAN_GRACE_MS.
 */
async function stopOrphans(tracked: ReadonlyMap<number, string>, logger: Logger): Promise<void> {
  const cliPath = process.argv[1] ?? '';
  const ours = [...tracked.keys()].filter((pid) => runsCli(pid, cliPath));
  for (const pid of ours) signal(pid, 'SIGCONT');
  const deadline = Date.now() + ORPHAN_GRACE_MS;
  let running = ours;
  while (running.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    running = running.filter(isRunning);
  }
  for (const pid of running) {
    logger.warn({ pid, process: tracked.get(pid) }, 'process still running after the launcher died; sending SIGKILL');
    signal(pid, 'SIGKILL');
  }
}

async function releaseLock(lockFile: string | undefined, launcherPid: number, logger: Logger): Promise<void> {
  if (lockFile === undefined) return;
  try {
    if (readFileSync(lockFile, 'utf8').trim() !== String(launcherPid)) return;
    await unlink(lockFile);
    logger.info({ lockFile }, 'address block released');
  } catch (error) {
    logger.debug({ lockFile, err: errorMessage(error) }, 'address block lock already gone');
  }
}

/** True when /proc shows that `pid` runs the given CLI entry. */
function runsCli(pid: number, cliPath: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(cliPath);
  } catch {
    return false;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie (exited, not yet reaped) counts as gone.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
