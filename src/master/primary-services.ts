import type { LookupFunction } from 'node:net';
import { createAdminRouter } from '../admin/admin-router.js';
import { mountSecurityRoutes } from '../admin/security-routes.js';
import { SITE_HOSTNAME } from '../config/constants.js';
import { bindPort, type NodeProcessConfig } from '../config/node-config.js';
import type { Logger } from '../logging/logger.js';
import type { ClusterCerts } from '../net/certs.js';
import type { HttpReply, RequestContext } from '../net/http/router.js';
import type { atlas } from '../protocol/messages.js';
import type { PreSharedKeyStore } from '../storage/pre-shared-key-store.js';
import { reportEvent } from '../util/ipc.js';
import { ApplianceLinks } from './appliance-links.js';
import { ClientRegistry } from './client-registry.js';
import { ClusterAdmin, randomSessionKey, readSessionKey } from './cluster-admin.js';
import { ClusterConfigStore, emptyConfig } from './cluster-config-store.js';
import { createMasterCommandApi } from './command-api/master-command-api.js';
import { ControlChannelServer } from './control-channel.js';
import type { PeerMaster } from './failover-state.js';
import { mountClusterRoutes } from './http/cluster-routes.js';
import { fenceRequests } from './http/fenced-requests.js';
import { mountRouteRoutes, routeNetwork } from './http/route-routes.js';
import { describeReplication, MasterMembership, REPLICATION_HEADER } from './master-membership.js';
import { watchNodeFailures } from './node-failures.js';
import { NodeSelection } from './node-selection.js';
import { ReplicationLink, type FlushResult, type ReplicationLinkStatus } from './replication-link.js';
import { SessionBroker } from './session-broker.js';
import { fromReplicatedSession } from './session-replica.js';
import { StatusHistory } from './status-history.js';
import { MasterStunRole, wantsMasterStun } from './stun-role.js';
import { connectedClientsReport, statusReport, type ConnectedClientReport, type MasterStatusReport } from './status-report.js';
import { fromReplicatedSessionKey, SessionKeyStore } from './session-keys.js';
import { SupportQueue } from './support-queue.js';
import { SyncCoordinator } from './sync-coordinator.js';

/**
 * Time the participants of a session taken over from a former primary have
 * to reconnect before the session is ended. Clients reconnect with backoff
 * capped at 5 s and may first wait out a connect timeout to the old address.
 */
export const DEFAULT_RESTORED_SESSION_GRACE_MS = 30_000;

/** Dependencies a master shares between its roles: configuration, logger, identity, keys, certificates and DNS lookup. */
export interface MasterContext {
  config: NodeProcessConfig;
  logger: Logger;
  guid: string;
  /** Inter-appliance pre-shared key, which the Security page may change at run time. */
  keys: PreSharedKeyStore;
  certs: ClusterCerts;
  lookup: LookupFunction;
}

export interface PrimaryOptions {
  term: number;
  /** Backup master to replicate to; none for a master without a failover pair. */
  peer?: PeerMaster;
  /** Sessions the former primary had brokered, from the replicated state. */
  restoredSessions?: readonly atlas.ReplicatedSession[];
  /** Session keys the former primary generated, from the replicated state. */
  restoredSessionKeys?: readonly atlas.IReplicatedSessionKey[];
  restoredSessionGraceMs?: number;
  /** Throws when this master may not act as the primary now (see FailoverCoordinator). */
  fence?: () => void;
  /** Called when a traffic node or the backup reports a newer term, which means another master replaced this one. */
  onNewerTerm?: (term: number, holder: string) => void;
}

/**
 * Everything a master runs while it is the primary: the configuration store
 * and status history of its data folder, and the appliance links to the
 * traffic nodes. Also the cluster page and command API, the control channel
 * for clients, the session broker, and the replication link to the backup.
 */
export class PrimaryServices {
  private restoreTimer: NodeJS.Timeout | undefined;
  private replication: ReplicationLink | undefined;
  /** Keys of the session generation API, replicated to the backup with the sessions. */
  private sessionKeys: SessionKeyStore | undefined;
  private readonly onKeyChange = (): void => this.links.reconnectAll('pre-shared key changed');

  private constructor(
    readonly term: number,
    readonly store: ClusterConfigStore,
    readonly history: StatusHistory,
    readonly links: ApplianceLinks,
    readonly broker: SessionBroker,
    readonly membership: MasterMembership,
    private readonly registry: ClientRegistry,
    private readonly control: ControlChannelServer,
    private readonly context: MasterContext,
    private readonly onNewerTerm: PrimaryOptions['onNewerTerm'],
    readonly stunRole: MasterStunRole,
  ) {}

  /** Opens the data folder and starts serving; resolves once the control channel and the admin API listen. */
  static async start(context: MasterContext, options: PrimaryOptions): Promise<PrimaryServices> {
    const { config, logger, guid, keys } = context;
    const settings = config.master;
    if (settings === undefined) throw new Error(`node config of ${config.name}: master is missing; a master needs its seed`);
    const term = options.term;

    const history = await StatusHistory.open({ logger }, config.dataDir);
    const store = await ClusterConfigStore.open({ logger, history }, { dataDir: config.dataDir });
    const synced = (): atlas.ClusterConfig => store.synced ?? emptyConfig();
    const membership = new MasterMembership({ logger, store, history }, { self: { name: config.name, guid, model: config.model, public: config.public, internal: config.internal } });

    const selection = new NodeSelection({ logger: logger.child({ component: 'chooser' }) }, { config: synced(), seed: settings.seed });
    const registry = new ClientRegistry();
    const queue = new SupportQueue();
    const report = (event: string, data: Record<string, unknown>): void => reportEvent(config.name, event, data);
    const stunRole = new MasterStunRole({ logger }, { address: config.public.address, host: config.public.host, port: config.stun?.port });
    const stunServer = (): string | undefined => (wantsMasterStun(synced()) ? stunRole.endpoint : synced().stunServer || undefined);
    const broker = new SessionBroker({ logger, registry, selection, config: synced, report, delegation: config.delegation, stunServer });

    const links: ApplianceLinks = new ApplianceLinks(
      {
        logger,
        history,
        lookup: context.lookup,
        ca: context.certs.ca,
        psk: () => keys.key,
        self: { name: config.name, guid },
        syncedConfig: () => sync.pendingConfig ?? store.synced,
        syncInProgress: () => sync.syncInProgress,
        desiredAccepting: (name) => store.synced?.members.find((member) => member.name === name)?.accepting ?? undefined,
        term: () => term,
        onNewerTerm: (newer) => options.onNewerTerm?.(newer, ''),
        onClientReport: (node, report) => broker.recordClientReport(node, report),
      },
      { members: synced().members.filter((member) => member.role === 'traffic'), localAddress: config.internal.address, heartbeat: config.heartbeat },
    );
    links.on('change', (state) => selection.update(state));
    watchNodeFailures({ logger, links, broker, report });
    const failoverRole = options.peer === undefined ? 'none' : 'primary';
    const sessionKeys = new SessionKeyStore(() => siteUrl(synced().siteHostname || SITE_HOSTNAME, config.public.port));
    sessionKeys.restore((options.restoredSessionKeys ?? []).map(fromReplicatedSessionKey));
    const commandApi = await createMasterCommandApi({ logger, registry, broker, links, syncedConfig: synced, sessionKeys, failoverRole: () => failoverRole }, config, guid);

    const sync: SyncCoordinator = new SyncCoordinator({
      logger,
      store,
      history,
      links,
      onSynced: (next) => {
        selection.setConfig(next);
        void stunRole.apply(next);
      },
      onPending: (version) => selection.setPendingVersion(version),
    });
    const admin = new ClusterAdmin({
      logger,
      store,
      self: { guid, model: config.model },
      sessionKey: settings.sessionKeyFile === undefined ? randomSessionKey : () => readSessionKey(settings.sessionKeyFile!),
      onAcceptingChanged: (name, accepting) => {
        const sent = links.get(name)?.sendAccepting(accepting) ?? false;
        if (!sent) logger.info({ trafficNode: name, accepting }, 'node offline or not synced; it gets the accepting flag when it joins');
      },
      backupMember: () => membership.backupMember(),
    });

    // With a backup, the reply to a change through the admin API waits until the backup has stored it.
    const afterHandler = options.peer === undefined ? undefined : (request: RequestContext, reply: HttpReply): Promise<HttpReply> => services.acknowledge(request, reply);
    const router = await createAdminRouter({ logger }, config.admin, { afterHandler });
    mountClusterRoutes(router, { store, admin, sync, links, history });
    mountSecurityRoutes(router, keys);
    mountRouteRoutes(router, { selection, masterName: config.name, seed: settings.seed, network: routeNetwork(config.delegation) });

    const control = new ControlChannelServer(
      {
        logger,
        registry,
        queue,
        broker,
        welcome: () => ({ masterName: config.name, term, p2pEnabled: synced().p2pEnabled && !synced().forceRelay, stunServer: stunServer() ?? '' }),
        sessionKey: () => synced().sessionKey,
        sessionKeys,
        ...(options.fence === undefined ? {} : { fence: options.fence }),
      },
      {
        address: config.public.address,
        port: bindPort(config.public),
        tls: { cert: context.certs.cert, key: context.certs.key },
        heartbeat: config.heartbeat,
        // The command API and the OAuth token endpoint take their own paths; the admin router gets the rest.
        // Both pass the fence first, as control channel messages do.
        onRequest: fenceRequests(options.fence, logger, (request, response) => {
          if (!commandApi.handle(request, response)) router.handle(request, response);
        }),
      },
    );

    const services = new PrimaryServices(term, store, history, links, broker, membership, registry, control, context, options.onNewerTerm, stunRole);
    services.sessionKeys = sessionKeys;
    if (options.peer !== undefined) services.replication = services.createReplication(options.peer);
    services.restoreSessions(options.restoredSessions ?? [], options.restoredSessionGraceMs ?? DEFAULT_RESTORED_SESSION_GRACE_MS);
    keys.on('change', services.onKeyChange);
    await stunRole.apply(synced());
    await control.listen();
    links.start();
    services.replication?.start();
    logger.info({ term, nodes: links.states().length, configVersion: store.current.version, syncedVersion: store.syncedVersion, backup: options.peer?.name }, 'primary services started');
    return services;
  }

  /**
   * Stops serving: drops clients without ending their sessions, stops the
   * appliance and replication links, and writes the history to disk.
   */
  async stop(reason: string): Promise<void> {
    clearTimeout(this.restoreTimer);
    this.context.keys.off('change', this.onKeyChange);
    this.context.logger.info({ reason }, 'stopping primary services');
    await Promise.all([this.control.close(), this.links.stop(), this.replication?.stop(reason), this.stunRole.close()]);
    await this.store.idle();
    await this.history.flush();
  }

  /**
   * Pairs another backup master in place of the current one: notifies the
   * current backup that it is unpaired (when it is connected), then
   * replicates to the new one. Returns whether the former backup was notified.
   */
  async replaceBackup(peer: PeerMaster): Promise<{ formerTold: boolean }> {
    const former = this.replication;
    const formerTold = former?.unpair(peer.name) ?? false;
    await former?.stop(`backup master ${peer.name} paired in its place`);
    this.replication = this.createReplication(peer);
    this.replication.start();
    return { formerTold };
  }

  /** Waits until the backup has stored the state as it is now; without a backup, reports that nothing was replicated. */
  replicate(timeoutMs?: number): Promise<FlushResult> {
    if (this.replication === undefined) return Promise.resolve({ replicated: false, backup: '', seq: 0, reason: 'this master has no backup master' });
    return this.replication.flush(timeoutMs);
  }

  replicationStatus(): ReplicationLinkStatus | undefined {
    return this.replication?.status();
  }

  status(): MasterStatusReport {
    const report = statusReport({ name: this.context.config.name, guid: this.context.guid, store: this.store, links: this.links, term: this.term });
    const stun = this.stunRole.endpoint;
    if (stun !== undefined) report.stun = { endpoint: stun, address: this.context.config.public.address, counters: this.stunRole.counters };
    return report;
  }

  connectedClients(): ConnectedClientReport[] {
    return connectedClientsReport(this.registry, this.broker);
  }

  /**
   * Holds back the reply to a change made through the admin API until the
   * backup has stored it, and sets REPLICATION_HEADER to the outcome. Reads
   * and rejected requests pass unchanged.
   */
  private async acknowledge(context: RequestContext, reply: HttpReply): Promise<HttpReply> {
    if (context.method === 'GET' || context.method === 'HEAD' || reply.status >= 400) return reply;
    const result = await this.replicate();
    if (!result.replicated) context.logger.warn({ backup: result.backup, reason: result.reason }, 'change applied but not replicated to the backup master');
    return { ...reply, headers: { ...reply.headers, [REPLICATION_HEADER]: describeReplication(result) } };
  }

  private createReplication(peer: PeerMaster): ReplicationLink {
    const { config, logger, guid, keys } = this.context;
    return new ReplicationLink(
      {
        logger: logger.child({ component: 'replication', backup: peer.name }),
        history: this.history,
        lookup: this.context.lookup,
        ca: this.context.certs.ca,
        psk: () => keys.key,
        self: { name: config.name, guid, model: config.model },
        term: () => this.term,
        sources: { current: () => this.store.current, synced: () => this.store.synced, history: this.history, sessions: this.broker, ...(this.sessionKeys === undefined ? {} : { sessionKeys: this.sessionKeys }) },
        onNewerTerm: (newer, holder) => this.onNewerTerm?.(newer, holder),
        onBackupJoined: (backup) => void this.membership.backupJoined(backup, peer),
      },
      { peer, localAddress: config.internal.address, heartbeat: config.heartbeat },
    );
  }

  /**
   * Adds the sessions of the former primary, whose streams still flow
   * through the traffic nodes. A session whose participants have not both
   * reconnected within `graceMs` is ended, as the former primary would have
   * ended it when their control channels closed.
   */
  private restoreSessions(replicated: readonly atlas.ReplicatedSession[], graceMs: number): void {
    if (replicated.length === 0) return;
    const { logger } = this.context;
    const sessions = replicated.map((session) => fromReplicatedSession(session, logger));
    this.broker.restore(sessions);
    logger.info({ sessions: sessions.map((session) => session.id), graceMs }, 'sessions of the former primary restored');
    this.restoreTimer = setTimeout(() => {
      for (const session of sessions) {
        if (this.broker.get(session.id) === undefined) continue;
        const missing = [session.customerId, session.representativeId].filter((id) => this.registry.get(id) === undefined);
        if (missing.length > 0) this.broker.end(session, `participant ${missing.join(' and ')} did not reconnect within ${graceMs} ms of the master takeover`);
      }
    }, graceMs);
    this.restoreTimer.unref();
  }
}

/** Base URL of the site as customers reach it: the port is left out when it is 443. */
function siteUrl(hostname: string, port: number): string {
  return port === 443 ? `https://${hostname}` : `https://${hostname}:${port}`;
}
