import { isIP } from 'node:net';
import { SITE_HOSTNAME, nodeHostname } from '../config/constants.js';
import { bindPort, type MasterFailoverConfig, type NodeProcessConfig } from '../config/node-config.js';
import { readSecretFile } from '../config/secret-file.js';
import { DnsClaimClient } from '../dns/claim-client.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { assertCertificateCovers, ensureClusterCerts } from '../net/certs.js';
import { createClusterLookup } from '../net/lookup.js';
import { WsServer } from '../net/ws-server.js';
import { removeStaleTemporaryFiles } from '../storage/atomic-file.js';
import { PreSharedKeyStore } from '../storage/pre-shared-key-store.js';
import { installShutdown, reportEvent, sendToParent, serveParentRequests } from '../util/ipc.js';
import { errorMessage } from '../util/errors.js';
import { loadOrCreateIdentity } from './appliance-identity.js';
import { APPLIANCE_PATH, PRIMARY_TERM } from './appliance-link.js';
import { FailoverCoordinator } from './failover-coordinator.js';
import { FailoverStateStore, type PeerMaster } from './failover-state.js';
import { PrimaryServices, type MasterContext } from './primary-services.js';
import { MASTER_STOPPING_REASON, ReplicationEndpoint } from './replication-endpoint.js';
import { StandbyServer } from './standby-server.js';

/** DNS label of the cluster DNS process, whose certificate name a master verifies on the claim channel. */
const DNS_PROCESS_LABEL = 'dns';

/**
 * Runs a master until it is stopped: loads the data folder and serves as
 * the primary, or, as one master of a failover pair, as whichever role the
 * pair decides. Resolves once the master is serving; a failure to start rejects.
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
  logger.info({ public: config.public, internal: config.internal, dataDir: config.dataDir, seed: settings.seed, failover: config.failover?.initialRole ?? 'none' }, 'master starting');

  const leftovers = await removeStaleTemporaryFiles(config.dataDir);
  if (leftovers.length > 0) logger.warn({ dataDir: config.dataDir, files: leftovers }, 'removed temporary files of writes interrupted by a crash');
  const identity = await loadOrCreateIdentity({ logger }, config.dataDir);
  const keys = await PreSharedKeyStore.open({ logger }, { dataDir: config.dataDir, launcherKeyFile: config.pskFile });
  const certs = await ensureClusterCerts(config.certsDir);
  for (const host of [config.public.host, config.internal.host]) assertCertificateCovers(host, certs.cert);
  const lookup = createClusterLookup({ server: config.dns, localAddress: config.internal.address, logger: logger.child({ component: 'dns' }) });
  const context: MasterContext = { config, logger, guid: identity.guid, keys, certs, lookup };

  if (config.failover === undefined) {
    await startSingleMaster(context);
  } else {
    await startFailoverMaster(context, config.failover);
  }
}

/** Starts a master without a backup, which is always the primary under the first term. */
async function startSingleMaster(context: MasterContext): Promise<void> {
  const { config, logger } = context;
  const primary = await PrimaryServices.start(context, { term: PRIMARY_TERM });
  serveParentRequests(logger, {
    status: () => primary.status(),
    'status-history': () => primary.history.list(),
    'connected-clients': () => primary.connectedClients(),
  });
  installShutdown(logger, async (reason) => {
    logger.info({ reason }, 'closing control channel and appliance links');
    await primary.stop(reason);
  });
  announceReady(config, logger, { role: 'primary', term: PRIMARY_TERM });
}

/**
 * Starts a master of a failover pair. It listens on its internal address for
 * the primary's replication link, claims the site hostname at the DNS server
 * while it is the primary, and lets the coordinator switch roles.
 */
async function startFailoverMaster(context: MasterContext, failover: MasterFailoverConfig): Promise<void> {
  const { config, logger, keys, certs, lookup, guid } = context;
  const peer: PeerMaster = {
    name: failover.peer.name,
    internalHost: failover.peer.internal.host,
    internalPort: failover.peer.internal.port,
    publicHost: failover.peer.public.host,
    publicPort: failover.peer.public.port,
  };
  const state = await FailoverStateStore.open({ logger }, config.dataDir, { role: failover.initialRole, term: 0, termHolder: '', proposedTerm: 0, peer });
  // The DNS server has no Security page, so the claim channel keeps the key the launcher wrote even after the appliances' key changes.
  const claimKey = await readSecretFile(config.pskFile, 'pskFile');
  const claims = new DnsClaimClient(
    { logger: logger.child({ component: 'dns-claim' }), psk: claimKey, ca: certs.ca, lookup },
    { server: failover.dnsClaim, tlsName: nodeHostname(DNS_PROCESS_LABEL), self: { name: config.name, guid }, localAddress: config.internal.address, heartbeat: config.heartbeat },
  );
  // Until the primary links, a backup takes the primary's name from the term holder the DNS server granted.
  const primaryName = (): string => {
    const { primary, termHolder } = roles.status().failover;
    if (primary !== undefined && primary !== '') return primary;
    return termHolder === config.name ? '' : termHolder;
  };
  const standby: StandbyServer = new StandbyServer(context, primaryName);
  const roles: FailoverCoordinator = new FailoverCoordinator(
    { context, state, claims, standby, report: (event, data) => reportEvent(config.name, event, data) },
    { siteHostname: SITE_HOSTNAME, peer, heartbeatTimeoutMs: config.heartbeat.timeoutMs },
  );

  const endpoint = new ReplicationEndpoint(
    {
      logger: logger.child({ component: 'replication' }),
      psk: () => keys.key,
      self: { name: config.name, guid, model: config.model },
      role: () => roles.role,
      term: () => roles.term,
      admit: (connecting) => roles.admit(connecting),
      apply: (update) => roles.apply(update),
      onPrimaryLinked: (connecting) => roles.primaryLinked(connecting),
      onPrimaryLost: (connecting, reason, primaryStopping) => roles.primaryLost(connecting, reason, primaryStopping),
      onUnpaired: (connecting, unpair) => roles.unpaired(connecting, unpair),
    },
    { channel: { heartbeat: config.heartbeat } },
  );
  // A changed key ends the replication link, so the primary authenticates again with the new one.
  keys.on('change', () => endpoint.closeAll('pre-shared key changed'));
  const internal = new WsServer({ logger }, {
    host: config.internal.address,
    port: bindPort(config.internal),
    tls: { cert: certs.cert, key: certs.key },
    paths: { [APPLIANCE_PATH]: (ws) => endpoint.accept(ws) },
  });
  await internal.listen();
  logger.info({ address: config.internal.address, port: config.internal.port, path: APPLIANCE_PATH }, 'internal address listening for the other master');

  serveParentRequests(logger, {
    status: () => roles.status(),
    'status-history': () => roles.historyEntries(),
    'connected-clients': () => roles.services?.connectedClients() ?? [],
    replicate: (args) => roles.replicate(typeof args.timeoutMs === 'number' ? args.timeoutMs : undefined),
    'pair-backup': (args) => roles.pairBackup(parsePeerArgs(args)),
  });
  installShutdown(logger, async (reason) => {
    await roles.stop(reason);
    endpoint.closeAll(MASTER_STOPPING_REASON);
    await internal.close();
  });

  await roles.start();
  announceReady(config, logger, { role: roles.role, term: roles.term });
}

function announceReady(config: NodeProcessConfig, logger: Logger, role: { role: string; term: number }): void {
  const info = { public: config.public, internal: config.internal, ...role };
  sendToParent({ type: 'ready', role: 'master', name: config.name, pid: process.pid, info });
  logger.info({ public: info.public, ...role }, 'master ready');
}

/** Checks the arguments of the `pair-backup` request: the new backup's name, internal and public address. */
function parsePeerArgs(args: Record<string, unknown>): PeerMaster {
  const { name, internalHost, internalPort, publicHost, publicPort } = args;
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`pair-backup: name is ${JSON.stringify(name)}; expected the backup master's name, such as "master3"`);
  for (const [field, host] of [['internalHost', internalHost], ['publicHost', publicHost]] as const) {
    if (typeof host !== 'string' || host === '' || isIP(host) !== 0) {
      throw new Error(`pair-backup: ${field} is ${JSON.stringify(host)}; expected the backup master's hostname, not an IP address`);
    }
  }
  for (const [field, port] of [['internalPort', internalPort], ['publicPort', publicPort]] as const) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`pair-backup: ${field} is ${JSON.stringify(port)}; expected a port from 1 to 65535`);
    }
  }
  return { name, internalHost: internalHost as string, internalPort: internalPort as number, publicHost: publicHost as string, publicPort: publicPort as number };
}
