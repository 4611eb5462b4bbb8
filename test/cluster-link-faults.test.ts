import { Resolver } from 'node:dns/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { startCluster, type Cluster } from '../src/index.js';
import { streamStats, type StreamStats } from '../src/launcher/cluster-driver.js';

/** One traffic node, so every stream runs through it; long streams keep frames flowing during every subtest. */
const TOPOLOGY = {
  clusterName: 'link-faults',
  masters: [{ name: 'master1' }],
  trafficNodes: [{ name: 'traffic1', prefixes: ['127.20.0.0/16'], timezone: 'Europe/Berlin' }],
  clients: [
    { name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'Europe/Berlin' },
    { name: 'customer', role: 'customer', address: '127.20.0.6', timezone: 'Europe/Berlin' },
  ],
  frames: { count: 1_000_000, sizeBytes: 2048, intervalMs: 10 },
};
const CUSTOMER_ADDRESS = '127.20.0.6';

interface MasterStatus {
  nodes: { name: string; online: boolean }[];
}

let cluster: Cluster;

t.before(async () => {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-link-faults-'));
  cluster = await startCluster({ topology: TOPOLOGY, runDir, seed: 'link-faults', removeRunDir: true });
  await cluster.startSession({ customer: 'customer', representative: 'rep' });
  await cluster.waitFor(async () => (await customerScreen()).verified >= 20, { description: 'frames flowing to rep' });
});

t.teardown(async () => {
  const runDir = cluster?.runDir;
  await cluster?.close();
  if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
});

async function customerScreen(): Promise<StreamStats> {
  const stream = (await streamStats(cluster, 'rep')).find((entry) => entry.direction === 'subscribe');
  if (stream === undefined) throw new Error('rep receives no stream');
  return stream;
}

/** Mean latency of the frames verified between two stats snapshots. */
function windowMeanLatency(before: StreamStats & { meanLatencyMs?: number | null }, after: StreamStats & { meanLatencyMs?: number | null }): number {
  const frames = after.verified - before.verified;
  const total = (after.meanLatencyMs ?? 0) * after.verified - (before.meanLatencyMs ?? 0) * before.verified;
  return frames === 0 ? Number.NaN : total / frames;
}

async function masterSees(node: string, online: boolean): Promise<boolean> {
  const status = (await cluster.request('master1', 'status')) as MasterStatus;
  return status.nodes.find((entry) => entry.name === node)?.online === online;
}

function dnsResolver(timeoutMs: number): Resolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setLocalAddress(CUSTOMER_ADDRESS);
  resolver.setServers([`${cluster.info.dns.address}:${cluster.info.dns.port}`]);
  return resolver;
}

void t.test('servers see client addresses', async (t) => {
  const clients = await cluster.connectedClients();
  t.same(clients.map((client) => client.address).sort(), ['127.20.0.5', '127.20.0.6'], 'master sees both client addresses');
  const sessionClients = await cluster.nodeClients('traffic1');
  t.ok(sessionClients.length >= 2, 'traffic node lists session clients');
  t.ok(sessionClients.every((client) => client.sourceIp.startsWith('127.20.0.')), 'traffic node sees client addresses');
  const proxies = await cluster.faults.proxies();
  t.same([...new Set(proxies.map((proxy) => proxy.server))].sort(), ['dns', 'master1', 'traffic1'], 'every server is fronted');
});

void t.test('delay adds latency', async (t) => {
  const before = await customerScreen();
  const fault = await cluster.faults.link({ a: 'customer', b: 'traffic1', kind: 'delay', delayMs: 300, direction: 'a-to-b' });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const start = await customerScreen();
  await cluster.waitFor(async () => (await customerScreen()).verified >= start.verified + 20, { description: 'frames under the delay' });
  const during = await customerScreen();
  await cluster.faults.heal(fault.id);
  t.ok(windowMeanLatency(start, during) >= 290, `mean latency under a 300 ms delay is ${Math.round(windowMeanLatency(start, during))} ms`);
  t.ok(before.verified > 0, 'frames flowed before the fault');
  t.equal(during.lost, 0, 'no frame lost under delay');
  t.equal(during.corrupted, 0, 'no frame corrupted under delay');
});

void t.test('bandwidth caps the stream', async (t) => {
  await cluster.faults.link({ id: 'cap', a: 'customer', b: 'traffic1', kind: 'bandwidth', bytesPerSecond: 8192, direction: 'a-to-b' });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const start = await customerScreen();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const end = await customerScreen();
  await cluster.faults.heal('cap');
  // 8 KiB/s carries at most 4 frames of 2 KiB per second; uncapped the stream sends 100 per second.
  t.ok(end.verified - start.verified <= 20, `${end.verified - start.verified} frames in 2 s under an 8 KiB/s cap`);
  await cluster.waitFor(async () => (await customerScreen()).verified >= end.verified + 50, { description: 'stream back to full rate after the heal' });
  t.pass('stream recovers after the heal');
});

void t.test('blackhole takes a node offline', async (t) => {
  const since = Date.now();
  await cluster.faults.link({ id: 'hole', a: 'traffic1', b: '*', kind: 'blackhole' });
  await cluster.waitFor(() => masterSees('traffic1', false), { timeoutMs: 10_000, description: 'traffic1 offline' });
  const offline = await cluster.waitForEvent({ process: 'master1', event: 'node-offline' }, { sinceMs: since, timeoutMs: 5000 });
  t.match(String(offline.data?.reason), /heartbeat timeout/, 'offline by heartbeat timeout');
  const ended = await cluster.waitForEvent({ process: 'rep', event: 'session-ended' }, { sinceMs: since, timeoutMs: 10_000 });
  t.match(String(ended.data?.reason), /traffic node traffic1 went offline/, 'session ended with the reason');
  await cluster.faults.heal('hole');
  await cluster.waitFor(() => masterSees('traffic1', true), { timeoutMs: 30_000, description: 'traffic1 online after the heal' });
  t.pass('node online after the heal');
  await cluster.startSession({ customer: 'customer', representative: 'rep' });
  await cluster.waitFor(async () => (await customerScreen()).verified >= 20, { description: 'frames flowing in the new session' });
  t.pass('new session streams after the heal');
});

void t.test('reset drops the control channel', async (t) => {
  const since = Date.now();
  await cluster.faults.link({ id: 'reset', a: 'rep', b: 'master1', kind: 'reset' });
  const down = await cluster.waitForEvent({ process: 'rep', event: 'disconnected' }, { sinceMs: since, timeoutMs: 10_000 });
  t.ok(down.atMs >= since, 'rep lost the control channel');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const status = (await cluster.request('rep', 'status')) as { connected: boolean };
  t.equal(status.connected, false, 'rep stays disconnected while the reset is in force');
  const healedAt = Date.now();
  await cluster.faults.heal('reset');
  await cluster.waitForEvent({ process: 'rep', event: 'connected' }, { sinceMs: healedAt, timeoutMs: 20_000 });
  t.pass('rep reconnects after the heal');
});

void t.test('loss drops DNS datagrams', async (t) => {
  await t.resolves(dnsResolver(1000).resolve4('master1.support.example.test'), 'DNS answers before the fault');
  await cluster.faults.link({ id: 'loss', a: 'customer', b: 'dns', kind: 'loss', probability: 1 });
  await t.rejects(dnsResolver(500).resolve4('master1.support.example.test'), { code: 'ETIMEOUT' }, 'query lost');
  await cluster.faults.heal('loss');
  const addresses = await dnsResolver(1000).resolve4('master1.support.example.test');
  t.equal(addresses.length, 1, 'DNS answers after the heal');
});

void t.test('delay slows DNS answers', async (t) => {
  await cluster.faults.link({ id: 'slow-dns', a: 'dns', b: 'customer', kind: 'delay', delayMs: 400, direction: 'a-to-b' });
  const start = Date.now();
  await dnsResolver(3000).resolve4('master1.support.example.test');
  const elapsed = Date.now() - start;
  await cluster.faults.heal('slow-dns');
  t.ok(elapsed >= 390, `answer took ${elapsed} ms under a 400 ms delay`);
});

void t.test('faults listed and healed by id', async (t) => {
  await cluster.faults.link({ id: 'one', a: 'customer', b: 'master1', kind: 'delay', delayMs: 1 });
  await cluster.faults.link({ id: 'two', a: 'rep', b: '*', kind: 'delay', delayMs: 1 });
  t.same(cluster.faults.list().map((fault) => fault.id), ['one', 'two'], 'both listed');
  t.equal(await cluster.faults.heal('one'), 1, 'one healed');
  t.same(cluster.faults.list().map((fault) => fault.id), ['two'], 'the other stays');
  await t.rejects(cluster.faults.heal('one'), { message: /no link fault has id "one"; active: two/ }, 'unknown id named');
  t.equal(await cluster.faults.heal(), 1, 'heal without id removes the rest');
  t.same(cluster.faults.list(), [], 'none left');
  await t.rejects(cluster.faults.link({ a: 'rep', b: 'customer', kind: 'blackhole' }), { message: /neither side has a listener/ }, 'client to client rejected');
  await t.rejects(cluster.faults.link({ a: 'rep', b: 'nobody', kind: 'blackhole' }), { message: /link fault b is "nobody"/ }, 'unknown process rejected');
});

void t.test('rejected faults use no ids', async (t) => {
  const first = await cluster.faults.link({ a: 'customer', b: 'master1', kind: 'delay', delayMs: 1 });
  const firstNumber = Number(/^fault-(\d+)$/.exec(first.id)?.[1]);
  t.ok(firstNumber > 0, `assigned id ${first.id}`);

  await t.rejects(cluster.faults.link({ a: 'customer', b: 'traffic1', kind: 'loss', probability: 0.5 }), { message: /loss between customer and traffic1 cannot act: loss acts on UDP only/ }, 'loss on a TCP link rejected');
  await t.rejects(cluster.faults.link({ a: 'rep', b: 'customer', kind: 'delay', delayMs: 5 }), { message: /neither side has a listener/ }, 'client to client rejected');
  await t.rejects(cluster.faults.link({ a: 'rep', b: 'master1', kind: 'delay', delayMs: -5 }), { message: /delayMs is -5/ }, 'negative delay rejected');

  const second = await cluster.faults.link({ a: 'rep', b: 'master1', kind: 'delay', delayMs: 1 });
  t.equal(second.id, `fault-${firstNumber + 1}`, 'the next id follows the last one assigned');
  t.equal(await cluster.faults.heal(), 2, 'both healed');
});
