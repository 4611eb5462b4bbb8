import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { startCluster, type Cluster } from '../src/index.js';
import type { UdpProxyCounters } from '../src/netfault/udp-proxy.js';
import { queryStunBinding, StunTimeoutError, type StunBindingResult } from '../src/stun-protocol/client.js';

/** A client address in the traffic node's prefix; the test queries STUN from it directly. */
const CLIENT_ADDRESS = '127.20.0.7';

let cluster: Cluster;

t.before(async () => {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-stun-faults-'));
  cluster = await startCluster({
    topology: { clusterName: 'stun-faults', publicStun: true, masters: [{ name: 'master1' }], trafficNodes: [{ name: 'traffic1', prefixes: ['127.20.0.0/16'], timezone: 'Europe/Berlin' }] },
    runDir,
    seed: 'stun-faults',
    startClients: false,
  });
});

t.teardown(async () => {
  const runDir = cluster?.runDir;
  await cluster?.close();
  if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
});

function stunServer(): { address: string; port: number } {
  const stun = cluster.info.nodes.find((node) => node.role === 'stun');
  if (stun?.ports.stun === undefined) throw new Error('the cluster lists no STUN server');
  return { address: stun.address, port: stun.ports.stun };
}

function query(timeoutMs: number): Promise<StunBindingResult> {
  return queryStunBinding({ server: stunServer(), localAddress: CLIENT_ADDRESS, timeoutMs, retries: 2, initialRtoMs: 200 });
}

async function stunCounters(): Promise<UdpProxyCounters> {
  const proxy = (await cluster.faults.proxies()).find((entry) => entry.server === 'stun');
  if (proxy === undefined) throw new Error('no proxy fronts the STUN server');
  return proxy.counters as UdpProxyCounters;
}

void t.test('STUN reflexive address behind the layer', async (t) => {
  const proxies = await cluster.faults.proxies();
  t.ok(proxies.some((proxy) => proxy.server === 'stun' && proxy.protocol === 'udp'), 'the STUN server is fronted');
  const result = await query(10_000);
  t.equal(result.address, CLIENT_ADDRESS, 'reflexive IP is the client IP');
  t.equal(result.port, result.local.port, 'reflexive port is the client port');
  t.ok((await stunCounters()).stunMappingsRewritten >= 1, 'the proxy rewrote the response');
});

void t.test('loss drops STUN requests', async (t) => {
  const before = (await stunCounters()).lostDatagrams;
  await cluster.faults.link({ id: 'stun-loss', a: 'stun', b: '*', kind: 'loss', probability: 1 });
  await t.rejects(query(1500), StunTimeoutError, 'every request and retransmission lost');
  t.ok((await stunCounters()).lostDatagrams >= before + 3, 'request and both retransmissions counted as lost');
  await cluster.faults.heal('stun-loss');
  const result = await query(10_000);
  t.equal(result.port, result.local.port, 'answered after the heal');
});

void t.test('delay with jitter slows STUN', async (t) => {
  await cluster.faults.link({ id: 'stun-delay', a: 'stun', b: '*', kind: 'delay', delayMs: 400, jitterMs: 100, direction: 'a-to-b' });
  const start = Date.now();
  const result = await queryStunBinding({ server: stunServer(), localAddress: CLIENT_ADDRESS, timeoutMs: 10_000, retries: 0 });
  const elapsed = Date.now() - start;
  await cluster.faults.heal('stun-delay');
  t.ok(elapsed >= 290, `answer took ${elapsed} ms under 400±100 ms of delay`);
  t.equal(result.port, result.local.port, 'delayed answer names the client port');
});

void t.test('blackhole silences STUN', async (t) => {
  await cluster.faults.link({ id: 'stun-hole', a: 'stun', b: '*', kind: 'blackhole' });
  await t.rejects(query(1500), StunTimeoutError, 'no answer through the blackhole');
  await cluster.faults.heal('stun-hole');
  t.equal((await query(10_000)).address, CLIENT_ADDRESS, 'answered after the heal');
});

void t.test('restarted STUN server stays fronted', async (t) => {
  await cluster.restart('stun');
  const result = await query(10_000);
  t.equal(result.port, result.local.port, 'the proxy reaches the restarted server on its hidden port');
});
