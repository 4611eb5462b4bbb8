import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

import { assertCertificateCovers } from '../src/net/certs.js';
import { startCluster } from '../src/index.js';
import { dig, NO_DIG, runSession, tempRunDir } from './fixtures/method-session.js';

const TOPOLOGY = JSON.parse(readFileSync(new URL('../topologies/a-record.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const SHARED_HOSTNAME = 'traffic.support.example.test';

void t.test('a-record method end to end', async (t) => {
  const runDir = await tempRunDir(t, 'method-a-record');
  const cluster = await startCluster({ topology: TOPOLOGY, runDir, seed: 'method-a-record', standardPorts: false });
  t.teardown(() => cluster.close());
  const address = (name: string): string => cluster.info.nodes.find((node) => node.name === name)?.address ?? `(no ${name})`;

  await t.test('views answer by source address', { skip: NO_DIG }, async (t) => {
    const cases: [string, string[]][] = [
      ['127.20.0.5', [address('us-traffic2')]],
      ['127.30.0.5', [address('eu-traffic1')]],
      ['127.40.0.5', [address('us-traffic1'), address('us-traffic2'), address('eu-traffic1')].sort()],
    ];
    for (const [source, expected] of cases) {
      const output = await dig(cluster.info.dns, ['-b', source, '+short', 'A', SHARED_HOSTNAME]);
      t.same(output.trim().split('\n').sort(), expected, `query from ${source}`);
    }
  });

  await t.test('certificate carries the shared hostname', (t) => {
    const cert = readFileSync(join(cluster.info.certsDir, 'cert.pem'));
    t.doesNotThrow(() => assertCertificateCovers(SHARED_HOSTNAME, cert), 'every node can prove the shared hostname');
    t.end();
  });

  await t.test('clients land where their resolver points', async (t) => {
    const landings = await runSession(cluster, 'customer-eu', 'rep-us');
    t.equal(landings.client.customerHome, 'eu-traffic1', 'customer on the eu-dns node');
    t.equal(landings.client.repHome, 'us-traffic2', 'representative on the us-dns node');
    t.equal(landings.client.repCross, 'eu-traffic1', "representative's cross connection on the customer's node");
    t.equal(landings.master.customer.find((connection) => connection.kind === 'home')?.reason, 'a-record via eu-dns', 'customer reason');
    t.equal(landings.master.rep.find((connection) => connection.kind === 'home')?.reason, 'a-record via us-dns', 'representative reason');
    t.equal(landings.master.rep.find((connection) => connection.kind === 'cross')?.node, 'eu-traffic1', "master's record of the cross connection");

    const connections = ((await cluster.request('customer-eu', 'stats')) as { connections: { kind: string; host: string }[] }).connections;
    t.equal(connections.find((connection) => connection.kind === 'home')?.host, SHARED_HOSTNAME, 'customer dialled the shared hostname');
  });

  await t.test('client outside every view uses the base record', async (t) => {
    await cluster.startClient({ name: 'customer-other', role: 'customer', address: '127.40.0.5', timezone: 'Asia/Tokyo', displayName: 'Customer (other)' });
    const landings = await runSession(cluster, 'customer-other', 'rep-us');
    t.match(landings.client.customerHome, /^(us-traffic1|us-traffic2|eu-traffic1)$/, 'customer on a node of the base record');
    t.equal(landings.master.customer.find((connection) => connection.kind === 'home')?.reason, 'a-record via the default view', 'reason names the default view');
    t.equal(landings.client.repCross, landings.client.customerHome, "representative's cross connection on the customer's node");
  });
});
