import { parseCommandLine } from '../util/argv.js';

import { createLogger } from '../logging/logger.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { installShutdown, sendToParent, serveParentRequests } from '../util/ipc.js';
import { loadAnycastConfig, type AnycastProcessConfig } from './config.js';
import { AnycastRouter } from './router.js';

export const ANYCAST_USAGE = `usage: atlas-sim anycast --config FILE

Runs the anycast router: forwards each TCP connection on the shared anycast
address to the traffic node that the routing table picks for the client's
source address (longest matching prefix, else the default node).

options:
  --config FILE  JSON file { name, address, port, routes: [{ prefix, target: { address, port }, node }],
                 default: { address, port, node }, logFile? }
  --help         print this text`;

/** Exit codes of the anycast process. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

type ParsedFlags = { help: true } | { help: false; configFile: string };

function parseConfigFlag(argv: string[]): ParsedFlags {
  const args = argv[0] === 'anycast' ? argv.slice(1) : argv;
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseCommandLine({ args, options: { config: { type: 'string' }, help: { type: 'boolean' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError(errorMessage(error));
  }
  if (values.help === true) return { help: true };
  if (values.config === undefined || values.config === '') throw new ConfigError('missing --config FILE');
  return { configFile: values.config, help: false };
}

/**
 * Entry of `atlas-sim anycast --config FILE`. `argv` contains the arguments after
 * the program name (a leading `anycast` word is skipped). Resolves with 0 once the
 * router listens and has sent `ready` to the parent; the listener keeps the
 * process alive until SIGINT, SIGTERM or loss of the parent's IPC channel, when
 * installShutdown closes the router and exits. Resolves with 1 when the router
 * cannot listen and 2 for invalid arguments or configuration.
 *
 * IPC: `{ type: 'ready', role: 'anycast', name, pid, info: { address, port } }`
 * once listening; the `status` request returns the router's counters.
 */
export async function main(argv: string[]): Promise<number> {
  let config: AnycastProcessConfig;
  try {
    const flags = parseConfigFlag(argv);
    if (flags.help) {
      process.stdout.write(`${ANYCAST_USAGE}\n`);
      return EXIT_OK;
    }
    config = await loadAnycastConfig(flags.configFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`atlas-sim anycast: ${error.message}\n\n${ANYCAST_USAGE}\n`);
    return EXIT_USAGE;
  }

  const logger = createLogger({ name: config.name, ...(config.logFile === undefined ? {} : { file: config.logFile }) });
  logger.info({ address: config.address, port: config.port, routes: config.table.routes.length }, 'anycast router starting');
  const router = new AnycastRouter({ logger }, { listen: { address: config.address, port: config.port }, table: config.table });
  let bound: { address: string; port: number };
  try {
    bound = await router.listen();
  } catch (error) {
    logger.error({ err: errorMessage(error) }, 'anycast router failed to start');
    process.stderr.write(`atlas-sim anycast: ${errorMessage(error)}\n`);
    return EXIT_FAILURE;
  }

  serveParentRequests(logger, { status: () => router.status() });
  installShutdown(logger, () => router.close());
  sendToParent({ type: 'ready', role: 'anycast', name: config.name, pid: process.pid, info: { address: bound.address, port: bound.port } });
  return EXIT_OK;
}
