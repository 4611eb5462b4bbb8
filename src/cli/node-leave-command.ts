import { parseCommandLine } from '../util/argv.js';
import { ADMIN_PATHS, type LeaveReport } from '../admin/api-types.js';
import type { ClusterInfo } from '../config/cluster-info.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { EXIT_OK, EXIT_USAGE, openAdminTarget, printJson, reportFailure } from './admin-target.js';

export const NODE_LEAVE_USAGE = `usage: atlas-sim node leave --node NAME [--run-dir DIR] [--json]

Removes a traffic node from its cluster by itself, through the node's own
admin HTTPS API: the node forgets its cluster configuration and records why
in its status history. Use it for a node the master could not tell of a
disband (\`atlas-sim cluster disband\` lists them).

options:
  --node NAME       traffic node to remove
  --run-dir DIR     run folder of the cluster (default: the newest running cluster under runs/)
  --json            print the JSON reply
  --help            print this text

Exit status: 0 when the node left, 1 when the node rejected the request or
could not be reached, 2 for an invalid command line (such as a --node that
names a master or no appliance of the cluster).
`;

/** `atlas-sim node leave`: makes one traffic node leave its cluster. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseCommandLine({ args: argv, strict: true, options: { node: { type: 'string' }, 'run-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }));
    if (values.help === true) {
      process.stdout.write(NODE_LEAVE_USAGE);
      return EXIT_OK;
    }
    if (values.node === undefined) throw new ConfigError('--node is missing; name the traffic node that should leave its cluster');
  } catch (error) {
    const usage = error instanceof ConfigError ? error : new ConfigError(`${errorMessage(error)}; run \`atlas-sim node leave --help\``);
    reportFailure('node leave', usage, false);
    return EXIT_USAGE;
  }

  const json = values.json === true;
  try {
    const target = await openAdminTarget(values['run-dir']);
    checkTrafficNode(target.info, values.node);
    const report = await target.node(values.node).post<LeaveReport>(ADMIN_PATHS.leave);
    if (json) printJson(report);
    else console.log(`${report.name} left its cluster and forgot configuration version ${report.forgottenVersion}`);
    return EXIT_OK;
  } catch (error) {
    return reportFailure('node leave', error, json);
  }
}

/** Throws ConfigError when `name` is a master: only traffic nodes serve the leave request. */
function checkTrafficNode(info: ClusterInfo, name: string): void {
  const entry = info.nodes.find((node) => node.name === name);
  if (entry?.role !== 'master') return;
  const trafficNodes = info.nodes.filter((node) => node.role === 'traffic').map((node) => node.name);
  throw new ConfigError(`${name} is a master; node leave applies to traffic nodes (${trafficNodes.join(', ') || 'none in this cluster'}). To take a master out of its cluster, run \`atlas-sim cluster disband\``);
}
