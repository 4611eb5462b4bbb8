// `atlas-sim route` on a running A record cluster: the answer comes from the
// cluster DNS server's resolver view for the client's source address, and it
// names the node where a session really lands.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import type { SourcedExplanation } from '../src/cli/route-sources.js';
import type { ClientStats } from '../src/client/client.js';
import { loadTopology, startCluster, type Cluster } from '../src/index.js';
import { cliEntry } from '../src/launcher/project-root.js';

let cluster: Cluster;
let runDir: string | undefined;

t.before(async () => {
  const { topology } = await loadTopology(join(import.meta.dirname, '..', 'topologies', 'a-record.json'));
  runDir = await mkdtemp(join(tmpdir(), 'atlas-route-delegated-'));
  cluster = await startCluster({ topology, runDir, seed: 'route-delegated', removeRunDir: true });
});

t.teardown(async () => {
  await cluster?.close();
  if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
});

function explain(...args: string[]): Promise<SourcedExplanation> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliEntry(), 'route', ...args, '--json', '--run-dir', cluster.runDir], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`route failed: ${stderr}`));
      else resolve(JSON.parse(stdout) as SourcedExplanation);
    });
  });
}

void t.test('route a-record views by source', async (t) => {
  const cases: { ip: string; tz: string; resolver: string; node: string }[] = [
    { ip: '127.20.0.5', tz: 'America/New_York', resolver: 'us-dns', node: 'us-traffic2' },
    { ip: '127.30.0.5', tz: 'Europe/Berlin', resolver: 'eu-dns', node: 'eu-traffic1' },
  ];
  for (const { ip, tz, resolver, node } of cases) {
    const explanation = await explain('--ip', ip, '--tz', tz);
    t.equal(explanation.kind, 'delegated', `${ip}: delegated`);
    t.equal(explanation.delegation?.resolver, resolver, `${ip}: resolver view`);
    t.equal(explanation.delegation?.node, node, `${ip}: node from the DNS answer`);
    t.equal(explanation.delegation?.landingReason, `a-record via ${resolver}`, `${ip}: landing reason`);
    t.match(explanation.delegation?.text ?? '', `for source ${ip}`, `${ip}: resolved from the client address`);
  }
});

void t.test('route a-record matches landing', async (t) => {
  const explanation = await explain('--ip', '127.30.0.5', '--tz', 'Europe/Berlin');
  await cluster.startSession({ customer: 'customer-eu', representative: 'rep-us' });
  const stats = await cluster.waitFor(
    async () => {
      const reported = (await cluster.request('customer-eu', 'stats')) as ClientStats;
      const home = reported.connections.find((connection) => connection.kind === 'home');
      return home !== undefined && home.node !== '' ? home : undefined;
    },
    { timeoutMs: 30_000, description: 'the customer to report its home node' },
  );
  t.equal(stats.node, explanation.delegation?.node, 'the customer landed where route said');

  const reason = await cluster.waitFor(
    async () => {
      const clients = await cluster.connectedClients();
      const customer = clients.find((client) => client.displayName === 'Customer (EU)');
      const home = customer?.session?.connections.find((connection) => connection.kind === 'home' && connection.node !== '');
      return home?.reason;
    },
    { timeoutMs: 30_000, description: "the master to learn the customer's node" },
  );
  t.equal(reason, explanation.delegation?.landingReason, 'the master records the reason route gave');
});
