import type { AdminClient } from './admin-client.js';
import { ADMIN_PATHS, type ClusterView, type CreateClusterRequest, type PeerToPeerRequest, type SyncReport, type TrafficNodeRequest } from './api-types.js';

/** A whole cluster as an administrator enters it on the cluster page. */
export interface ClusterBlueprint {
  master: CreateClusterRequest;
  trafficNodes: TrafficNodeRequest[];
  method: string;
  /** Peer-to-peer settings; left at the master's defaults (off) when absent. */
  peerToPeer?: PeerToPeerRequest;
}

/** Result of building a cluster: the cluster page after the last change and the sync report. */
export interface BuiltCluster {
  cluster: ClusterView;
  sync: SyncReport;
}

/**
 * Builds a cluster through the admin API of its primary master, the way an
 * administrator does: create the cluster, add each traffic node, set the
 * method and the peer-to-peer settings, then Sync Now. Throws AdminApiError when a step is rejected; a
 * sync in which some nodes failed resolves, and the report lists them.
 */
export async function buildCluster(client: AdminClient, blueprint: ClusterBlueprint): Promise<BuiltCluster> {
  await client.post<ClusterView>(ADMIN_PATHS.cluster, blueprint.master);
  for (const node of blueprint.trafficNodes) await client.post<ClusterView>(ADMIN_PATHS.clusterNodes, node);
  let cluster = await client.put<ClusterView>(ADMIN_PATHS.method, { method: blueprint.method });
  if (blueprint.peerToPeer !== undefined) cluster = await client.put<ClusterView>(ADMIN_PATHS.peerToPeer, blueprint.peerToPeer);
  const sync = await client.post<SyncReport>(ADMIN_PATHS.sync);
  return { cluster, sync };
}
