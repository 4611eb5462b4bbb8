import { createLogger } from '../logging/logger.js';
import { parseCommandLine } from '../util/argv.js';
import { errorMessage } from '../util/errors.js';
import { loadDnsConfig, type DnsProcessConfig } from './dns-config.js';
import { startClaimListener, type ClaimListener } from './claim-listener.js';
import { handleParentMessage, sendReady } from './dns-ipc.js';
import { ClusterDnsServer } from './server.js';

export const DNS_USAGE = `usage: atlas-sim dns --config FILE

Runs the cluster DNS server (forked by the launcher).

options:
  --config FILE  JSON file { name, address, port, zone, logFile? } of this DNS server
  --help         print this text
`;

/** Exit codes of the DNS process. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Returns the configuration file named by the arguments, a help request, or the reason they are invalid. */
function parseArguments(argv: string[]): { configFile: string } | { help: true } | { error: string } {
  const args = argv[0] === 'dns' ? argv.slice(1) : argv;
  let values;
  try {
    ({ values } = parseCommandLine({ args, strict: true, allowPositionals: false, options: { config: { type: 'string' }, help: { type: 'boolean' } } }));
  } catch (error) {
    return { error: errorMessage(error) };
  }
  if (values.help === true) return { help: true };
  return values.config === undefined || values.config === '' ? { error: 'missing --config FILE' } : { configFile: values.config };
}

/** Resolves with the reason on SIGINT, SIGTERM or loss of the parent's IPC channel (the parent died). */
function listenForStop(): { stopped: Promise<string>; dispose(): void } {
  let resolveStop: (reason: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    resolveStop = resolve;
  });
  const onSigint = (): void => resolveStop('SIGINT');
  const onSigterm = (): void => resolveStop('SIGTERM');
  const onDisconnect = (): void => resolveStop('parent process gone (IPC channel closed)');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  if (process.send !== undefined) process.on('disconnect', onDisconnect);

  const dispose = (): void => {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('disconnect', onDisconnect);
  };
  return { stopped, dispose };
}

async function serve(config: DnsProcessConfig, configFile: string): Promise<number> {
  const logger = createLogger({ name: config.name, ...(config.logFile === undefined ? {} : { file: config.logFile }) });
  logger.info({ configFile, address: config.address, port: config.port }, 'DNS process starting');
  const stop = listenForStop();
  const server = new ClusterDnsServer({ logger }, { address: config.address, port: config.port, zone: config.zone });

  let bound: { address: string; port: number };
  let claim: ClaimListener | undefined;
  try {
    bound = await server.listen();
    if (config.claim !== undefined) claim = await startClaimListener({ logger, server }, { name: config.name, address: config.address, claim: config.claim });
  } catch (error) {
    logger.error({ err: errorMessage(error) }, 'DNS process failed to start');
    stop.dispose();
    await server.close();
    return EXIT_FAILURE;
  }

  const onMessage = (message: unknown): void => handleParentMessage(server, logger, message, claim?.endpoint);
  process.on('message', onMessage);
  sendReady(config.name, bound, claim?.port);

  const reason = await stop.stopped;
  logger.info({ reason }, 'DNS process stopping');
  process.off('message', onMessage);
  stop.dispose();
  await claim?.close();
  await server.close();
  logger.info({ reason }, 'DNS process stopped');
  return EXIT_OK;
}

/**
 * Entry of `atlas-sim dns --config FILE`. `argv` contains the arguments after the
 * program name (a leading `dns` subcommand word is skipped). Resolves with the
 * exit code once the server has stopped: 0 after SIGINT, SIGTERM or loss of
 * the parent, 1 when the server cannot start, 2 for invalid arguments or
 * configuration. The IPC protocol is described in dns-ipc.ts.
 */
export async function main(argv: string[]): Promise<number> {
  const parsed = parseArguments(argv);
  if ('help' in parsed) {
    process.stdout.write(DNS_USAGE);
    return EXIT_OK;
  }
  if ('error' in parsed) {
    process.stderr.write(`atlas-sim dns: ${parsed.error}\n${DNS_USAGE}`);
    return EXIT_USAGE;
  }

  let config: DnsProcessConfig;
  try {
    config = await loadDnsConfig(parsed.configFile);
  } catch (error) {
    process.stderr.write(`atlas-sim dns: ${errorMessage(error)}\n`);
    return EXIT_USAGE;
  }
  return serve(config, parsed.configFile);
}
