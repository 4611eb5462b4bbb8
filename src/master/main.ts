import { createAdminRouter } from '../admin/admin-router.js';
import { mountSecurityRoutes } from '../admin/security-routes.js';
import type { NodeProcessConfig } from '../config/node-config.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { assertCertificateCovers, ensureClusterCerts } from '../net/certs.js';
import { createClusterLookup } from '../net/lookup.js';
import { removeStaleTemporaryFiles } from '../storage/atomic-file.js';
import { PreSharedKeyStore } from '../storage/pre-shared-key-store.js';
import { installShutdown, sendToParent, serveParentRequests } from '../util/ipc.js';
import { errorMessage } from '../util/errors.js';
import { loadOrCreateIdentity } from './appliance-identity.js';
import { PRIMARY_TERM } from './appliance-link.js';
import { ApplianceLinks } from './appliance-links.js';
import { ClientRegistry } from './client-registry.js';
import { ClusterAdmin, randomSessionKey, readSessionKey } from './cluster-admin.js';
import { ClusterConfigStore, emptyConfig } from './cluster-config-store.js';
import { createMasterCommandApi } from './command-api/master-command-api.js';
import { ControlChannelServer } from './control-channel.js';
import { mountClusterRoutes } from './http/cluster-routes.js';
import { NodeSelection } from './node-selection.js';
import { SessionBroker } from './session-broker.js';
import { StatusHistory } from './status-history.js';
import { connectedClientsReport, statusReport } from './status-report.js';
import { SupportQueue } from './support-queue.js';
import { SyncCoordinator } from './sync-coordinator.js';

/**
 * Runs the primary master until it is stopped: loads the data folder, opens
 * the control channel and the admin API on the public address, and links to
 * every traffic node of the last synced configuration. Resolves once the
 * master is serving; a failure to start rejects.
 */
export async function runNode(config: NodeProcessConfig): Promise<void> {
  const logger = createLogger({ name: config.name, file: config.logFile });
  try {
    await startMaster(config, logger);
  } catch (error) {
    logger.error({ err: errorMessage(error) }, 'master failed to start');
    throw error;
  }
}

async function startMaster(config: NodeProcessConfig, logger: Logger): Promise<void> {
  const settings = config.master;
  if (settings === undefined) throw new Error(`node config of ${config.name}: master is missing; a master needs its seed`);
  logger.info({ role: 'primary', public: config.public, internal: config.internal, dataDir: config.dataDir, seed: settings.seed }, 'master starting');

  const leftovers = await removeStaleTemporaryFiles(config.dataDir);
  if (leftovers.length > 0) logger.warn({ dataDir: config.dataDir, files: leftovers }, 'removed temporary files of writes interrupted by a crash');
  const identity = await loadOrCreateIdentity({ logger }, config.dataDir);
  const history = await StatusHistory.open({ logger }, config.dataDir);
  const store = await ClusterConfigStore.open({ logger, history }, { dataDir: config.dataDir });
  const synced = () => store.synced ?? emptyConfig();

  const keys = await PreSharedKeyStore.open({ logger }, { dataDir: config.dataDir, launcherKeyFile: config.pskFile });
  const certs = await ensureClusterCerts(config.certsDir);
  for (const host of [config.public.host, config.internal.host]) assertCertificateCovers(host, certs.cert);
  const lookup = createClusterLookup({ server: config.dns, localAddress: config.internal.address, logger: logger.child({ component: 'dns' }) });

  const selection = new NodeSelection({ logger: logger.child({ component: 'chooser' }) }, { config: synced(), seed: settings.seed });
  const registry = new ClientRegistry();
  const queue = new SupportQueue();
  const broker = new SessionBroker({ logger, registry, selection, config: synced });

  const links = new ApplianceLinks(
    {
      logger,
      history,
      lookup,
      ca: certs.ca,
      psk: () => keys.key,
      self: { name: config.name, guid: identity.guid },
      syncedConfig: () => store.synced,
      desiredAccepting: (name) => store.synced?.members.find((member) => member.name === name)?.accepting ?? undefined,
      onClientReport: (node, report) => broker.recordClientReport(node, report),
    },
    { members: synced().members.filter((member) => member.role === 'traffic'), localAddress: config.internal.address, heartbeat: config.heartbeat },
  );
  links.on('change', (state) => selection.update(state));
  const commandApi = await createMasterCommandApi({ logger, registry, broker, links, syncedConfig: synced }, config, identity.guid);
  keys.on('change', () => links.reconnectAll('pre-shared key changed'));

  const sync = new SyncCoordinator({
    logger,
    store,
    history,
    links,
    onSynced: (next) => selection.setConfig(next),
    onPending: (version) => selection.setPendingVersion(version),
  });
  const admin = new ClusterAdmin({
    logger,
    store,
    self: { guid: identity.guid, model: config.model },
    sessionKey: settings.sessionKeyFile === undefined ? randomSessionKey : () => readSessionKey(settings.sessionKeyFile!),
    onAcceptingChanged: (name, accepting) => {
      const sent = links.get(name)?.sendAccepting(accepting) ?? false;
      if (!sent) logger.info({ trafficNode: name, accepting }, 'node offline or not synced; it gets the accepting flag when it joins');
    },
  });
  const router = await createAdminRouter({ logger }, config.admin);
  mountClusterRoutes(router, { store, admin, sync, links, history });
  mountSecurityRoutes(router, keys);

  const control = new ControlChannelServer(
    {
      logger,
      registry,
      queue,
      broker,
      welcome: () => ({ masterName: config.name, term: PRIMARY_TERM, p2pEnabled: synced().p2pEnabled, stunServer: synced().stunServer }),
      sessionKey: () => synced().sessionKey,
    },
    {
      address: config.public.address,
      port: config.public.port,
      tls: { cert: certs.cert, key: certs.key },
      heartbeat: config.heartbeat,
      // The command API and the OAuth token endpoint take their own paths; the admin router gets the rest.
      onRequest: (request, response) => {
        if (!commandApi.handle(request, response)) router.handle(request, response);
      },
    },
  );
  const publicPort = await control.listen();
  links.start();

  serveParentRequests(logger, {
    status: () => statusReport({ name: config.name, guid: identity.guid, store, links }),
    'status-history': () => history.list(),
    'connected-clients': () => connectedClientsReport(registry, broker),
  });
  installShutdown(logger, async (reason) => {
    logger.info({ reason }, 'closing control channel and appliance links');
    await Promise.all([control.close(), links.stop()]);
    await history.flush();
  });

  // NOTE: the master does not listen on its internal address yet; a backup master will connect there.
  const info = { public: { ...config.public, port: publicPort }, internal: config.internal };
  sendToParent({ type: 'ready', role: 'master', name: config.name, pid: process.pid, info });
  logger.info({ public: info.public, nodes: links.states().length, configVersion: store.current.version, syncedVersion: store.syncedVersion }, 'master ready');
}
