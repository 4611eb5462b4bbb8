import { readFile } from 'node:fs/promises';
import { ADMIN_PATHS, type SyncReport } from '../admin/api-types.js';
import { DEFAULT_PEER_TO_PEER } from '../config/peer-to-peer.js';
import type { Topology } from '../config/topology.js';
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { formatNumber, summarise } from './stats.js';
import type { BenchResult } from './types.js';

/** Traffic nodes the benchmark syncs to. */
export const SYNC_BENCH_NODES = 50;
/** Measured syncs after the first one, each after one configuration change. */
export const SYNC_BENCH_ROUNDS = 10;
/** Startup allowance for 50 node processes on a busy 2-core machine. */
const START_TIMEOUT_MS = 180_000;

/** Returns a topology of `count` traffic nodes in two prefix regions. */
export function syncBenchTopology(count: number): Topology {
  const trafficNodes = Array.from({ length: count }, (_unused, index) => ({
    name: `traffic${String(index + 1).padStart(2, '0')}`,
    model: 'Virtual' as const,
    accepting: true,
    prefixes: [index % 2 === 0 ? '127.20.0.0/16' : '127.30.0.0/16'],
    timezone: index % 2 === 0 ? 'America/New_York' : 'Europe/Berlin',
    srvPriority: 10,
    srvWeight: 100,
  }));
  return {
    clusterName: 'sync-bench',
    method: 'random',
    heartbeat: { intervalMs: 1000, timeoutMs: 4000 },
    masters: [{ name: 'master1', model: 'Virtual' }],
    trafficNodes,
    clients: [],
    frames: { count: 1, sizeBytes: 1024, intervalMs: 0 },
    publicStun: false,
    peerToPeer: { ...DEFAULT_PEER_TO_PEER },
  };
}

/** Resident memory of one process in MiB, read from /proc; undefined where /proc is missing. */
async function residentMiB(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
    return Number.isFinite(kib) ? kib / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Measures Sync Now on the primary master with 50 traffic nodes, each a
 * real node process on its own loopback address, as the launcher starts
 * them. The first sync is the launcher's, which also opens every appliance
 * link (TLS and the pre-shared key handshake). Each measured round changes
 * one node's timezone through the admin API, then runs Sync Now. The master
 * pushes the whole configuration over the open links, several nodes at a
 * time. Each node writes it atomically (with fsync) and acknowledges it,
 * and the master records the synced version. The reply's durationMs is the
 * master's own measure; the round trip adds the HTTPS request.
 */
export async function benchSyncNow(options: { nodes?: number; rounds?: number } = {}): Promise<BenchResult> {
  const nodes = options.nodes ?? SYNC_BENCH_NODES;
  const rounds = options.rounds ?? SYNC_BENCH_ROUNDS;
  const startedMs = performance.now();
  const cluster = await startCluster({ topology: syncBenchTopology(nodes), seed: 'sync-bench', startClients: false, readyTimeoutMs: START_TIMEOUT_MS, formationTimeoutMs: START_TIMEOUT_MS });
  const startMs = performance.now() - startedMs;
  try {
    return await measure(cluster, nodes, rounds, startMs);
  } finally {
    await cluster.close({ removeRunDir: true });
  }
}

async function measure(cluster: Cluster, nodes: number, rounds: number, startMs: number): Promise<BenchResult> {
  const first = cluster.firstSync;
  const masterDurations: number[] = [];
  const roundTrips: number[] = [];
  const slowestNode: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const node = cluster.topology.trafficNodes[round % nodes]!;
    await cluster.admin.patch(ADMIN_PATHS.clusterNode(node.name), { timezone: `+0${round % 10}:00` });
    const sentMs = performance.now();
    const report = await cluster.admin.post<SyncReport>(ADMIN_PATHS.sync);
    roundTrips.push(performance.now() - sentMs);
    if (report.failed > 0) throw new Error(`sync round ${round + 1} failed for ${report.nodes.filter((entry) => !entry.ok).map((entry) => `${entry.name}: ${entry.message}`).join('; ')}`);
    masterDurations.push(report.durationMs);
    slowestNode.push(Math.max(...report.nodes.map((entry) => entry.durationMs)));
  }

  const memory = await Promise.all([...cluster.nodes.values()].filter((handle) => handle.role === 'traffic').map((handle) => residentMiB(handle.pid)));
  const knownMemory = memory.filter((value): value is number => value !== undefined);
  const master = summarise(masterDurations);
  const trip = summarise(roundTrips);
  const slowest = summarise(slowestNode);
  return {
    name: `Sync Now to ${nodes} traffic nodes`,
    lines: [
      `${nodes} traffic node processes started and synced once in ${formatNumber(startMs / 1000, 1)} s; first sync (opens every link) ${first?.durationMs ?? 'n/a'} ms`,
      `${rounds} syncs after one change each, master's duration: median ${formatNumber(master.p50, 0)} ms, max ${formatNumber(master.max, 0)} ms (target < 500)`,
      `round trip of the HTTPS request: median ${formatNumber(trip.p50, 0)} ms, max ${formatNumber(trip.max, 0)} ms; slowest node per sync: median ${formatNumber(slowest.p50, 0)} ms`,
      knownMemory.length === 0 ? 'node memory: /proc not available' : `node processes' resident memory: ${formatNumber(knownMemory.reduce((sum, value) => sum + value, 0), 0)} MiB in total, ${formatNumber(summarise(knownMemory).p50, 0)} MiB median`,
    ],
    metrics: {
      nodes,
      rounds,
      startMs,
      firstSyncMs: first?.durationMs ?? Number.NaN,
      medianSyncMs: master.p50,
      maxSyncMs: master.max,
      medianRoundTripMs: trip.p50,
      nodeMemoryMiB: knownMemory.reduce((sum, value) => sum + value, 0),
    },
  };
}
