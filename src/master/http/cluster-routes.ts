import { ADMIN_PATHS, syncRequiredWarning, type ClusterView, type HistoryEntryView, type MemberView, type PeerToPeerView, type TrafficNodeView } from '../../admin/api-types.js';
import { DEFAULT_PEER_TO_PEER } from '../../config/peer-to-peer.js';
import { badRequest, type HttpRouter } from '../../net/http/router.js';
import type { ClusterConfig, IClusterMember } from '../../protocol/messages.js';
import type { ApplianceLinks } from '../appliance-links.js';
import type { ClusterAdmin } from '../cluster-admin.js';
import { isInCluster, type ClusterConfigStore } from '../cluster-config-store.js';
import { formatHostPort, mixedModelWarning } from '../member-validation.js';
import type { StatusHistory, StatusEntry } from '../status-history.js';
import type { SyncCoordinator } from '../sync-coordinator.js';

export interface ClusterRoutesDeps {
  store: ClusterConfigStore;
  admin: ClusterAdmin;
  sync: SyncCoordinator;
  links: ApplianceLinks;
  history: StatusHistory;
}

function memberView(member: IClusterMember): MemberView {
  return {
    name: member.name ?? '',
    role: (member.role ?? 'traffic') as MemberView['role'],
    applianceGuid: member.applianceGuid ?? '',
    publicAddress: formatHostPort(member.publicHost, member.publicPort),
    internalAddress: formatHostPort(member.internalHost, member.internalPort),
    model: member.model ?? '',
    accepting: member.accepting ?? false,
    prefixes: [...(member.prefixes ?? [])],
    timezone: member.timezone ?? '',
    srvPriority: member.srvPriority ?? 0,
    srvWeight: member.srvWeight ?? 0,
  };
}

/** Builds the cluster page: the current configuration, the sync state and the live state of each traffic node. */
export function clusterView(deps: Pick<ClusterRoutesDeps, 'store' | 'sync' | 'links'>): ClusterView {
  const { store, links } = deps;
  const config = store.current;
  const syncedVersion = store.syncedVersion;
  const inCluster = isInCluster(config);
  const syncRequired = inCluster && store.syncRequired;

  const trafficNodes = config.members.filter((member) => member.role === 'traffic').map((member): TrafficNodeView => {
    const link = links.get(member.name ?? '');
    const state = link?.state;
    const view = memberView(member);
    return {
      ...view,
      applianceGuid: view.applianceGuid || state?.applianceGuid || '',
      online: state?.online ?? false,
      appliedConfigVersion: state?.appliedConfigVersion ?? 0,
      configCurrent: state !== undefined && state.appliedConfigVersion === syncedVersion,
      problem: link?.problem ?? 'not synced yet',
    };
  });

  const warnings: string[] = [];
  if (syncRequired) warnings.push(syncRequiredWarning(config.version, syncedVersion));
  const mixed = mixedModelWarning(config);
  if (mixed !== undefined) warnings.push(mixed);
  const behind = trafficNodes.filter((node) => links.get(node.name) !== undefined && !node.configCurrent);
  if (inCluster && syncedVersion > 0 && behind.length > 0) {
    warnings.push(`traffic nodes not on the synced version ${syncedVersion}: ${behind.map((node) => `${node.name} (version ${node.appliedConfigVersion}${node.online ? '' : ', offline'})`).join(', ')}`);
  }

  const master = config.members.find((member) => member.role === 'primary');
  const backup = config.members.find((member) => member.role === 'backup');
  return {
    inCluster,
    clusterName: config.clusterName,
    siteHostname: config.siteHostname,
    method: config.method,
    version: config.version,
    syncedVersion,
    syncRequired,
    syncInProgress: deps.sync.syncInProgress,
    peerToPeer: peerToPeerView(config),
    warnings,
    master: master === undefined ? null : memberView(master),
    backup: backup === undefined ? null : memberView(backup),
    trafficNodes,
  };
}

/** Peer-to-peer settings of a configuration as the cluster page shows them. */
export function peerToPeerView(config: ClusterConfig): PeerToPeerView {
  return {
    enabled: config.p2pEnabled,
    stunRole: config.stunRole || DEFAULT_PEER_TO_PEER.stunRole,
    publicStunServer: config.stunServer,
    forceRelay: config.forceRelay,
    timeoutMs: config.p2pTimeoutMs || DEFAULT_PEER_TO_PEER.timeoutMs,
  };
}

/** Converts status history entries to the admin API form, oldest first. */
export function historyView(entries: readonly StatusEntry[]): HistoryEntryView[] {
  return entries.map((entry) => ({ atMs: entry.atMs, time: new Date(entry.atMs).toISOString(), code: entry.code, message: entry.message }));
}

/**
 * Mounts the cluster page of the primary master: the cluster and its
 * traffic nodes, the method, Sync Now, the status history and Disband.
 * Every change replies with the cluster page, including its warnings.
 */
export function mountClusterRoutes(router: HttpRouter, deps: ClusterRoutesDeps): void {
  const view = (status = 200) => ({ status, body: clusterView(deps) });

  router.get(ADMIN_PATHS.cluster, () => view());
  router.post(ADMIN_PATHS.cluster, async (context) => {
    await deps.admin.create(context.body);
    return view(201);
  });
  router.post(ADMIN_PATHS.clusterNodes, async (context) => {
    await deps.admin.addNode(context.body);
    return view(201);
  });
  router.patch(`${ADMIN_PATHS.clusterNodes}/:name`, async (context) => {
    await deps.admin.editNode(context.params.name ?? '', context.body);
    return view();
  });
  router.delete(`${ADMIN_PATHS.clusterNodes}/:name`, async (context) => {
    await deps.admin.removeNode(context.params.name ?? '');
    return view();
  }, { body: 'none' });
  router.put(ADMIN_PATHS.method, async (context) => {
    await deps.admin.setMethod(context.body);
    return view();
  });
  router.put(ADMIN_PATHS.peerToPeer, async (context) => {
    await deps.admin.setPeerToPeer(context.body);
    return view();
  });
  router.post(ADMIN_PATHS.sync, async () => ({ status: 200, body: await deps.sync.sync() }), { body: 'none' });
  router.post(ADMIN_PATHS.disband, async () => ({ status: 200, body: await deps.sync.disband() }), { body: 'none' });
  router.get(ADMIN_PATHS.history, (context) => {
    const entries = historyView(deps.history.list());
    const limitText = context.query.get('limit');
    if (limitText === null) return { status: 200, body: entries };
    if (!/^[1-9]\d{0,6}$/.test(limitText)) throw badRequest('limit', limitText, 'is not a positive integer; give the number of newest entries to return');
    return { status: 200, body: entries.slice(-Number(limitText)) };
  });
}
