import type { ClientProcessConfig } from '../config/client-config.js';
import { createLogger } from '../logging/logger.js';
import { ConfigError } from '../util/errors.js';
import { installShutdown, reportEvent, sendToParent, serveParentRequests } from '../util/ipc.js';
import { Client } from './client.js';
import { createClientNetwork, loadClusterCa } from './connector.js';
import { createClientRequestHandlers } from './ipc-handlers.js';
import { CLIENT_USAGE, parseClientArgs } from './options.js';

/**
 * `atlas-sim client customer|rep [options]`: runs one client process until
 * SIGINT, SIGTERM or the loss of the launcher's IPC channel. Returns 2 for
 * invalid options; the process exits 1 when the master rejects its session key.
 */
export async function main(argv: string[]): Promise<number> {
  let parsed: Awaited<ReturnType<typeof parseClientArgs>>;
  try {
    parsed = await parseClientArgs(argv);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`atlas-sim client: ${error.message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(CLIENT_USAGE);
    return 0;
  }
  await runClient(parsed.config);
  return 0;
}

/**
 * Starts the client and serves the launcher's requests. Logs go to the log
 * file when one is configured, else to stdout, so a person can follow
 * progress. The returned promise never settles because the shutdown handler
 * exits the process.
 */
export async function runClient(config: ClientProcessConfig): Promise<never> {
  const logger = createLogger({ name: config.name, file: config.logFile });
  const ca = await loadClusterCa(config.certsDir);
  const network = createClientNetwork({ logger }, config, ca);
  const client = new Client(
    {
      logger,
      connectControl: network.connectControl,
      session: { connect: network.connectSession, resolveTargets: network.resolveTargets },
      report: (event, data) => reportEvent(config.name, event, data),
      dns: { server: config.dns, localAddress: config.address, logger },
    },
    config,
  );

  client.once('welcome', (welcome) => {
    sendToParent({
      type: 'ready',
      role: config.role,
      name: config.name,
      pid: process.pid,
      info: { clientId: client.clientId, address: config.address, masterName: welcome.masterName },
    });
  });
  client.once('rejected', (reason) => {
    process.stderr.write(`atlas-sim client: ${reason}\n`);
    // A rejected hello is final, so the process ends with a failure instead of waiting for a signal.
    void client.stop('rejected by the master').finally(() => process.exit(1));
  });
  serveParentRequests(logger, createClientRequestHandlers(client));
  installShutdown(logger, (reason) => client.stop(reason));
  client.start();
  return new Promise<never>(() => undefined);
}
