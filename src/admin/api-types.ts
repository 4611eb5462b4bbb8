// JSON shapes of the admin HTTPS API, shared by the appliances that serve it
// and the CLI, launcher and tests that call it.

/** Paths of the admin API. Cluster paths exist on the primary master; security and node paths on every appliance. */
export const ADMIN_PATHS = {
  cluster: '/api/cluster',
  clusterNodes: '/api/cluster/nodes',
  clusterNode: (name: string): string => `/api/cluster/nodes/${encodeURIComponent(name)}`,
  method: '/api/cluster/method',
  peerToPeer: '/api/cluster/peer-to-peer',
  sync: '/api/cluster/sync',
  history: '/api/cluster/history',
  disband: '/api/cluster/disband',
  route: '/api/route',
  security: '/api/security',
  preSharedKey: '/api/security/pre-shared-key',
  node: '/api/node',
  leave: '/api/node/leave',
} as const;

/** Body of `POST /api/cluster`: the primary master node of a new cluster. */
export interface CreateClusterRequest {
  /** Name of the primary master node in the cluster, unique among all nodes. */
  name: string;
  /** `host:port` clients use; a hostname, never an IP address or the site hostname. */
  publicAddress: string;
  /** `host:port` other appliances use; may equal the public address. */
  internalAddress: string;
  /** Name shown in logs and reports; `atlas-sim` when absent. */
  clusterName?: string;
}

/**
 * Body of `POST /api/cluster/nodes` (every field but the optional ones is
 * required) and of `PATCH /api/cluster/nodes/NAME` (only the fields to change).
 */
export interface TrafficNodeRequest {
  name?: string;
  publicAddress?: string;
  internalAddress?: string;
  /** B300, B400 or Virtual; Virtual when absent on add. */
  model?: string;
  /** Accepting new client connections; true when absent on add. Takes effect at once, without a sync. */
  accepting?: boolean;
  /** Network address prefixes, one line each: `a.b.c.d[/mask]`. */
  prefixes?: string[];
  /** IANA zone name or fixed offset `+HH:MM`; empty for none. */
  timezone?: string;
  /** SRV record priority and weight (RFC 2782) for the SRV record lookup method. */
  srvPriority?: number;
  srvWeight?: number;
}

/** Body of `PUT /api/cluster/method`. */
export interface MethodRequest {
  method: string;
}

/**
 * Body of `PUT /api/cluster/peer-to-peer` (only the fields to change) and the
 * `peerToPeer` part of the cluster page.
 */
export interface PeerToPeerRequest {
  /** Clients try a direct path at session start. */
  enabled?: boolean;
  /** `public` (clients query publicStunServer) or `master` (the primary master serves STUN). */
  stunRole?: string;
  /** `host:port` of the public STUN server; a hostname, never an IP address. */
  publicStunServer?: string;
  /** Skip the direct attempt, so every session takes the traffic-node path. */
  forceRelay?: boolean;
  /** Time a direct attempt may take, in milliseconds. */
  timeoutMs?: number;
}

/** Peer-to-peer settings as the cluster page shows them. */
export type PeerToPeerView = Required<PeerToPeerRequest>;

/** One node of the cluster configuration. */
export interface MemberView {
  name: string;
  role: 'primary' | 'backup' | 'traffic';
  /** 32 hex digits the node reported; empty until the master has reached it. */
  applianceGuid: string;
  publicAddress: string;
  internalAddress: string;
  model: string;
  accepting: boolean;
  prefixes: string[];
  timezone: string;
  srvPriority: number;
  srvWeight: number;
}

/** A traffic node with its live state as the master sees it over the appliance link. */
export interface TrafficNodeView extends MemberView {
  online: boolean;
  /** Configuration version the node reported; 0 before it reported one. */
  appliedConfigVersion: number;
  /** True when the node applied the last synced configuration. */
  configCurrent: boolean;
  /** Last problem of the appliance link, such as a key mismatch; empty when there is none. */
  problem: string;
}

/** Reply of `GET /api/cluster` and of every change to the cluster. */
export interface ClusterView {
  inCluster: boolean;
  clusterName: string;
  siteHostname: string;
  method: string;
  /** Version of the configuration as last changed. */
  version: number;
  /** Version traffic nodes were last given by a sync; 0 before the first sync. */
  syncedVersion: number;
  /** True from a change until the next sync. */
  syncRequired: boolean;
  syncInProgress: boolean;
  peerToPeer: PeerToPeerView;
  /** Sync required, mixed traffic node models, nodes not on the synced version. */
  warnings: string[];
  master: MemberView | null;
  backup: MemberView | null;
  trafficNodes: TrafficNodeView[];
}

/** Outcome of Sync Now for one traffic node. */
export interface NodeSyncResult {
  name: string;
  ok: boolean;
  /** 0 on success, otherwise the protocol ErrorCode of the failure. */
  code: number;
  codeName: string;
  message: string;
  durationMs: number;
}

/** Reply of `POST /api/cluster/sync`. */
export interface SyncReport {
  version: number;
  startedAtMs: number;
  finishedAtMs: number;
  durationMs: number;
  succeeded: number;
  failed: number;
  nodes: NodeSyncResult[];
  /** Nodes removed since the last sync, each notified that it is no longer in the cluster. */
  removed: RemovedNodeResult[];
}

/** Outcome of telling a removed traffic node, during Sync Now, that it left the cluster. */
export interface RemovedNodeResult {
  name: string;
  notified: boolean;
  /** Reason the node could not be notified; run `atlas-sim node leave` on it. */
  reason?: string;
}

/** One row of a status history, as the cluster page lists it. */
export interface HistoryEntryView {
  atMs: number;
  /** ISO 8601 time in UTC. */
  time: string;
  /** 0 for success; otherwise the protocol ErrorCode of the failure. */
  code: number;
  message: string;
}

/** Reply of `POST /api/cluster/disband`. */
export interface DisbandReport {
  /** Configuration version that records the cluster as disbanded. */
  version: number;
  notified: string[];
  /** Nodes that could not be notified; run `atlas-sim node leave` on each. */
  unreachable: { name: string; reason: string }[];
}

/** Reply of `GET /api/security`; never contains the key. */
export interface SecurityView {
  preSharedKeySet: boolean;
  /** `admin` once set through the Security page, `launcher` while the key file the launcher wrote is used. */
  source: 'admin' | 'launcher';
  /** Time of the last change through the Security page; absent for the launcher's key. */
  changedAtMs?: number;
}

/** Body of `PUT /api/security/pre-shared-key`. */
export interface SetPreSharedKeyRequest {
  preSharedKey: string;
}

/** Reply of `GET /api/node` on a traffic node. */
export interface NodeView {
  name: string;
  role: 'traffic';
  applianceGuid: string;
  appliedConfigVersion: number;
  inCluster: boolean;
  accepting: boolean;
  masterConnected: boolean;
}

/** Reply of `POST /api/node/leave`. */
export interface LeaveReport {
  name: string;
  /** Configuration version the node held before it left; 0 when it held none. */
  forgottenVersion: number;
}

/** Warning shown from a configuration change until the next sync. */
export function syncRequiredWarning(version: number, syncedVersion: number): string {
  return `sync required: configuration version ${version} has changes the traffic nodes have not received (last synced version ${syncedVersion}); run \`atlas-sim cluster sync\``;
}
