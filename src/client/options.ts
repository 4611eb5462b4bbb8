import { isAbsolute, resolve } from 'node:path';
import { parseCommandLine } from '../util/argv.js';
import {
  DEFAULT_FRAME_COUNT,
  DEFAULT_FRAME_INTERVAL_MS,
  DEFAULT_FRAME_SIZE_BYTES,
  readClientConfigFile,
  validateClientConfig,
  type ClientProcessConfig,
  type ClientRole,
} from '../config/client-config.js';
import { readClusterInfo } from '../config/cluster-info.js';
import { DEFAULT_CLIENT_NETWORK, isNatType, NAT_TYPES } from '../config/peer-to-peer.js';
import { describeNodeRangeAddress } from '../config/topology.js';
import { ConfigError } from '../util/errors.js';

export const CLIENT_USAGE = `usage: atlas-sim client customer|rep [options]

Runs one customer client or representative console. It connects to the
master through the site hostname, keeps that control channel open, and opens
session connections to traffic nodes when a session starts.

options:
  --config FILE        client configuration JSON (as the launcher writes it);
                       the flags below override its fields
  --run-dir DIR        read the site, DNS server, certificate folder and
                       heartbeat of a running cluster from DIR/cluster.json
  --address IP         source address every connection binds, in 127.0.0.0/8
                       (required unless the config file sets it)
  --name NAME          process name in logs (default: <role>-<address>)
  --display-name TEXT  name shown to the other side (default: NAME)
  --frames N           frames per published stream (default ${DEFAULT_FRAME_COUNT})
  --frame-size BYTES   payload bytes per frame (default ${DEFAULT_FRAME_SIZE_BYTES})
  --interval-ms N      pause between frames in ms; 0 sends as fast as the
                       socket drains (default ${DEFAULT_FRAME_INTERVAL_MS})
  --issue TEXT         customer: request support at once with this issue
  --session-key KEY    customer: short key or key URL from the command API's
                       generate_session_key; the customer joins the queue at
                       once, and the process exits 1 if the master rejects the key
  --auto-accept        rep: accept the oldest waiting customer whenever no
                       session runs
  --show-my-screen     rep: show the screen to the customer as soon as a
                       session starts
  --nat-type TYPE      NAT in front of this client, deciding whether a direct
                       peer-to-peer path can form: open, full-cone,
                       restricted, port-restricted or symmetric (default open)
  --block-inbound      simulate a firewall that drops every inbound
                       connection to this client's direct listener
  --log-file FILE      append JSON log lines to FILE instead of stdout
  --help               print this text
`;

export type ParsedClientArgs = { help: true } | { help: false; config: ClientProcessConfig };

const ROLE_NAMES: Record<string, ClientRole> = { customer: 'customer', rep: 'representative', representative: 'representative' };

/** Turns `atlas-sim client ...` arguments into a validated configuration; throws ConfigError naming the flag. */
export async function parseClientArgs(argv: string[]): Promise<ParsedClientArgs> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (error) {
    throw new ConfigError(`${error instanceof Error ? error.message : String(error)}; run \`atlas-sim client --help\` for the options`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { help: true };

  const roleName = positionals[0];
  if (positionals.length !== 1 || roleName === undefined || ROLE_NAMES[roleName] === undefined) {
    throw new ConfigError(`expected one role, "customer" or "rep", got ${positionals.length === 0 ? 'none' : JSON.stringify(positionals.join(' '))}`);
  }
  const role = ROLE_NAMES[roleName];
  const nodeRange = values.address === undefined ? undefined : describeNodeRangeAddress(values.address);
  if (nodeRange !== undefined) throw new ConfigError(`--address ${JSON.stringify(values.address)} ${nodeRange}`);

  const base: Partial<ClientProcessConfig> = values.config !== undefined ? await readClientConfigFile(values.config) : {};
  if (base.role !== undefined && base.role !== role) {
    throw new ConfigError(`role "${roleName}" on the command line contradicts role "${base.role}" in ${values.config}`);
  }
  const config: Partial<ClientProcessConfig> = { ...base, role };

  const clusterSeed = values['run-dir'] === undefined ? undefined : await applyRunDir(config, values['run-dir']);
  applyFlags(config, values);
  // A client started by hand draws from its own stream of the cluster's seed, as the launcher's clients do.
  if (clusterSeed !== undefined) config.seed ??= `${clusterSeed}/${config.name}`;
  return { help: false, config: validateClientConfig(config, values.config ?? 'command line') };
}

function parseFlags(argv: string[]) {
  return parseCommandLine({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      'run-dir': { type: 'string' },
      address: { type: 'string' },
      name: { type: 'string' },
      'display-name': { type: 'string' },
      frames: { type: 'string' },
      'frame-size': { type: 'string' },
      'interval-ms': { type: 'string' },
      issue: { type: 'string' },
      'session-key': { type: 'string' },
      'auto-accept': { type: 'boolean' },
      'show-my-screen': { type: 'boolean' },
      'nat-type': { type: 'string' },
      'block-inbound': { type: 'boolean' },
      'log-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

type FlagValues = ReturnType<typeof parseFlags>['values'];

/** Fills site, DNS, certificates, heartbeat and frame defaults from a running cluster's cluster.json; returns the cluster's seed. */
async function applyRunDir(config: Partial<ClientProcessConfig>, runDir: string): Promise<string | undefined> {
  const info = await readClusterInfo(runDir);
  config.site = info.site;
  config.dns = info.dns;
  config.certsDir = isAbsolute(info.certsDir) ? info.certsDir : resolve(runDir, info.certsDir);
  config.heartbeat = info.heartbeat;
  config.frames ??= info.frames;
  return typeof info.seed === 'string' ? info.seed : undefined;
}

function applyFlags(config: Partial<ClientProcessConfig>, values: FlagValues): void {
  if (values.address !== undefined) config.address = values.address;
  if (values.name !== undefined) config.name = values.name;
  config.name ??= `${config.role === 'customer' ? 'customer' : 'rep'}-${config.address ?? 'unbound'}`;
  if (values['display-name'] !== undefined) config.displayName = values['display-name'];
  config.displayName ??= config.name;
  if (values['log-file'] !== undefined) config.logFile = values['log-file'];
  if (values['session-key'] !== undefined) config.sessionKey = values['session-key'];

  const frames = config.frames ?? { count: DEFAULT_FRAME_COUNT, sizeBytes: DEFAULT_FRAME_SIZE_BYTES, intervalMs: DEFAULT_FRAME_INTERVAL_MS };
  config.frames = {
    count: values.frames !== undefined ? parseInteger(values.frames, '--frames') : frames.count,
    sizeBytes: values['frame-size'] !== undefined ? parseInteger(values['frame-size'], '--frame-size') : frames.sizeBytes,
    intervalMs: values['interval-ms'] !== undefined ? parseInteger(values['interval-ms'], '--interval-ms') : frames.intervalMs,
  };

  const auto = { ...(config.auto ?? {}) };
  if (values.issue !== undefined) {
    auto.requestSupport = true;
    auto.issue = values.issue;
  }
  if (values['auto-accept'] === true) auto.accept = true;
  if (values['show-my-screen'] === true) auto.showMyScreen = true;
  config.auto = auto;

  const network = { ...(config.network ?? DEFAULT_CLIENT_NETWORK) };
  if (values['nat-type'] !== undefined) {
    if (!isNatType(values['nat-type'])) throw new ConfigError(`--nat-type is ${JSON.stringify(values['nat-type'])}; expected one of ${NAT_TYPES.join(', ')}`);
    network.natType = values['nat-type'];
  }
  if (values['block-inbound'] === true) network.blockInbound = true;
  config.network = network;

  if (config.address === undefined) throw new ConfigError('--address is missing; pass the loopback source address this client binds, such as --address 127.30.0.10');
  if (config.site === undefined) throw new ConfigError('the cluster is unknown; pass --run-dir with the run folder of a running cluster, or --config FILE');
}

function parseInteger(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new ConfigError(`${flag} is ${JSON.stringify(text)}; expected a whole number such as 100`);
  return Number(text);
}
