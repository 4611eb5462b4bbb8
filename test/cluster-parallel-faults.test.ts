import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { startCluster, type Cluster } from '../src/index.js';

/** Same names and client addresses in both clusters, so only the address blocks keep them apart. */
const TOPOLOGY = {
  clusterName: 'parallel',
  masters: [{ name: 'master1' }],
  trafficNodes: [{ name: 'traffic1', prefixes: ['127.20.0.0/16'], timezone: 'Europe/Berlin' }],
  clients: [{ name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'Europe/Berlin' }],
};

void t.test('faults stay in their cluster', async (t) => {
  const dirs = await Promise.all([mkdtemp(join(tmpdir(), 'atlas-parallel-a-')), mkdtemp(join(tmpdir(), 'atlas-parallel-b-'))]);
  const clusters: Cluster[] = [];
  t.teardown(async () => {
    await Promise.all(clusters.map((cluster) => cluster.close()));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  const started = await Promise.allSettled(dirs.map((runDir, index) => startCluster({ topology: TOPOLOGY, runDir, seed: `parallel-${index}`, removeRunDir: true })));
  for (const result of started) if (result.status === 'fulfilled') clusters.push(result.value);
  t.equal(clusters.length, 2, `both started: ${started.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok')).join('; ')}`);
  const [a, b] = clusters;
  if (a === undefined || b === undefined) return;
  t.not(a.addressBlock.network, b.addressBlock.network, 'separate address blocks');

  await a.faults.link({ a: 'traffic1', b: '*', kind: 'blackhole' });
  await a.pause('rep');
  await a.waitForNode('traffic1', { online: false, timeoutMs: 15_000 });
  t.pass('blackholed node offline in its cluster');
  const statusB = await b.status();
  t.equal(statusB.nodes.find((node) => node.name === 'traffic1')?.online, true, 'same node name online in the other cluster');
  const repB = (await b.request('rep', 'status')) as { connected: boolean };
  t.equal(repB.connected, true, 'paused client only in its own cluster');
  t.same(b.faults.list(), [], 'no fault in the other cluster');

  await a.resume('rep');
  await a.faults.heal();
  await a.waitForNode('traffic1', { online: true, timeoutMs: 30_000 });
  t.pass('node back after the heal');
});
