import { ADMIN_PATHS } from '../admin/api-types.js';
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { formatNumber, summarise } from './stats.js';
import type { BenchResult } from './types.js';

/** Sessions measured on each path. */
export const P2P_SESSIONS_PER_PATH = 5;
/** Frames of the customer's screen per session: 32 MiB at 64 KiB, sent as fast as the sockets take them. */
export const P2P_FRAME_COUNT = 512;
export const P2P_FRAME_BYTES = 64 * 1024;
const STEP_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 5;

interface StreamReply {
  stream: string;
  direction: string;
  node: string;
  verified: number;
  lost: number;
  firstFrameMs: number | null;
  lastFrameMs: number | null;
}

interface SessionMeasure {
  path: string;
  /** AcceptRequest to the first verified frame at the representative, in ms. */
  firstFrameMs: number;
  /** MiB/s from the first to the last verified frame. */
  throughputMiBps: number;
}

/** Returns a cluster of two traffic nodes and one master serving STUN, with peer to peer on and clients without NAT. */
function topology(): Record<string, unknown> {
  return {
    clusterName: 'p2p-bench',
    masters: [{ name: 'master1' }],
    trafficNodes: [
      { name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' },
      { name: 'eu-traffic1', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' },
    ],
    clients: [
      { name: 'rep-us', role: 'representative', address: '127.20.0.9', timezone: 'America/New_York' },
      { name: 'customer-eu', role: 'customer', address: '127.30.0.9', timezone: 'Europe/Berlin' },
    ],
    frames: { count: P2P_FRAME_COUNT, sizeBytes: P2P_FRAME_BYTES, intervalMs: 0 },
    peerToPeer: { enabled: true, stunRole: 'master' },
  };
}

/**
 * Compares the direct path with the traffic-node path on one cluster in one
 * run, with real client processes: the customer's screen stream
 * throughput at the representative, and the time from the representative's
 * AcceptRequest to the first verified frame. The traffic-node sessions run
 * with force relay set through the admin API, so both paths use the same
 * processes. The direct figure includes the STUN query, the signalling, the
 * connectivity checks and the direct TLS handshake.
 */
export async function benchPeerToPeer(options: { sessions?: number } = {}): Promise<BenchResult> {
  const sessions = options.sessions ?? P2P_SESSIONS_PER_PATH;
  // Without the fault layer, so the traffic-node path is not slowed by its proxy, which the direct path never passes.
  const cluster = await startCluster({ topology: topology(), faultLayer: false });
  try {
    const direct = await measurePath(cluster, 'direct', sessions);
    await setForceRelay(cluster, true);
    const relay = await measurePath(cluster, 'relay', sessions);
    const directFirst = summarise(direct.map((entry) => entry.firstFrameMs));
    const relayFirst = summarise(relay.map((entry) => entry.firstFrameMs));
    const directRate = summarise(direct.map((entry) => entry.throughputMiBps));
    const relayRate = summarise(relay.map((entry) => entry.throughputMiBps));
    const megabytes = (P2P_FRAME_COUNT * P2P_FRAME_BYTES) / 2 ** 20;
    return {
      name: 'peer to peer',
      lines: [
        `${sessions} sessions per path, customer screen of ${P2P_FRAME_COUNT} frames of ${P2P_FRAME_BYTES / 1024} KiB (${formatNumber(megabytes, 0)} MiB) to the representative`,
        `throughput p50: direct ${formatNumber(directRate.p50, 1)} MiB/s, through a traffic node ${formatNumber(relayRate.p50, 1)} MiB/s, ratio direct/relay ${formatNumber(directRate.p50 / relayRate.p50)}`,
        `AcceptRequest -> first verified frame p50: direct ${formatNumber(directFirst.p50, 1)} ms (max ${formatNumber(directFirst.max, 1)}), through a traffic node ${formatNumber(relayFirst.p50, 1)} ms (max ${formatNumber(relayFirst.max, 1)})`,
      ],
      metrics: {
        sessions,
        directMiBps: directRate.p50,
        relayMiBps: relayRate.p50,
        throughputRatio: directRate.p50 / relayRate.p50,
        directFirstFrameP50Ms: directFirst.p50,
        relayFirstFrameP50Ms: relayFirst.p50,
      },
    };
  } finally {
    await cluster.close({ removeRunDir: true });
  }
}

/** Sets force relay and syncs, so the next sessions skip the direct attempt (or make it again). */
async function setForceRelay(cluster: Cluster, forceRelay: boolean): Promise<void> {
  await cluster.admin.put(ADMIN_PATHS.peerToPeer, { forceRelay });
  await cluster.admin.post(ADMIN_PATHS.sync);
}

async function measurePath(cluster: Cluster, expected: 'direct' | 'relay', sessions: number): Promise<SessionMeasure[]> {
  const measures: SessionMeasure[] = [];
  for (let index = 0; index < sessions; index += 1) {
    const measure = await runOneSession(cluster, index);
    if (measure.path !== expected) throw new Error(`session ${index} took the ${measure.path} path; the benchmark expected ${expected}`);
    measures.push(measure);
  }
  return measures;
}

async function runOneSession(cluster: Cluster, index: number): Promise<SessionMeasure> {
  const rep = 'rep-us';
  const customer = 'customer-eu';
  await cluster.request(customer, 'request-support', { issue: `peer-to-peer benchmark session ${index}` });
  await waitUntil(async () => ((await cluster.request(rep, 'queue')) as { entries: unknown[] }).entries.length > 0, `customer in the queue for session ${index}`);
  await cluster.request(rep, 'accept', {});
  const stats = (await cluster.request(rep, 'wait-streams', { timeoutMs: STEP_TIMEOUT_MS }, STEP_TIMEOUT_MS + 5000)) as { streams: StreamReply[]; path?: { path: string } };
  const stream = stats.streams.find((entry) => entry.direction === 'subscribe');
  if (stream?.firstFrameMs == null || stream.lastFrameMs == null || stream.lost !== 0) {
    throw new Error(`session ${index}: the customer's screen arrived incomplete (${JSON.stringify(stream)})`);
  }
  await cluster.request(rep, 'end-session', { reason: 'benchmark' });
  await waitUntil(async () => {
    const statuses = (await Promise.all([cluster.request(rep, 'status'), cluster.request(customer, 'status')])) as { sessionId?: string }[];
    return statuses.every((status) => status.sessionId === undefined);
  }, `end of session ${index}`);

  // The first frame's bytes arrive before the clock starts, so throughput counts the frames after it.
  const seconds = Math.max(1, stream.lastFrameMs - stream.firstFrameMs) / 1000;
  return { path: stats.path?.path ?? '', firstFrameMs: stream.firstFrameMs, throughputMiBps: ((stream.verified - 1) * P2P_FRAME_BYTES) / 2 ** 20 / seconds };
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
