import type { AdminClient } from './admin-client.js';
import { ADMIN_PATHS, type ClusterView, type CreateClusterRequest, type SyncReport, type TrafficNodeRequest } from './api-types.js';

/** A whole cluster as an administrator enters it on the cluster page. */
export interface ClusterBlueprint {
  master: CreateClusterRequest;
  trafficNodes: TrafficNodeRequest[];
  method: string;
}

/** Result of building a cluster: the cluster page after the last change and the sync report. */
export interface BuiltCluster {
  cluster: ClusterView;
  sync: SyncReport;
}

/**
 * Builds a cluster through the admin API of its primary master, the way an
 * administrator does: create the cluster, add each traffic node, set the
 * method, then Sync Now. Throws AdminApiError when a step is rejected; a
 * sync in which some nodes failed resolves, and the report lists them.
 */
export async function buildCluster(client: AdminClient, blueprint: ClusterBlueprint): Promise<BuiltCluster> {
  await client.post<ClusterView>(ADMIN_PATHS.cluster, blueprint.master);
  for (const node of blueprint.trafficNodes) await client.post<ClusterView>(ADMIN_PATHS.clusterNodes, node);
  const cluster = await client.put<ClusterView>(ADMIN_PATHS.method, { method: blueprint.method });
  const sync = await client.post<SyncReport>(ADMIN_PATHS.sync);
  return { cluster, sync };
}
