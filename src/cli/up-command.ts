import { parseArgs } from 'node:util';
import type { ClientSpec, Topology } from '../config/topology.js';
import { loadTopology } from '../config/topology-validation.js';
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { LogFollower } from '../launcher/log-follower.js';
import { formatLogSummaries, summarizeLog } from '../launcher/log-summary.js';
import { cliEntry } from '../launcher/project-root.js';
import { formatTable } from '../launcher/text-table.js';
import { ConfigError, errorMessage } from '../util/errors.js';

export const UP_USAGE = `usage: atlas-sim up [options]

Starts a cluster (DNS server, traffic nodes, master) and keeps it running in
the foreground. Prints every process with its hostname, address, ports and
PID, and the commands that start clients by hand. Warnings and errors from
the processes' logs are shown as they happen. Ctrl-C stops every process this
command started.

options:
  --topology FILE   topology JSON file (default: the built-in default cluster,
                    as in topologies/default.json)
  --run-dir DIR     run folder for configs, keys, logs and cluster.json
                    (default: runs/<timestamp>-<id> under the project)
  --seed S          seed of every random choice (default: random, printed)
  --with-clients    also start the topology's clients
  --help            print this text
`;

interface UpArgs {
  topologyFile?: string;
  runDir?: string;
  seed?: string;
  withClients: boolean;
}

function parseUpArgs(argv: string[]): UpArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        topology: { type: 'string' },
        'run-dir': { type: 'string' },
        seed: { type: 'string' },
        'with-clients': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}; run \`atlas-sim up --help\` for the options`);
  }
  if (values.help === true) return 'help';
  return { topologyFile: values.topology, runDir: values['run-dir'], seed: values.seed, withClients: values['with-clients'] === true };
}

/** `atlas-sim up`: starts a cluster and runs until SIGINT or SIGTERM, then stops every process it started. */
export async function main(argv: string[]): Promise<number> {
  let args: UpArgs | 'help';
  let topology: Topology | undefined;
  try {
    args = parseUpArgs(argv);
    if (args === 'help') {
      process.stdout.write(UP_USAGE);
      return 0;
    }
    if (args.topologyFile !== undefined) {
      const loaded = await loadTopology(args.topologyFile);
      topology = loaded.topology;
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`atlas-sim up: ${error.message}`);
    return 2;
  }

  console.log('starting cluster...');
  const cluster = await startCluster({ topology, runDir: args.runDir, seed: args.seed, startClients: args.withClients });
  printCluster(cluster);

  const follower = new LogFollower((line) => console.log(line));
  for (const handle of [...cluster.nodes.values(), ...cluster.clients.values()]) await follower.add(handle.name, handle.logFile);
  follower.start();
  cluster.on('exit', ({ name, role, status }) => {
    console.log(`process ${name} (${role}) exited: ${status.signal ?? `code ${String(status.code)}`}; the cluster keeps running without it`);
  });

  const reason = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  console.log(`\n${reason}: stopping every process...`);
  await cluster.close();
  await follower.stop();

  const summaries = await Promise.all([...cluster.nodes.values(), ...cluster.clients.values()].map((handle) => summarizeLog(handle.name, handle.logFile)));
  console.log('stopped. Log summary:');
  console.log(formatLogSummaries(summaries).join('\n'));
  console.log(`Run folder (configs, keys, JSON logs): ${cluster.runDir}`);
  return 0;
}

function printCluster(cluster: Cluster): void {
  const info = cluster.info;
  const rows = [...info.nodes, ...info.clients].map((process) => {
    const ports = Object.entries(process.ports).map(([name, port]) => `${name} ${String(port)}`).join(', ');
    return [process.name, process.role, process.hostname || '-', process.address, ports || '-', String(process.pid)];
  });
  console.log(`\ncluster ${info.clusterName} is running (seed ${info.seed})`);
  console.log(formatTable(['name', 'role', 'hostname', 'address', 'ports', 'pid'], rows).join('\n'));
  console.log(`\nsite: https://${info.site.host}:${info.site.port} (resolve through the cluster DNS server ${info.dns.address}:${info.dns.port})`);
  if (cluster.ports?.fallbackReason !== undefined) console.log(`note: ${cluster.ports.fallbackReason}`);
  for (const warning of cluster.warnings) console.log(`warning: ${warning}`);
  console.log(`run folder: ${info.runDir}`);

  console.log('\nstart clients by hand in other terminals, for example:');
  for (const client of exampleClients(cluster.topology)) console.log(`  ${clientCommand(client, info.runDir)}`);
  console.log('\nwarnings and errors of every process follow; press Ctrl-C to stop the cluster\n');
}

/** Returns the topology's clients, or a US representative and an EU customer when it lists none. */
function exampleClients(topology: Topology): ClientSpec[] {
  if (topology.clients.length > 0) return topology.clients;
  return [
    { name: 'rep-us', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York', displayName: 'rep-us' },
    { name: 'customer-eu', role: 'customer', address: '127.30.0.5', timezone: 'Europe/Berlin', displayName: 'customer-eu' },
  ];
}

function clientCommand(client: ClientSpec, runDir: string): string {
  const quote = (text: string): string => (/^[\w./:@-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`);
  const role = client.role === 'representative' ? 'rep --auto-accept --show-my-screen' : "customer --issue 'cannot print'";
  const timezone = /^[+-]/.test(client.timezone) ? '' : `TZ=${client.timezone} `;
  return `${timezone}node ${quote(cliEntry())} client ${role} --run-dir ${quote(runDir)} --address ${client.address} --name ${quote(client.name)}`;
}
