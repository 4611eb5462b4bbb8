import { startCluster, type Cluster } from '../launcher/cluster.js';
import { formatNumber, summarise } from './stats.js';
import type { BenchResult } from './types.js';

/** Sessions measured, one after another, on one cluster. */
export const SESSION_SETUP_COUNT = 100;
/** Time one session may take before the benchmark gives up. */
const STEP_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 5;

interface StreamReply {
  stream: string;
  direction: string;
  firstFrameMs: number | null;
}

/**
 * Measures session set-up: from the representative's AcceptRequest to the
 * first verified frame of the customer's screen at the representative, over
 * real client processes, the master and two traffic nodes. Each session
 * carries a few small frames and is ended before the next one.
 */
export async function benchSessionSetup(options: { sessions?: number } = {}): Promise<BenchResult> {
  const sessions = options.sessions ?? SESSION_SETUP_COUNT;
  const cluster = await startCluster({ frames: { count: 3, sizeBytes: 16 * 1024, intervalMs: 0 } });
  try {
    const { rep, customer } = participants(cluster);
    const setupMs: number[] = [];
    for (let index = 0; index < sessions; index += 1) {
      setupMs.push(await runOneSession(cluster, rep, customer, index));
    }
    const summary = summarise(setupMs);
    return {
      name: 'session set-up',
      lines: [
        `${sessions} sessions, AcceptRequest -> first verified frame at the representative`,
        `p50 ${formatNumber(summary.p50, 1)} ms (target < 15), p99 ${formatNumber(summary.p99, 1)} ms (target < 50), max ${formatNumber(summary.max, 1)} ms`,
      ],
      metrics: { sessions, p50Ms: summary.p50, p99Ms: summary.p99, maxMs: summary.max },
    };
  } finally {
    await cluster.close({ removeRunDir: true });
  }
}

function participants(cluster: Cluster): { rep: string; customer: string } {
  const clients = cluster.topology.clients;
  const rep = clients.find((client) => client.role === 'representative');
  const customer = clients.find((client) => client.role === 'customer');
  if (rep === undefined || customer === undefined) throw new Error('the benchmark topology needs one representative and one customer');
  return { rep: rep.name, customer: customer.name };
}

async function runOneSession(cluster: Cluster, rep: string, customer: string, index: number): Promise<number> {
  await cluster.request(customer, 'request-support', { issue: `benchmark session ${index}` });
  await waitUntil(async () => ((await cluster.request(rep, 'queue')) as { entries: unknown[] }).entries.length > 0, `customer in the queue for session ${index}`);
  await cluster.request(rep, 'accept', {});
  const first = await waitForValue(async () => {
    const stats = (await cluster.request(rep, 'stats')) as { streams: StreamReply[] };
    return stats.streams.find((stream) => stream.direction === 'subscribe' && stream.firstFrameMs !== null)?.firstFrameMs ?? undefined;
  }, `first frame of session ${index}`);
  await cluster.request(rep, 'end-session', { reason: 'benchmark' });
  await waitUntil(async () => {
    const [repStatus, customerStatus] = (await Promise.all([cluster.request(rep, 'status'), cluster.request(customer, 'status')])) as { sessionId?: string }[];
    return repStatus?.sessionId === undefined && customerStatus?.sessionId === undefined;
  }, `end of session ${index}`);
  return first;
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  await waitForValue(async () => ((await check()) ? true : undefined), what);
}

async function waitForValue<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}
