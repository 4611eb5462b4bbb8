// Library entry of atlas-sim: start an isolated cluster from code, drive its
// processes over IPC, and tear it down.
export { startCluster, Cluster, STOP_GRACE_MS, type StartClusterOptions, type CloseOptions, type UnexpectedExit } from './launcher/cluster.js';
export type { EventMatch, StartSessionOptions, StartedSession, StreamStats, WaitOptions } from './launcher/cluster-driver.js';
export { waitFor, streamStats, waitForFrames } from './launcher/cluster-driver.js';
export type { FaultLayer } from './launcher/fault-layer.js';
export { PROCESS_FAULTS, type ProcessFault } from './launcher/process-faults.js';
export { EVERY_PROCESS, type LinkFault, type LinkDirection, type ValidLinkFault } from './netfault/link-fault.js';
export type { FaultKind } from './netfault/fault-rule.js';
export type { MasterStatusReport, NodeStatusReport, ConnectedClientReport } from './master/status-report.js';
export type { SessionConnection } from './master/session-broker.js';
export type { ConnectedClient as SessionClientReport } from './traffic/client-registry.js';
export { runExperiment, type ExperimentResult, type RunExperimentOptions, type MeasurementSummary, type InvariantSummary } from './experiments/runner.js';
export { EXPERIMENTS, findExperiment } from './experiments/registry.js';
export { ExperimentContext, type ExperimentDefinition, type RepeatResult, type TimelineEntry, type InvariantResult } from './experiments/experiment.js';
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
  type ResolverSpec,
  type AnycastSpec,
  type AnycastRouteSpec,
} from './config/topology.js';
export { readClusterInfo, type ClusterInfo, type ClusterProcessInfo, type ProcessRole } from './config/cluster-info.js';
export { AdminClient, AdminApiError, type AdminClientOptions } from './admin/admin-client.js';
export { CommandApiClient, masterEndpoints, type MasterEndpoint, type HttpsReply } from './launcher/command-api-client.js';
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
