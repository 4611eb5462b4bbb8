import { parseCommandLine } from '../util/argv.js';
import { isProcessRunning } from '../launcher/address-block.js';
import { formatClusterStatus, offlineClusterStatus, type ClusterStatus } from '../launcher/cluster-status.js';
import { findRun, NoRunningClusterError } from '../launcher/run-lookup.js';
import { requestSupervisor } from '../launcher/supervisor-client.js';
import { readSupervisorRecord } from '../launcher/supervisor.js';
import { ConfigError, errorMessage } from '../util/errors.js';

export const STATUS_USAGE = `usage: atlas-sim status [options]

Shows each process of a cluster: role, name, hostname, address, PID, state
and the configuration version it applied, and warns when the master reports
that a sync is required. A traffic node is "connected" when it and the master
both report their appliance link up. A process that has exited is shown as
"exited", and a warning line names every node that has exited.

Exit status: 0 while the cluster's supervisor runs, also when some nodes have
exited (the warning names them); 3 when the supervisor does not run, or,
without --run-dir, when no cluster runs; 2 for an invalid command line or run
folder.

options:
  --run-dir DIR   run folder of the cluster (default: the newest running cluster under runs/)
  --json          print the status as JSON
  --help          print this text
`;

/** `atlas-sim status`: exit code 0 while the supervisor runs (exited nodes give a warning), 3 when it (or, without --run-dir, any cluster) does not, 2 on bad usage. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseCommandLine({ args: argv, strict: true, options: { 'run-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }));
  } catch (error) {
    console.error(`atlas-sim status: ${errorMessage(error)}; run \`atlas-sim status --help\` for the options`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(STATUS_USAGE);
    return 0;
  }

  let status: ClusterStatus;
  try {
    status = await readClusterStatus(values['run-dir']);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`atlas-sim status: ${error.message}`);
    return error instanceof NoRunningClusterError ? 3 : 2;
  }
  if (values.json === true) console.log(JSON.stringify(status, null, 2));
  else console.log(formatClusterStatus(status).join('\n'));
  return status.running ? 0 : 3;
}

/** Asks the cluster's supervisor for the live status; without a reachable supervisor, reports from cluster.json and the process table. */
export async function readClusterStatus(runDir: string | undefined): Promise<ClusterStatus> {
  const run = await findRun({ runDir });
  const record = await readSupervisorRecord(run.dir);
  if (record === undefined) return offlineClusterStatus(run.info, record, `no supervisor has run in ${run.dir}`);
  if (record.state === 'stopped' || !isProcessRunning(record.pid)) {
    return offlineClusterStatus(run.info, record, record.state === 'stopped' ? `the cluster was stopped at ${record.stoppedAt ?? '?'}` : `the supervisor (pid ${record.pid}) is not running`);
  }
  try {
    return (await requestSupervisor(record.controlSocket, { command: 'status' })) as ClusterStatus;
  } catch (error) {
    return offlineClusterStatus(run.info, record, `the supervisor (pid ${record.pid}) did not answer: ${errorMessage(error)}`);
  }
}
