import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { startCluster, type Cluster } from '../src/index.js';
import { streamStats } from '../src/launcher/cluster-driver.js';

const TOPOLOGY = {
  clusterName: 'session-reconnect',
  masters: [{ name: 'master1' }],
  trafficNodes: [{ name: 'traffic1', prefixes: ['127.20.0.0/16'], timezone: 'Europe/Berlin' }],
  clients: [
    { name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'Europe/Berlin' },
    { name: 'customer', role: 'customer', address: '127.20.0.6', timezone: 'Europe/Berlin' },
  ],
  frames: { count: 1_000_000, sizeBytes: 2048, intervalMs: 10 },
};

let cluster: Cluster;

t.before(async () => {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-session-reconnect-'));
  cluster = await startCluster({ topology: TOPOLOGY, runDir, seed: 'session-reconnect', removeRunDir: true });
});

t.teardown(async () => {
  const runDir = cluster?.runDir;
  await cluster?.close();
  if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
});

async function verified(): Promise<number> {
  return (await streamStats(cluster, 'rep')).find((stream) => stream.direction === 'subscribe')?.verified ?? 0;
}

void t.test('reconnect uses a fresh ticket', async (t) => {
  const session = await cluster.startSession({ customer: 'customer', representative: 'rep' });
  await cluster.waitFor(async () => (await verified()) >= 20, { description: 'frames flowing' });

  // A reset on the customer's link to the node breaks its publishing connection while the node stays online.
  const since = Date.now();
  await cluster.faults.link({ id: 'reset', a: 'customer', b: 'traffic1', kind: 'reset' });
  const retry = await cluster.waitForEvent({ process: 'customer', event: 'session-connection-retry' }, { sinceMs: since, timeoutMs: 10_000 });
  t.equal(retry.data?.node, 'traffic1', 'retries the same node');
  t.equal(retry.data?.attempt, 1, 'first retry');
  const delayMs = Number(retry.data?.delayMs);
  t.ok(delayMs >= 125 && delayMs <= 250, `first delay ${delayMs} ms is jittered within 125-250 ms`);

  await new Promise((resolve) => setTimeout(resolve, 600));
  const healedAt = Date.now();
  await cluster.faults.heal('reset');
  const joined = await cluster.waitForEvent({ process: 'customer', event: 'session-joined', where: (data) => data.sessionId === session.sessionId }, { sinceMs: healedAt, timeoutMs: 20_000 });
  t.equal(joined.data?.node, 'traffic1', 'rejoined the same node');

  const afterJoin = await verified();
  await cluster.waitFor(async () => (await verified()) >= afterJoin + 20, { description: 'frames flowing again' });
  t.pass('stream resumes after the reconnect');

  const retries = cluster.events.filter((event) => event.name === 'customer' && event.event === 'session-connection-retry' && event.atMs >= since);
  const delays = retries.map((event) => Number(event.data?.delayMs));
  t.ok(delays.every((delay, index) => delay <= 4000 && (index === 0 || delay >= 125)), `delays ${delays.join(', ')} ms stay within the 4 s cap`);
  const reasons = retries.map((event) => String(event.data?.reason));
  t.notOk(reasons.some((reason) => reason.includes('REPLAYED')), 'no retry was rejected as a replayed ticket');
  const status = (await cluster.request('customer', 'status')) as { sessionId?: string };
  t.equal(status.sessionId, session.sessionId, 'session still running');
  const ended = cluster.events.filter((event) => event.event === 'session-ended' && event.atMs >= since);
  t.equal(ended.length, 0, 'nobody was told the session ended');
});
