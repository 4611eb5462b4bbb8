import { parseCommandLine } from '../util/argv.js';
import { CommandApiClient } from '../launcher/command-api-client.js';
import { findRun, NoRunningClusterError } from '../launcher/run-lookup.js';
import { formatTable } from '../launcher/text-table.js';
import type { ApplianceSummaryView, ClientConnectionView, ConnectedClientView } from '../master/command-api/connected-clients.js';
import { ConfigError, errorMessage } from '../util/errors.js';

export const CLIENTS_USAGE = `usage: atlas-sim clients [options]

Lists the clients connected to a running cluster, through the master's command
API (get_connected_client_list and get_connected_clients) with the run's API
account. Every online client is connected to the master; a traffic node lists
only the clients with an open session connection through it, each with the
reason the master chose that node.

options:
  --node NAME     list only the clients connected to this appliance (master or traffic node)
  --run-dir DIR   run folder of the cluster (default: the newest running cluster under runs/)
  --json          print JSON instead of tables
  --help          print this text
`;

/** Output of `clients --json`. */
export interface ClientsReport {
  /** Appliance the list is limited to, when --node was given. */
  node?: string;
  appliances: ApplianceSummaryView[];
  clients: ConnectedClientView[];
}

/** `atlas-sim clients`: exit code 0 on success, 1 when no cluster runs or the master cannot be reached, 2 on bad usage. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseCommandLine({ args: argv, strict: true, options: { node: { type: 'string' }, 'run-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }));
  } catch (error) {
    console.error(`atlas-sim clients: ${errorMessage(error)}; run \`atlas-sim clients --help\` for the options`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(CLIENTS_USAGE);
    return 0;
  }

  let report: ClientsReport;
  try {
    report = await readClients(values['run-dir'], values.node);
  } catch (error) {
    console.error(`atlas-sim clients: ${errorMessage(error)}`);
    return error instanceof ConfigError && !(error instanceof NoRunningClusterError) ? 2 : 1;
  }
  if (values.json === true) console.log(JSON.stringify(report, null, 2));
  else console.log(formatClients(report).join('\n'));
  return 0;
}

/** Fetches the summary and the clients with their connections; with `node`, keeps only that appliance's clients and connections. */
export async function readClients(runDir: string | undefined, node: string | undefined): Promise<ClientsReport> {
  const run = await findRun({ runDir });
  const api = await CommandApiClient.open(run.info, run.paths.apiAccountFile);
  const list = await api.commandJson<{ appliances: ApplianceSummaryView[] }>('get_connected_client_list', { summary_only: '1' });
  const detail = await api.commandJson<{ clients: ConnectedClientView[] }>('get_connected_clients', { include_connections: '1' });
  if (node === undefined) return { appliances: list.appliances, clients: detail.clients };

  const appliance = list.appliances.find((candidate) => candidate.name === node);
  if (appliance === undefined) {
    const known = run.info.nodes.filter((process) => process.role === 'master' || process.role === 'traffic').map((process) => process.name);
    const reason = known.includes(node) ? 'is not connected to the master' : 'is not an appliance of this cluster';
    throw new ConfigError(`--node ${node} ${reason}; connected appliances: ${list.appliances.map((candidate) => candidate.name).join(', ')}`);
  }
  const clients = detail.clients
    .map((client) => ({ ...client, connections: client.connections.filter((connection) => connection.applianceName === node && connection.connected) }))
    .filter((client) => client.connections.length > 0);
  return { node, appliances: [appliance], clients };
}

/** Renders the report as two tables: counts per appliance, then one row per client connection. */
export function formatClients(report: ClientsReport): string[] {
  const summaryRows = report.appliances.map((appliance) => [
    appliance.name,
    appliance.role,
    appliance.guid,
    String(appliance.counts.representative ?? 0),
    String(appliance.counts.support_customer ?? 0),
  ]);
  const clientRows = report.clients.flatMap((client) =>
    client.connections.map((connection, index) => [
      index === 0 ? client.id : '',
      index === 0 ? client.type : '',
      index === 0 ? client.displayName : '',
      index === 0 ? client.publicIp : '',
      connection.applianceName,
      describeConnection(connection),
      connection.reason ?? '-',
    ]),
  );
  const title = report.node === undefined ? 'clients connected to the cluster' : `clients connected to ${report.node}`;
  return [
    ...formatTable(['appliance', 'role', 'GUID', 'representatives', 'customers'], summaryRows),
    '',
    `${title}: ${report.clients.length}`,
    ...(clientRows.length === 0 ? [] : formatTable(['id', 'type', 'name', 'ip', 'appliance', 'connection', 'reason for the node'], clientRows)),
  ];
}

function describeConnection(connection: ClientConnectionView): string {
  if (connection.channel === 'control') return 'control channel';
  // On the direct path the stream bypasses the traffic node the master assigned, so the node never reports it connected.
  let state = connection.connected ? '' : ', not connected';
  if (connection.path === 'direct') state = ', direct path (not through this node)';
  return `${connection.kind ?? 'session'} ${connection.direction ?? ''} ${connection.stream ?? ''}${state}`.replace(/\s+/g, ' ').trim();
}
