// Library entry of atlas-sim: start an isolated cluster from code, drive its
// processes over IPC, and tear it down.
export { startCluster, Cluster, STOP_GRACE_MS, type StartClusterOptions, type CloseOptions, type UnexpectedExit } from './launcher/cluster.js';
export type { ChildHandle as ProcessHandle, ChildEvent as ProcessEvent, ChildExit as ProcessExit } from './launcher/child-process.js';
export type { ClientStart } from './launcher/cluster-plan.js';
export { DEFAULT_TOPOLOGY } from './config/default-topology.js';
export { validateTopology, loadTopology, validateClientSpec } from './config/topology-validation.js';
export {
  TopologyError,
  type Topology,
  type MasterSpec,
  type TrafficNodeSpec,
  type ClientSpec,
  type ClientRole,
  type FramesSpec,
  type HeartbeatSpec,
  type TopologyProblem,
  type ValidatedTopology,
} from './config/topology.js';
export { readClusterInfo, type ClusterInfo, type ClusterProcessInfo, type ProcessRole } from './config/cluster-info.js';
export { AdminClient, AdminApiError, type AdminClientOptions } from './admin/admin-client.js';
export { ADMIN_PATHS, syncRequiredWarning } from './admin/api-types.js';
export type {
  ClusterView,
  CreateClusterRequest,
  DisbandReport,
  HistoryEntryView,
  LeaveReport,
  MemberView,
  NodeSyncResult,
  NodeView,
  SecurityView,
  SyncReport,
  TrafficNodeRequest,
  TrafficNodeView,
} from './admin/api-types.js';
