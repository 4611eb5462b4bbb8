import { parseCommandLine } from '../util/argv.js';

import { createLogger } from '../logging/logger.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { installShutdown, sendToParent, serveParentRequests } from '../util/ipc.js';
import { FaultLayerServer, type FrontSpec } from './fault-layer-server.js';
import type { ServerRule } from './link-fault.js';

export const NETFAULT_USAGE = `usage: atlas-sim netfault [--name NAME] [--log-file FILE] [--seed SEED]

Runs the fault layer of one cluster: a proxy in front of every listener of
the cluster's servers, each preserving the client's source address, with one
fault table per server. The launcher forks it and drives it over IPC; it is
not meant to be started by hand.

options:
  --name NAME      process name on every log line (default netfault)
  --log-file FILE  append JSON log lines to FILE instead of stdout
  --seed SEED      seed of the jitter and loss draws (default netfault)
  --help           print this text

IPC requests: front { server, protocol, listen, target, stun? }, add-fault { id, rules },
remove-fault { id }, heal, faults, proxies.`;

/**
 * Entry of `atlas-sim netfault`. Resolves with 0 once the process has sent
 * `ready`; open proxies keep it alive until SIGINT, SIGTERM or loss of the
 * launcher's IPC channel. Resolves with 2 for invalid flags.
 */
export function main(argv: string[]): Promise<number> {
  let values: { name?: string; 'log-file'?: string; seed?: string; help?: boolean };
  try {
    ({ values } = parseCommandLine({
      args: argv,
      options: { name: { type: 'string' }, 'log-file': { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`atlas-sim netfault: ${errorMessage(error)}\n\n${NETFAULT_USAGE}\n`);
    return Promise.resolve(2);
  }
  if (values.help === true) {
    process.stdout.write(`${NETFAULT_USAGE}\n`);
    return Promise.resolve(0);
  }

  const name = values.name ?? 'netfault';
  const logger = createLogger({ name, ...(values['log-file'] === undefined ? {} : { file: values['log-file'] }) });
  const layer = new FaultLayerServer({ logger }, { seed: values.seed ?? 'netfault' });
  serveParentRequests(logger, {
    front: (args) => layer.front(parseFrontSpec(args)),
    'add-fault': (args) => {
      const id = requireString(args.id, 'id');
      if (!Array.isArray(args.rules)) throw new ConfigError(`add-fault rules is ${JSON.stringify(args.rules)}; expected a list of { server, rule }`);
      const installed = layer.addFault(id, args.rules as ServerRule[]);
      return { id: installed.id, rules: installed.rules.length };
    },
    'remove-fault': (args) => ({ removed: layer.removeFault(requireString(args.id, 'id')) }),
    heal: () => ({ healed: layer.healAll() }),
    faults: () => layer.listFaults().map((fault) => ({ id: fault.id, rules: fault.rules.map((entry) => ({ server: entry.server, ...entry.rule, from: entry.rule.from === undefined ? undefined : [...entry.rule.from] })) })),
    proxies: () => layer.proxies(),
  });
  installShutdown(logger, () => layer.close());
  sendToParent({ type: 'ready', role: 'netfault', name, pid: process.pid, info: {} });
  logger.info('fault layer ready');
  return Promise.resolve(0);
}

function parseFrontSpec(args: Record<string, unknown>): FrontSpec {
  const server = requireString(args.server, 'server');
  if (args.protocol !== 'tcp' && args.protocol !== 'udp') throw new ConfigError(`front protocol is ${JSON.stringify(args.protocol)}; expected "tcp" or "udp"`);
  if (args.stun !== undefined && (args.stun !== true || args.protocol !== 'udp')) {
    throw new ConfigError(`front stun is ${JSON.stringify(args.stun)} for protocol ${args.protocol}; expected true with "udp", or no stun field`);
  }
  const spec: FrontSpec = { server, protocol: args.protocol, listen: parseAddress(args.listen, 'listen'), target: parseAddress(args.target, 'target') };
  return args.stun === true ? { ...spec, stun: true } : spec;
}

function parseAddress(value: unknown, field: string): { address: string; port: number } {
  const record = value as { address?: unknown; port?: unknown } | null;
  if (typeof record?.address !== 'string' || typeof record.port !== 'number') {
    throw new ConfigError(`front ${field} is ${JSON.stringify(value)}; expected { address, port }`);
  }
  return { address: record.address, port: record.port };
}

function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${field} is ${JSON.stringify(value)}; expected a non-empty string`);
  return value;
}
