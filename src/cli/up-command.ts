import { parseCommandLine } from '../util/argv.js';
import type { ClientSpec, Topology } from '../config/topology.js';
import { loadTopology } from '../config/topology-validation.js';
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { waitForEveryNodeConnected } from '../launcher/connected-wait.js';
import { LogFollower } from '../launcher/log-follower.js';
import { formatLogSummaries, summarizeLog } from '../launcher/log-summary.js';
import { cliEntry } from '../launcher/project-root.js';
import { Supervisor } from '../launcher/supervisor.js';
import { formatTable } from '../launcher/text-table.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { detachCluster, type SupervisorOutcome } from './up-detach.js';

export const UP_USAGE = `usage: atlas-sim up [options]

Starts a cluster (DNS server, traffic nodes, master) and keeps it running in
the foreground. Prints every process with its hostname, address, ports and
PID, and the commands that start clients by hand. Warnings and errors from
the processes' logs are shown as they happen. Ctrl-C (or \`atlas-sim down\`)
stops every process this command started.

With --detach the cluster runs in the background under a supervisor process,
and the command returns once every node reports itself connected, printing
the run folder. \`atlas-sim status\` shows it and \`atlas-sim down\` stops it.

options:
  --detach          run the cluster in the background and return once it is up
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
  detach: boolean;
  /** Set by --detach on the background process it starts. */
  supervise: boolean;
}

function parseUpArgs(argv: string[]): UpArgs | 'help' {
  let values;
  try {
    ({ values } = parseCommandLine({
      args: argv,
      strict: true,
      options: {
        topology: { type: 'string' },
        'run-dir': { type: 'string' },
        seed: { type: 'string' },
        'with-clients': { type: 'boolean' },
        detach: { type: 'boolean' },
        supervise: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}; run \`atlas-sim up --help\` for the options`);
  }
  if (values.help === true) return 'help';
  return {
    topologyFile: values.topology,
    runDir: values['run-dir'],
    seed: values.seed,
    withClients: values['with-clients'] === true,
    detach: values.detach === true,
    supervise: values.supervise === true,
  };
}

/** `atlas-sim up`: starts a cluster and runs until SIGINT, SIGTERM or `atlas-sim down`, then stops every process it started. */
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

  if (args.detach) return detachCluster(args);
  if (args.supervise) return superviseInBackground(args, topology);
  return runInForeground(args, topology);
}

async function runInForeground(args: UpArgs, topology: Topology | undefined): Promise<number> {
  console.log('starting cluster...');
  // The handler is installed before the first process starts, so Ctrl-C during start-up stops what started and releases the address block.
  let starting = true;
  const signal = waitForSignal();
  void signal.then((name) => {
    if (starting) console.log(`\n${name}: stopping once the processes that are starting have started...`);
  });
  let cluster: Cluster;
  try {
    cluster = await startCluster({ topology, runDir: args.runDir, seed: args.seed, startClients: args.withClients });
  } catch (error) {
    console.error(`atlas-sim up: ${errorMessage(error)}`);
    return error instanceof ConfigError ? 2 : 1;
  }
  const supervisor = await Supervisor.start(cluster, { detached: false });
  starting = false;
  const early = await Promise.race([signal, Promise.resolve(undefined)]);
  if (early !== undefined) {
    await supervisor.stop();
    console.log(`stopped. Run folder (configs, keys, JSON logs): ${cluster.runDir}`);
    return 130;
  }
  console.log(describeCluster(cluster).join('\n'));
  console.log('\nstart clients by hand in other terminals, for example:');
  for (const client of exampleClients(cluster.topology)) console.log(`  ${clientCommand(client, cluster.runDir)}`);
  const trafficNode = cluster.topology.trafficNodes[0]?.name;
  if (cluster.info.controlSocket !== undefined && trafficNode !== undefined) {
    console.log('\nbreak it from another terminal, for example:');
    console.log(`  node ${cliEntry()} chaos kill ${trafficNode} --run-dir ${cluster.runDir}`);
    console.log(`  node ${cliEntry()} chaos link ${trafficNode} '*' blackhole --run-dir ${cluster.runDir}`);
  }
  console.log('\nwarnings and errors of every process follow; press Ctrl-C to stop the cluster\n');

  const follower = new LogFollower((line) => console.log(line));
  for (const handle of [...cluster.nodes.values(), ...cluster.clients.values()]) await follower.add(handle.name, handle.logFile);
  follower.start();
  cluster.on('exit', ({ name, role, status }) => {
    console.log(`process ${name} (${role}) exited: ${status.signal ?? `code ${String(status.code)}`}; the cluster keeps running without it`);
  });

  const reason = await Promise.race([signal, supervisor.stopRequest]);
  console.log(`\n${reason}: stopping every process...`);
  await supervisor.stop();
  await follower.stop();

  const summaries = await Promise.all([...cluster.nodes.values(), ...cluster.clients.values()].map((handle) => summarizeLog(handle.name, handle.logFile)));
  console.log('stopped. Log summary:');
  console.log(formatLogSummaries(summaries).join('\n'));
  console.log(`Run folder (configs, keys, JSON logs): ${cluster.runDir}`);
  return 0;
}

/**
 * Runs as the background supervisor of `up --detach`: starts the cluster,
 * waits until every node reports itself connected, sends the outcome to the
 * waiting command over IPC, then supervises until SIGTERM, SIGINT or `atlas-sim down`.
 */
async function superviseInBackground(args: UpArgs, topology: Topology | undefined): Promise<number> {
  const report = (outcome: SupervisorOutcome): void => {
    if (process.send === undefined) return;
    process.send(outcome);
    process.disconnect();
  };
  const signal = waitForSignal();

  let cluster: Cluster;
  try {
    cluster = await startCluster({ topology, runDir: args.runDir, seed: args.seed, startClients: args.withClients });
  } catch (error) {
    report({ type: 'up-failed', error: errorMessage(error) });
    return 1;
  }
  const supervisor = await Supervisor.start(cluster, { detached: true });
  try {
    await waitForEveryNodeConnected(cluster);
  } catch (error) {
    cluster.logger.error({ err: errorMessage(error) }, 'cluster did not connect; stopping it');
    await supervisor.stop();
    report({ type: 'up-failed', error: errorMessage(error) });
    return 1;
  }

  const lines = describeCluster(cluster);
  report({ type: 'up-ready', runDir: cluster.runDir, lines: [...lines, '', `show it: atlas-sim status --run-dir ${cluster.runDir}`, `stop it: atlas-sim down --run-dir ${cluster.runDir}`] });
  // Unexpected exits are logged by the cluster itself, in logs/launcher.log.
  const reason = await Promise.race([signal, supervisor.stopRequest]);
  cluster.logger.info({ reason }, 'stopping the background cluster');
  await supervisor.stop();
  // Every child has exited and every socket is closed; this only ends a process kept alive by a stray handle.
  setTimeout(() => process.exit(0), 1000).unref();
  return 0;
}

function waitForSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** Returns the lines that describe a running cluster: every process with its addresses, ports and PID. */
function describeCluster(cluster: Cluster): string[] {
  const info = cluster.info;
  const rows = [...info.nodes, ...info.clients].map((process) => {
    const ports = Object.entries(process.ports).map(([name, port]) => `${name} ${String(port)}`).join(', ');
    return [process.name, process.role, process.hostname || '-', process.address, ports || '-', String(process.pid)];
  });
  const lines = [`\ncluster ${info.clusterName} is running (seed ${info.seed})`, ...formatTable(['name', 'role', 'hostname', 'address', 'ports', 'pid'], rows)];
  lines.push(`\nsite: https://${info.site.host}:${info.site.port} (resolve through the cluster DNS server ${info.dns.address}:${info.dns.port})`);
  if (cluster.ports?.fallbackReason !== undefined) lines.push(`note: ${cluster.ports.fallbackReason}`);
  for (const warning of cluster.warnings) lines.push(`warning: ${warning}`);
  lines.push(`run folder: ${info.runDir}`);
  return lines;
}

/** Returns the topology's clients, or a US representative and an EU customer when it lists none. */
function exampleClients(topology: Topology): ClientSpec[] {
  if (topology.clients.length > 0) return topology.clients;
  return [
    { name: 'rep-us', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York', displayName: 'rep-us', natType: 'open', blockInbound: false },
    { name: 'customer-eu', role: 'customer', address: '127.30.0.5', timezone: 'Europe/Berlin', displayName: 'customer-eu', natType: 'open', blockInbound: false },
  ];
}

function clientCommand(client: ClientSpec, runDir: string): string {
  const quote = (text: string): string => (/^[\w./:@-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`);
  const role = client.role === 'representative' ? 'rep --auto-accept --show-my-screen' : "customer --issue 'cannot print'";
  const timezone = /^[+-]/.test(client.timezone) ? '' : `TZ=${client.timezone} `;
  return `${timezone}node ${quote(cliEntry())} client ${role} --run-dir ${quote(runDir)} --address ${client.address} --name ${quote(client.name)}`;
}
