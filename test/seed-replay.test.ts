// Two runs of one cluster with the same seed make the same random node choices.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import type { ClientStats, ClientStatus } from '../src/client/client.js';
import { startCluster } from '../src/index.js';

const TOPOLOGY = {
  clusterName: 'seed-replay',
  method: 'random',
  masters: [{ name: 'master1' }],
  trafficNodes: ['traffic1', 'traffic2', 'traffic3'].map((name) => ({ name, timezone: 'Europe/Berlin' })),
  clients: [
    { name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'Europe/Berlin' },
    { name: 'customer', role: 'customer', address: '127.30.0.5', timezone: 'Europe/Berlin' },
  ],
  frames: { count: 5, sizeBytes: 1024, intervalMs: 1 },
};
const SESSIONS = 4;

/** Starts a cluster with `seed`, runs sessions one after another, and returns each session's home nodes. */
async function homeNodes(seed: string): Promise<string[]> {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-seed-replay-'));
  const cluster = await startCluster({ topology: TOPOLOGY, runDir, seed, removeRunDir: true }).catch(async (error: unknown) => {
    await rm(runDir, { recursive: true, force: true });
    throw error;
  });
  try {
    const homes: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      await cluster.startSession({ customer: 'customer', representative: 'rep' });
      for (const client of ['customer', 'rep']) {
        const stats = (await cluster.request(client, 'stats')) as ClientStats;
        homes.push(`${client} ${stats.connections.find((connection) => connection.kind === 'home')?.node ?? 'none'}`);
      }
      await cluster.request('customer', 'end-session', { reason: `replay session ${i} done` });
      await cluster.waitFor(
        async () => {
          const statuses = await Promise.all(['customer', 'rep'].map(async (client) => (await cluster.request(client, 'status')) as ClientStatus));
          return statuses.every((status) => status.sessionId === undefined);
        },
        { timeoutMs: 30_000, description: `session ${i} to end at both clients` },
      );
    }
    return homes;
  } finally {
    await cluster.close();
    await rm(runDir, { recursive: true, force: true });
  }
}

void t.test('same seed same choices', async (t) => {
  const first = await homeNodes('replay-seed');
  const second = await homeNodes('replay-seed');
  t.equal(first.length, SESSIONS * 2, 'a home node for both clients of every session');
  t.notOk(first.some((entry) => entry.endsWith(' none')), 'every client got a home node');
  t.same(second, first, 'the second run picked the same nodes in the same order');
});
