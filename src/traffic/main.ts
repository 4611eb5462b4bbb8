import { stat } from 'node:fs/promises';
import { createAdminRouter } from '../admin/admin-router.js';
import { mountSecurityRoutes } from '../admin/security-routes.js';
import type { NodeProcessConfig } from '../config/node-config.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { assertCertificateCovers, ensureClusterCerts } from '../net/certs.js';
import { PreSharedKeyStore } from '../storage/pre-shared-key-store.js';
import { errorMessage } from '../util/errors.js';
import { installShutdown, sendToParent, serveParentRequests } from '../util/ipc.js';
import { mountNodeRoutes } from './admin-routes.js';
import { StateStore } from './state-store.js';
import { TrafficNode, type TrafficNodePorts } from './traffic-node.js';

/**
 * Runs a traffic node process. Resolves once both listeners are up and the
 * ready message has gone to the launcher. The open listeners keep the process
 * alive until SIGINT, SIGTERM or loss of the launcher, when installShutdown
 * stops the node and exits. Throws (after logging) when the node cannot start.
 */
export async function runNode(config: NodeProcessConfig): Promise<void> {
  const logger = createLogger({ name: config.name, file: config.logFile });
  logger.info({ role: config.role, public: config.public, internal: config.internal, dataDir: config.dataDir }, 'traffic node starting');

  let node: TrafficNode;
  let store: StateStore;
  let ports: TrafficNodePorts;
  try {
    ({ node, store, ports } = await startNode(config, logger));
  } catch (error) {
    logger.error({ err: errorMessage(error) }, 'traffic node failed to start');
    throw error;
  }

  serveParentRequests(logger, {
    status: () => node.status(),
    'connected-clients': () => node.connectedClients(),
    'status-history': () => store.listHistory(),
  });
  installShutdown(logger, (reason) => node.stop(reason));
  sendToParent({ type: 'ready', role: 'traffic', name: config.name, pid: process.pid, info: { public: { ...config.public, port: ports.public }, internal: { ...config.internal, port: ports.internal } } });
  logger.info({ guid: store.guid, appliedVersion: store.appliedVersion, accepting: store.accepting }, 'traffic node ready');
}

async function startNode(config: NodeProcessConfig, logger: Logger): Promise<{ node: TrafficNode; store: StateStore; ports: TrafficNodePorts }> {
  const keys = await PreSharedKeyStore.open({ logger }, { dataDir: config.dataDir, launcherKeyFile: config.pskFile });
  if (keys.info.source === 'launcher') await warnIfReadableByOthers(config.pskFile, logger);
  const certs = await ensureClusterCerts(config.certsDir);
  for (const host of [config.public.host, config.internal.host]) assertCertificateCovers(host, certs.cert);
  const tls = { cert: certs.cert, key: certs.key };
  const store = await StateStore.open({ logger }, config.dataDir);
  const router = await createAdminRouter({ logger }, config.admin);

  const node = new TrafficNode({ logger, store, psk: () => keys.key, tls, onRequest: router.handle }, { name: config.name, public: config.public, internal: config.internal, heartbeat: config.heartbeat });
  mountSecurityRoutes(router, keys);
  mountNodeRoutes(router, node, store);
  keys.on('change', () => node.dropApplianceLinks('pre-shared key changed'));
  const ports = await node.start();
  return { node, store, ports };
}

async function warnIfReadableByOthers(file: string, logger: Logger): Promise<void> {
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) {
    logger.warn({ file, mode: (mode & 0o777).toString(8) }, 'pre-shared key file is accessible to group or others; run chmod 600 on it');
  }
}
