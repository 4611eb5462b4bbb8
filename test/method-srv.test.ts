import { readFileSync } from 'node:fs';
import t from 'tap';

import { ADMIN_PATHS } from '../src/admin/api-types.js';
import { startCluster } from '../src/index.js';
import { dig, NO_DIG, runSession, tempRunDir } from './fixtures/method-session.js';

const TOPOLOGY = JSON.parse(readFileSync(new URL('../topologies/srv.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const SRV_NAME = '_atlas._tcp.support.example.test';

void t.test('srv method end to end', async (t) => {
  const runDir = await tempRunDir(t, 'method-srv');
  const cluster = await startCluster({ topology: TOPOLOGY, runDir, seed: 'method-srv', standardPorts: false });
  t.teardown(() => cluster.close());
  const dns = cluster.info.dns;
  const publicPort = cluster.ports?.public ?? 0;

  await t.test('dig shows well-formed SRV records', { skip: NO_DIG }, async (t) => {
    const output = await dig(dns, ['SRV', SRV_NAME]);
    t.match(output, /status: NOERROR/, 'NOERROR');
    t.match(output, /flags: qr aa/, 'authoritative answer');
    const records = [...output.matchAll(/^_atlas\._tcp\.support\.example\.test\.\s+\d+\s+IN\s+SRV\s+(\d+) (\d+) (\d+) (\S+)$/gm)].map((match) => match.slice(1).join(' ')).sort();
    t.same(
      records,
      [
        `10 40 ${publicPort} us-traffic2.support.example.test.`,
        `10 60 ${publicPort} us-traffic1.support.example.test.`,
        `20 100 ${publicPort} eu-traffic1.support.example.test.`,
      ],
      'one record per traffic node with its priority, weight, public port and hostname',
    );
    const glue = [...output.matchAll(/^(\S+-traffic\d)\.support\.example\.test\.\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((match) => match[1]).sort();
    t.same(glue, ['eu-traffic1', 'us-traffic1', 'us-traffic2'], 'additional section has the targets\' A records');
  });

  await t.test('clients land on the lowest priority', async (t) => {
    const landings = await runSession(cluster, 'customer-eu', 'rep-us');
    t.match(landings.client.customerHome, /^us-traffic[12]$/, 'customer home has priority 10');
    t.match(landings.client.repHome, /^us-traffic[12]$/, 'representative home has priority 10');
    t.equal(landings.client.repCross, landings.client.customerHome, "representative's cross connection goes to the customer's learned home node");

    const customerHome = landings.master.customer.find((connection) => connection.kind === 'home');
    t.equal(customerHome?.node, landings.client.customerHome, 'master learned the node the customer reached');
    const weight = landings.client.customerHome === 'us-traffic1' ? 60 : 40;
    t.equal(customerHome?.reason, `srv priority 10 weight ${weight}`, 'reason names the record');
    t.equal(landings.master.rep.find((connection) => connection.kind === 'cross')?.node, landings.client.customerHome, "master's record of the cross connection");
  });

  await t.test('next target when nodes refuse', async (t) => {
    const setAccepting = async (accepting: boolean): Promise<void> => {
      for (const node of ['us-traffic1', 'us-traffic2']) {
        await cluster.admin.patch(ADMIN_PATHS.clusterNode(node), { accepting });
        await cluster.waitFor(async () => ((await cluster.request(node, 'status')) as { accepting: boolean }).accepting === accepting, { description: `${node} accepting ${accepting}` });
      }
    };
    await setAccepting(false);
    const landings = await runSession(cluster, 'customer-eu', 'rep-us');
    t.equal(landings.client.customerHome, 'eu-traffic1', 'customer skipped the priority 10 targets that are not accepting');
    t.equal(landings.client.repHome, 'eu-traffic1', 'representative skipped them too');
    await setAccepting(true);
  });

  await t.test('next target when the first ones fail', async (t) => {
    for (const node of ['us-traffic1', 'us-traffic2']) {
      await cluster.kill(node);
      await cluster.waitForNode(node, { online: false, timeoutMs: 30_000 });
    }
    const landings = await runSession(cluster, 'customer-eu', 'rep-us');
    t.equal(landings.client.customerHome, 'eu-traffic1', 'customer reached the priority 20 target');
    t.equal(landings.client.repHome, 'eu-traffic1', 'representative reached the priority 20 target');
    t.equal(landings.master.customer.find((connection) => connection.kind === 'home')?.reason, 'srv priority 20 weight 100', 'reason names the priority 20 record');
    const connections = ((await cluster.request('customer-eu', 'stats')) as { connections: { kind: string; host: string }[] }).connections;
    t.equal(connections.find((connection) => connection.kind === 'home')?.host, 'eu-traffic1.support.example.test', 'customer connected to the SRV target host');
  });
});
