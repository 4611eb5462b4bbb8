import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import t from 'tap';

import { startCluster } from '../src/index.js';
import { runSession, tempRunDir } from './fixtures/method-session.js';

const TOPOLOGY = JSON.parse(readFileSync(new URL('../topologies/anycast.json', import.meta.url), 'utf8')) as Record<string, unknown>;

void t.test('anycast method end to end', async (t) => {
  const runDir = await tempRunDir(t, 'method-anycast');
  const cluster = await startCluster({ topology: TOPOLOGY, runDir, seed: 'method-anycast', standardPorts: false });
  t.teardown(() => cluster.close());
  const router = cluster.info.nodes.find((node) => node.name === 'anycast');
  t.equal(router?.address.split('.')[3], '4', 'anycast router at .4 of the block');

  await t.test('routes by source prefix', async (t) => {
    const landings = await runSession(cluster, 'customer-eu', 'rep-us');
    t.equal(landings.client.customerHome, 'eu-traffic1', 'customer routed by 127.30.0.0/16');
    t.equal(landings.client.repHome, 'us-traffic1', 'representative routed to the default node');
    t.equal(landings.client.repCross, 'eu-traffic1', "representative's cross connection on the customer's node");
    t.equal(landings.master.customer.find((connection) => connection.kind === 'home')?.reason, 'anycast route 127.30.0.0/16', 'customer reason');
    t.equal(landings.master.rep.find((connection) => connection.kind === 'home')?.reason, 'anycast default route', 'representative reason');

    const connections = ((await cluster.request('customer-eu', 'stats')) as { connections: { kind: string; host: string }[] }).connections;
    const home = connections.find((connection) => connection.kind === 'home');
    t.ok(isIPv4(home?.host ?? ''), `master handed out an IP address (${home?.host})`);
    t.equal(home?.host, router?.address, 'the anycast address');
  });

  await t.test('node sees the client address', async (t) => {
    await cluster.startSession({ customer: 'customer-eu', representative: 'rep-us' });
    const clients = await cluster.waitFor(async () => {
      const list = await cluster.nodeClients('eu-traffic1');
      return list.some((client) => client.direction === 'publish') ? list : undefined;
    }, { description: 'eu-traffic1 to report the customer' });
    t.equal(clients.find((client) => client.direction === 'publish')?.sourceIp, '127.30.0.5', "the customer's own source address, not the router's");
    await cluster.request('rep-us', 'end-session', { reason: 'test finished' });
  });

  await t.test('third prefix and router counters', async (t) => {
    await cluster.startClient({ name: 'customer-ap', role: 'customer', address: '127.40.0.5', timezone: 'Asia/Tokyo', displayName: 'Customer (AP)' });
    await cluster.waitFor(async () => ((await cluster.request('rep-us', 'status')) as { sessionId?: string }).sessionId === undefined, { description: 'rep-us to leave the previous session' });
    const landings = await runSession(cluster, 'customer-ap', 'rep-us');
    t.equal(landings.client.customerHome, 'ap-traffic1', 'customer routed by 127.40.0.0/16');
    t.equal(landings.master.customer.find((connection) => connection.kind === 'home')?.reason, 'anycast route 127.40.0.0/16', 'reason');
    const status = (await cluster.request('anycast', 'status')) as { connectionsByNode: Record<string, number>; connectionsByReason: { prefix: number; default: number } };
    t.ok((status.connectionsByNode['ap-traffic1'] ?? 0) >= 1, 'router counted a connection to ap-traffic1');
    t.ok(status.connectionsByReason.default >= 1, 'router counted default-route connections');
  });
});
