/**
 * Detection benchmark: how long the master takes to mark a traffic node
 * offline after the node is killed (SIGKILL: the kernel closes its sockets,
 * so the master's appliance link sees the close at once) and after every
 * link of the node is blackholed (nothing closes; the master's heartbeat
 * timeout has to expire). Each round restores the node and waits until the
 * master reports it online before the next one.
 */
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { formatNumber, summarise } from './stats.js';
import type { BenchResult } from './types.js';

/** Rounds per failure kind. */
export const DETECTION_ROUNDS = 10;
/** Targets for the master marking the node offline, in ms. */
export const KILL_DETECTION_TARGET_MS = 1000;
export const BLACKHOLE_DETECTION_TARGET_MS = 3000;

const VICTIM = 'bench-traffic1';
const ROUND_TIMEOUT_MS = 30_000;

/** Master and two traffic nodes, no clients, default heartbeat unless `heartbeat` overrides it. */
function detectionTopology(): Record<string, unknown> {
  return {
    clusterName: 'bench-detection',
    masters: [{ name: 'master1' }],
    trafficNodes: [
      { name: VICTIM, timezone: 'UTC' },
      { name: 'bench-traffic2', timezone: 'UTC' },
    ],
    clients: [],
  };
}

export async function benchTrafficNodeDetection(options: { rounds?: number; heartbeat?: { intervalMs: number; timeoutMs: number } } = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? DETECTION_ROUNDS;
  const cluster = await startCluster({ topology: detectionTopology(), startClients: false, ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat }) });
  const killed: number[] = [];
  const blackholed: number[] = [];
  try {
    for (let round = 0; round < rounds; round += 1) {
      killed.push(await detectKill(cluster));
      blackholed.push(await detectBlackhole(cluster));
    }
  } finally {
    await cluster.close({ removeRunDir: true });
  }

  const { intervalMs, timeoutMs } = cluster.topology.heartbeat;
  const kill = summarise(killed);
  const hole = summarise(blackholed);
  return {
    name: 'traffic node failure detection',
    lines: [
      `heartbeat interval ${intervalMs} ms, timeout ${timeoutMs} ms; ${rounds} rounds each`,
      `killed node (SIGKILL) -> master marks it offline: median ${formatNumber(kill.p50, 0)} ms, p99 ${formatNumber(kill.p99, 0)} ms, max ${formatNumber(kill.max, 0)} ms (target < ${KILL_DETECTION_TARGET_MS} ms)`,
      `blackholed node -> master marks it offline: median ${formatNumber(hole.p50, 0)} ms, p99 ${formatNumber(hole.p99, 0)} ms, max ${formatNumber(hole.max, 0)} ms (target < ${BLACKHOLE_DETECTION_TARGET_MS} ms)`,
    ],
    metrics: {
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: timeoutMs,
      killP50Ms: kill.p50,
      killP99Ms: kill.p99,
      killMaxMs: kill.max,
      blackholeP50Ms: hole.p50,
      blackholeP99Ms: hole.p99,
      blackholeMaxMs: hole.max,
    },
  };
}

/** Kills the victim, returns the time to the master's node-offline event, then restarts it and waits until it is online. */
async function detectKill(cluster: Cluster): Promise<number> {
  const faultAt = Date.now();
  await cluster.kill(VICTIM);
  const offline = await cluster.waitForEvent({ process: 'master1', event: 'node-offline', where: (data) => data.node === VICTIM }, { sinceMs: faultAt, timeoutMs: ROUND_TIMEOUT_MS });
  await cluster.restart(VICTIM);
  await cluster.waitForNode(VICTIM, { online: true, timeoutMs: ROUND_TIMEOUT_MS });
  return offline.atMs - faultAt;
}

/** Blackholes every link of the victim, returns the time to node-offline, then heals and waits until it is online. */
async function detectBlackhole(cluster: Cluster): Promise<number> {
  const faultAt = Date.now();
  await cluster.faults.link({ id: 'bench-blackhole', a: VICTIM, b: '*', kind: 'blackhole' });
  const offline = await cluster.waitForEvent({ process: 'master1', event: 'node-offline', where: (data) => data.node === VICTIM }, { sinceMs: faultAt, timeoutMs: ROUND_TIMEOUT_MS });
  await cluster.faults.heal('bench-blackhole');
  await cluster.waitForNode(VICTIM, { online: true, timeoutMs: ROUND_TIMEOUT_MS });
  return offline.atMs - faultAt;
}
