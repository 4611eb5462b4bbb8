import { readFile, unlink } from 'node:fs/promises';
import { parseCommandLine } from '../util/argv.js';
import { isProcessRunning } from '../launcher/address-block.js';
import { STOP_GRACE_MS } from '../launcher/cluster.js';
import { stopOwnedProcess, waitForPidExit } from '../launcher/process-stop.js';
import { findRun, NoRunningClusterError, type FoundRun } from '../launcher/run-lookup.js';
import { requestSupervisor } from '../launcher/supervisor-client.js';
import { readSupervisorRecord, type SupervisorRecord } from '../launcher/supervisor.js';
import { ConfigError, errorMessage } from '../util/errors.js';

export const DOWN_USAGE = `usage: atlas-sim down [options]

Stops a cluster started with \`atlas-sim up\` (in the background or in the
foreground): asks its supervisor to stop every process, waits until they have
exited, stops any process of the run that is left (SIGTERM, then SIGKILL),
and releases the cluster's loopback address block.

options:
  --run-dir DIR   run folder of the cluster (default: the newest running cluster under runs/)
  --help          print this text
`;

/** Time the supervisor gets to stop every process: each process has STOP_GRACE_MS before SIGKILL, clients first, then nodes. */
const SUPERVISOR_STOP_TIMEOUT_MS = 3 * STOP_GRACE_MS;

/** `atlas-sim down`: exit code 0 when nothing of the cluster runs afterwards. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseCommandLine({ args: argv, strict: true, options: { 'run-dir': { type: 'string' }, help: { type: 'boolean' } } }));
  } catch (error) {
    console.error(`atlas-sim down: ${errorMessage(error)}; run \`atlas-sim down --help\` for the options`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(DOWN_USAGE);
    return 0;
  }

  let run: FoundRun;
  try {
    run = await findRun({ runDir: values['run-dir'] });
  } catch (error) {
    if (error instanceof NoRunningClusterError) {
      console.log(`no running cluster under ${error.runsRoot}; nothing to stop (pass --run-dir DIR to clean up the processes of a stopped run)`);
      return 0;
    }
    if (!(error instanceof ConfigError)) throw error;
    console.error(`atlas-sim down: ${error.message}`);
    return 2;
  }

  const record = await readSupervisorRecord(run.dir);
  const supervisorStopped = record === undefined ? false : await stopSupervisor(record, run.dir);
  const leftovers = await stopLeftovers(run);
  if (record?.addressBlockLockFile !== undefined) await releaseStaleLock(record.addressBlockLockFile);

  const stillRunning = [...run.info.nodes, ...run.info.clients].filter((process) => isProcessRunning(process.pid) && leftovers.notOurs.includes(process.name));
  if (!supervisorStopped && leftovers.stopped.length === 0) {
    console.log(`cluster ${run.info.clusterName} in ${run.dir} is not running; nothing to stop`);
  } else {
    const extra = leftovers.stopped.length === 0 ? '' : `; stopped ${leftovers.stopped.length} process(es) left behind: ${leftovers.stopped.join(', ')}`;
    console.log(`stopped cluster ${run.info.clusterName} (run folder ${run.dir})${extra}`);
  }
  if (stillRunning.length > 0) {
    console.error(`atlas-sim down: PIDs ${stillRunning.map((process) => process.pid).join(', ')} now belong to other programs and were left alone`);
  }
  return 0;
}

/** Asks the supervisor to stop, falls back to signals, and returns true when it was running. */
async function stopSupervisor(record: SupervisorRecord, runDir: string): Promise<boolean> {
  if (record.state === 'stopped' || !isProcessRunning(record.pid)) return false;
  try {
    await requestSupervisor(record.controlSocket, { command: 'stop' });
  } catch (error) {
    console.error(`atlas-sim down: the supervisor (pid ${record.pid}) did not take the stop request (${errorMessage(error)}); sending SIGTERM`);
    await stopOwnedProcess(record.pid, (commandLine) => isLauncher(commandLine, runDir, record.detached), SUPERVISOR_STOP_TIMEOUT_MS);
    return true;
  }
  if (await waitForPidExit(record.pid, SUPERVISOR_STOP_TIMEOUT_MS)) return true;
  console.error(`atlas-sim down: the supervisor (pid ${record.pid}) still runs after ${SUPERVISOR_STOP_TIMEOUT_MS} ms; sending SIGTERM`);
  await stopOwnedProcess(record.pid, (commandLine) => isLauncher(commandLine, runDir, record.detached), STOP_GRACE_MS);
  return true;
}

/** Stops processes listed in cluster.json that still run, when their command line names this run folder. */
async function stopLeftovers(run: FoundRun): Promise<{ stopped: string[]; notOurs: string[] }> {
  const stopped: string[] = [];
  const notOurs: string[] = [];
  await Promise.all(
    [...run.info.nodes, ...run.info.clients].map(async (process) => {
      const outcome = await stopOwnedProcess(process.pid, (commandLine) => commandLine.some((part) => part.startsWith(run.dir)), STOP_GRACE_MS);
      if (outcome === 'stopped' || outcome === 'killed') stopped.push(`${process.name} (pid ${process.pid}, ${outcome})`);
      if (outcome === 'not ours') notOurs.push(process.name);
    }),
  );
  return { stopped, notOurs };
}

/** True for an `atlas-sim up` process; a detached one also names the run folder. */
function isLauncher(commandLine: string[], runDir: string, detached: boolean): boolean {
  const isUp = commandLine.some((part) => part.endsWith('cli.js')) && commandLine.includes('up');
  return isUp && (!detached || commandLine.includes(runDir));
}

/** Removes the address block lock when the process that holds it is gone, which a killed supervisor leaves behind. */
async function releaseStaleLock(lockFile: string): Promise<void> {
  let owner: number;
  try {
    owner = Number((await readFile(lockFile, 'utf8')).trim());
  } catch {
    return;
  }
  if (Number.isInteger(owner) && owner > 0 && isProcessRunning(owner)) return;
  await unlink(lockFile).catch(() => undefined);
}
