import { parseCommandLine } from '../util/argv.js';
import type { Topology } from '../config/topology.js';
import { loadTopology, MAX_FRAME_COUNT } from '../config/topology-validation.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { formatDemoReport } from '../launcher/demo-report.js';
import { checkDemoClients, runDemo, type DemoPeerToPeer, type DemoReport } from '../launcher/demo-scenario.js';
import { removeRunFolder } from '../launcher/run-folder.js';

export const DEMO_USAGE = `usage: atlas-sim demo [options]

Starts a cluster (the default one: a master, two US and two EU traffic nodes,
DNS, a US representative and an EU customer), runs one support session with
Show My Screen, prints where every connection and stream went, checks it
against the routing rules, and stops every process. Exits 0 only when every
check passes.

options:
  --json            print one JSON document (connections, streams, nodes,
                    verdict, seed, ...) instead of tables
  --topology FILE   topology JSON file (default: the built-in default cluster,
                    as in topologies/default.json)
  --seed S          seed of every random choice (default: random, printed)
  --frames N        frames per screen stream (default: the topology's, 300)
  --run-dir DIR     run folder for configs, keys and logs
                    (default: runs/<timestamp>-<id> under the project)
  --keep-run-dir    keep the run folder after a passing run; a failing run
                    always keeps it
  --p2p             turn peer to peer on: both clients query the public STUN
                    server and try a direct connection at session start
                    (3000 ms); the checks expect the path the peer-to-peer
                    rules predict
  --stun-down       with --p2p: stop the public STUN server before the
                    session, so the session falls back to the traffic nodes
  --block-inbound   with --p2p: put a firewall that drops inbound connections
                    in front of both clients, so the direct dial fails and
                    the session falls back to the traffic nodes
  --help            print this text
`;

interface DemoArgs {
  json: boolean;
  topologyFile?: string;
  seed?: string;
  frames?: number;
  runDir?: string;
  keepRunDir: boolean;
  p2p?: DemoPeerToPeer;
}

function parseDemoArgs(argv: string[]): DemoArgs | 'help' {
  let values;
  try {
    ({ values } = parseCommandLine({
      args: argv,
      strict: true,
      options: {
        json: { type: 'boolean' },
        topology: { type: 'string' },
        seed: { type: 'string' },
        frames: { type: 'string' },
        'run-dir': { type: 'string' },
        'keep-run-dir': { type: 'boolean' },
        p2p: { type: 'boolean' },
        'stun-down': { type: 'boolean' },
        'block-inbound': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}; run \`atlas-sim demo --help\` for the options`);
  }
  if (values.help === true) return 'help';

  let frames: number | undefined;
  if (values.frames !== undefined) {
    frames = Number(values.frames);
    if (!/^\d+$/.test(values.frames) || frames < 1 || frames > MAX_FRAME_COUNT) {
      throw new ConfigError(`--frames "${values.frames}" is invalid; pass an integer from 1 to ${MAX_FRAME_COUNT}, such as 300`);
    }
  }
  const stunDown = values['stun-down'] === true;
  const blockInbound = values['block-inbound'] === true;
  if ((stunDown || blockInbound) && values.p2p !== true) {
    throw new ConfigError(`${stunDown ? '--stun-down' : '--block-inbound'} changes the peer-to-peer path; add --p2p`);
  }
  return {
    ...(values.p2p === true ? { p2p: { stunDown, blockInbound } } : {}),
    json: values.json === true,
    topologyFile: values.topology,
    seed: values.seed,
    frames,
    runDir: values['run-dir'],
    keepRunDir: values['keep-run-dir'] === true,
  };
}

/** `atlas-sim demo`: runs the demo scenario and prints its report; exit code 0 only when the verdict passes. */
export async function main(argv: string[]): Promise<number> {
  let args: DemoArgs | 'help';
  let topology: Topology | undefined;
  try {
    args = parseDemoArgs(argv);
    if (args === 'help') {
      process.stdout.write(DEMO_USAGE);
      return 0;
    }
    if (args.topologyFile !== undefined) {
      const loaded = await loadTopology(args.topologyFile);
      topology = loaded.topology;
      for (const warning of loaded.warnings) console.error(`warning: ${warning}`);
      checkDemoClients(topology);
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`atlas-sim demo: ${error.message}`);
    return 2;
  }

  const json = args.json;
  let report: DemoReport;
  try {
    report = await runDemo({
      topology,
      runDir: args.runDir,
      seed: args.seed,
      frames: args.frames === undefined ? undefined : { count: args.frames },
      ...(args.p2p === undefined ? {} : { p2p: args.p2p }),
      onStep: json ? undefined : (line) => console.log(`- ${line}`),
    });
  } catch (error) {
    // runDemo throws only before the session starts: a ConfigError for an invalid run folder or option, else a failed cluster start.
    console.error(`atlas-sim demo: ${errorMessage(error)}`);
    return error instanceof ConfigError ? 2 : 1;
  }

  const keep = args.keepRunDir || !report.verdict.ok;
  if (!keep) await removeRunFolder({ dir: report.runDir, created: report.runDirCreated });

  if (json) {
    console.log(JSON.stringify({ ...report, runDirKept: keep }, null, 2));
  } else {
    console.log(formatDemoReport(report));
    console.log(keep ? `Run folder (configs, keys, JSON logs): ${report.runDir}` : `Run folder ${report.runDir} removed; pass --keep-run-dir to keep its logs`);
  }
  return report.verdict.ok ? 0 : 1;
}
