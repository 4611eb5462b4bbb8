import type { ClusterInfo, ClusterProcessInfo } from '../config/cluster-info.js';
import { errorMessage } from '../util/errors.js';
import { isProcessRunning } from './address-block.js';
import type { Cluster } from './cluster.js';
import type { SupervisorRecord } from './supervisor.js';
import { formatTable } from './text-table.js';

/** Time one node gets to reply to a `status` request before it is shown as not responding. */
const NODE_STATUS_TIMEOUT_MS = 5_000;

/** One process in `atlas-sim status`. */
export interface ProcessStatus {
  role: ClusterProcessInfo['role'];
  name: string;
  hostname: string;
  address: string;
  pid: number;
  /**
   * `connected` (a traffic node linked to the master), `disconnected`,
   * `serving` (the primary master), `backup` (the backup master), `running`, `not responding`, `exited`, or
   * `stopped` when no supervisor runs.
   */
  state: string;
  /** Configuration version the process applied: the master's current version, a traffic node's applied one. */
  configVersion?: number;
}

export interface ClusterStatus {
  clusterName: string;
  /** Seed of every random choice in the cluster; pass it to `up --seed` to replay the run's choices. */
  seed: string;
  runDir: string;
  /** True while the supervising launcher process runs. */
  running: boolean;
  supervisor?: Pick<SupervisorRecord, 'pid' | 'state' | 'detached' | 'startedAt'>;
  /** Version of the master's current configuration and of the last one synced to the traffic nodes. */
  configVersion?: number;
  syncedVersion?: number;
  syncRequired: boolean;
  /** The primary master's STUN role while it serves: `host:port` clients query and the bound address. */
  masterStun?: { endpoint: string; address: string };
  nodes: ProcessStatus[];
  clients: ProcessStatus[];
  warnings: string[];
}

/** Fields of the master's `status` reply this report reads. */
interface MasterStatusReply {
  role?: 'primary' | 'backup';
  term?: number;
  configVersion?: number;
  syncedVersion?: number;
  syncRequired?: boolean;
  /** The master's "sync required" warning, worded as the admin API and `atlas-sim cluster show` word it. */
  syncWarning?: string;
  nodes?: { name: string; online: boolean; appliedConfigVersion: number }[];
  stun?: { endpoint: string; address: string };
}

/** Fields of a traffic node's `status` reply this report reads. */
interface TrafficStatusReply {
  appliedConfigVersion?: number;
  masterConnected?: boolean;
}

/** Asks every process of a running cluster for its state over IPC. */
export async function collectClusterStatus(cluster: Cluster, record: SupervisorRecord): Promise<ClusterStatus> {
  const info = cluster.info;
  const warnings: string[] = [];
  // With a failover pair, the primary of the highest term reports the traffic nodes and the versions.
  const masters = info.nodes.filter((node) => node.role === 'master' && cluster.process(node.name).running);
  const masterReplies = new Map<string, MasterStatusReply | undefined>();
  for (const master of masters) masterReplies.set(master.name, await requestStatus<MasterStatusReply>(cluster, master.name, warnings));
  const primaries = [...masterReplies.values()].filter((reply) => reply !== undefined && reply.role !== 'backup');
  const masterReply = primaries.sort((a, b) => (b?.term ?? 0) - (a?.term ?? 0))[0];
  const onlineAtMaster = new Set((masterReply?.nodes ?? []).filter((node) => node.online).map((node) => node.name));

  const nodes = await Promise.all(
    info.nodes.map(async (node): Promise<ProcessStatus> => {
      const row = baseRow(node);
      if (!cluster.process(node.name).running) return { ...row, state: 'exited' };
      if (node.role === 'master') {
        const reply = masterReplies.get(node.name);
        const state = reply === undefined ? 'not responding' : reply.role === 'backup' ? 'backup' : 'serving';
        return { ...row, state, configVersion: reply?.configVersion };
      }
      if (node.role !== 'traffic') return { ...row, state: 'running' };

      const reply = await requestStatus<TrafficStatusReply>(cluster, node.name, warnings);
      if (reply === undefined) return { ...row, state: 'not responding' };
      const connected = reply.masterConnected === true && onlineAtMaster.has(node.name);
      return { ...row, state: connected ? 'connected' : 'disconnected', configVersion: reply.appliedConfigVersion };
    }),
  );
  const clients = info.clients.map((client): ProcessStatus => ({ ...baseRow(client), state: cluster.process(client.name).running ? 'running' : 'exited' }));
  const exited = exitedNodesWarning(nodes);
  if (exited !== undefined) warnings.unshift(exited);

  const syncRequired = masterReply?.syncRequired === true;
  if (syncRequired) {
    warnings.unshift(masterReply?.syncWarning ?? `sync required: configuration version ${masterReply?.configVersion ?? '?'} has changes not synced to the traffic nodes (last synced version ${masterReply?.syncedVersion ?? 0}); run a cluster sync`);
  }
  return {
    clusterName: info.clusterName,
    seed: info.seed,
    runDir: info.runDir,
    running: true,
    supervisor: { pid: record.pid, state: record.state, detached: record.detached, startedAt: record.startedAt },
    configVersion: masterReply?.configVersion,
    syncedVersion: masterReply?.syncedVersion,
    syncRequired,
    ...(masterReply?.stun === undefined ? {} : { masterStun: { endpoint: masterReply.stun.endpoint, address: masterReply.stun.address } }),
    nodes,
    clients,
    warnings,
  };
}

/**
 * Builds the status of a cluster whose supervisor does not reply, from
 * cluster.json and the process table alone: each process is `running` or
 * `stopped`, with no versions.
 */
export function offlineClusterStatus(info: ClusterInfo, record: SupervisorRecord | undefined, reason: string): ClusterStatus {
  const row = (process: ClusterProcessInfo): ProcessStatus => ({ ...baseRow(process), state: isProcessRunning(process.pid) ? 'running' : 'stopped' });
  const nodes = info.nodes.map(row);
  const clients = info.clients.map(row);
  const leftovers = [...nodes, ...clients].filter((process) => process.state === 'running');
  const warnings = [reason];
  if (leftovers.length > 0) warnings.push(`${leftovers.length} process(es) still run without a supervisor: ${leftovers.map((process) => `${process.name} (pid ${process.pid})`).join(', ')}; run atlas-sim down`);
  return {
    clusterName: info.clusterName,
    seed: info.seed,
    runDir: info.runDir,
    running: false,
    supervisor: record === undefined ? undefined : { pid: record.pid, state: record.state, detached: record.detached, startedAt: record.startedAt },
    syncRequired: false,
    nodes,
    clients,
    warnings,
  };
}

/** Renders a status as the text `atlas-sim status` prints. */
export function formatClusterStatus(status: ClusterStatus): string[] {
  const rows = [...status.nodes, ...status.clients].map((process) => [
    process.role,
    process.name,
    process.hostname || '-',
    process.address,
    String(process.pid),
    process.state,
    process.configVersion === undefined ? '-' : String(process.configVersion),
  ]);
  const supervisor = status.supervisor;
  const headline = status.running
    ? `cluster ${status.clusterName} is running (supervisor pid ${supervisor?.pid ?? '?'}${supervisor?.detached === true ? ', in the background' : ''})`
    : `cluster ${status.clusterName} is not running`;
  const versions = status.configVersion === undefined ? [] : [`configuration version ${status.configVersion}, last synced version ${status.syncedVersion ?? 0}`];
  if (status.masterStun !== undefined) versions.push(`master STUN role: ${status.masterStun.endpoint} (UDP on ${status.masterStun.address})`);
  return [
    headline,
    ...versions,
    `seed: ${status.seed}`,
    `run folder: ${status.runDir}`,
    '',
    ...formatTable(['role', 'name', 'hostname', 'address', 'pid', 'state', 'config'], rows),
    ...(status.warnings.length === 0 ? [] : ['', ...status.warnings.map((warning) => `warning: ${warning}`)]),
  ];
}

/** Returns the warning that names every node that has exited while its supervisor runs, or undefined when none has. */
export function exitedNodesWarning(nodes: ProcessStatus[]): string | undefined {
  const exited = nodes.filter((node) => node.state === 'exited');
  if (exited.length === 0) return undefined;
  const names = exited.map((node) => `${node.name} (pid ${node.pid})`).join(', ');
  return `${exited.length} of ${nodes.length} nodes exited: ${names}; start one again with \`atlas-sim chaos restart NAME\`, or stop the cluster with \`atlas-sim down\``;
}

function baseRow(process: ClusterProcessInfo): Omit<ProcessStatus, 'state'> {
  return { role: process.role, name: process.name, hostname: process.hostname, address: process.address, pid: process.pid };
}

async function requestStatus<T>(cluster: Cluster, name: string, warnings: string[]): Promise<T | undefined> {
  try {
    return (await cluster.request(name, 'status', {}, NODE_STATUS_TIMEOUT_MS)) as T;
  } catch (error) {
    warnings.push(`${name} did not answer the status request: ${errorMessage(error)}`);
    return undefined;
  }
}
