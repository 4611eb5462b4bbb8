import t from 'tap';
import { ADMIN_PATHS, type ClusterView } from '../src/admin/api-types.js';
import { SITE_HOSTNAME } from '../src/config/constants.js';
import { REPLICATION_HEADER } from '../src/master/master-membership.js';
import { silentLogger } from '../src/logging/logger.js';
import { resolveClusterAddresses } from '../src/net/lookup.js';
import type { MasterStatusReport } from '../src/master/status-report.js';
import type { StatusEntry } from '../src/master/status-history.js';
import {
  WAIT_MS,
  masterStatus,
  restartMaster,
  startFailoverCluster,
  startStreamingSession,
  streams,
  waitForPrimary,
  waitUntil,
  type MasterStatusReply,
  type TrafficStatusReply,
} from './fixtures/failover-harness.js';

const { cluster, events } = await startFailoverCluster(t);
const plan = cluster.plan!;
const dns = { address: plan.dns.config.address, port: plan.dns.config.port };

void t.test('backup joins before any fault', async (t) => {
  const backup = await masterStatus(cluster, 'master2');
  t.equal(backup.role, 'backup', 'master2 is the backup');
  t.equal(backup.failover.primary, 'master1', 'linked to master1');
  const primary = await masterStatus(cluster, 'master1');
  t.equal(backup.failover.replica?.configVersion, primary.configVersion, 'backup holds the primary configuration version');
  const history = (await cluster.request('master1', 'status-history')) as StatusEntry[];
  t.ok(history.some((entry) => /backup master master2 \(B400\) joined the cluster/.test(entry.message)), 'primary history records the join');
});

void t.test('backup listed in the configuration', async (t) => {
  const view = await cluster.admin.get<ClusterView>(ADMIN_PATHS.cluster);
  t.equal(view.master?.name, 'master1', 'primary member');
  t.equal(view.backup?.name, 'master2', 'backup member');
  t.equal(view.backup?.model, 'B400', 'backup model');
  t.equal(view.backup?.publicAddress, `${plan.backup!.config.public.host}:${plan.backup!.config.public.port}`, 'backup public address');
});

/** Changes us-traffic1's prefixes through the admin API and returns the replication header of the reply. */
async function changePrefixes(prefixes: string[]): Promise<string> {
  const reply = await cluster.admin.send('PATCH', `${ADMIN_PATHS.clusterNodes}/us-traffic1`, { prefixes });
  if (reply.status !== 200) throw new Error(`PATCH failed with ${reply.status}: ${JSON.stringify(reply.body)}`);
  return String(reply.headers[REPLICATION_HEADER] ?? '');
}

void t.test('takeover after SIGKILL of the primary', async (t) => {
  const sessionId = await startStreamingSession(cluster);
  const acknowledged = await changePrefixes(['127.20.0.0/16', '127.21.0.0/16']);
  t.match(acknowledged, /^acknowledged by master2/, 'admin change acknowledged by the backup');
  const version = (await cluster.admin.get<ClusterView>(ADMIN_PATHS.cluster)).version;
  const before = (await cluster.request('master1', 'status-history')) as StatusEntry[];
  const replicated = (await cluster.request('master1', 'replicate', { timeoutMs: 5000 })) as { replicated: boolean };
  t.equal(replicated.replicated, true, 'state acknowledged by the backup before the fault');

  const master1 = cluster.process('master1');
  master1.kill('SIGKILL');
  await master1.waitForExit();
  const promoted = await waitForPrimary(cluster, 'master2', 2);
  t.equal(promoted.failover.termHolder, 'master2', 'master2 holds term 2');
  t.equal(await cluster.primaryMaster(), 'master2', 'launcher finds master2 as the primary');

  await t.test('site hostname moves', async (t) => {
    const addresses = await resolveClusterAddresses({ server: dns, logger: silentLogger() }, SITE_HOSTNAME);
    t.same(addresses, [plan.backup!.config.public.address], 'site hostname resolves to master2');
    const claims = (await cluster.request('dns', 'claims')) as { owner: string; term: number }[];
    t.equal(claims[0]?.owner, 'master2', 'DNS claim owner');
    t.equal(claims[0]?.term, 2, 'DNS claim term');
  });

  await t.test('traffic nodes follow term 2', async (t) => {
    for (const node of ['us-traffic1', 'eu-traffic1']) {
      const status = await waitUntil(`${node} to link to master2`, async () => {
        const reply = (await cluster.request(node, 'status')) as TrafficStatusReply;
        return reply.masterName === 'master2' ? reply : undefined;
      });
      t.equal(status.term, 2, `${node} term`);
      t.equal(status.termMaster, 'master2', `${node} term holder`);
    }
    const nodes = await waitUntil('master2 to see both traffic nodes online', async () => {
      const status = await masterStatus(cluster, 'master2');
      return status.nodes.every((node) => node.online) ? status.nodes : undefined;
    });
    t.equal(nodes.length, 2, 'master2 links to both traffic nodes');
  });

  await t.test('clients reconnect to master2', async (t) => {
    for (const client of ['rep-us', 'customer-eu']) {
      const status = await waitUntil(`${client} to reconnect`, async () => {
        const reply = (await cluster.request(client, 'status')) as { connected: boolean; masterName?: string; sessionId?: string };
        return reply.connected && reply.masterName === 'master2' ? reply : undefined;
      });
      t.equal(status.sessionId, sessionId, `${client} kept its session`);
    }
    const connected = (await cluster.request('master2', 'connected-clients')) as { session?: { id: string } }[];
    t.equal(connected.filter((client) => client.session?.id === sessionId).length, 2, 'master2 knows both participants of the session');
  });

  await t.test('stream loses no frame', async (t) => {
    await cluster.request('rep-us', 'wait-streams', { timeoutMs: WAIT_MS }, WAIT_MS + 5000);
    const received = (await streams(cluster, 'rep-us')).find((stream) => stream.direction === 'subscribe');
    const sent = (await streams(cluster, 'customer-eu')).find((stream) => stream.direction === 'publish');
    t.equal(received?.received, sent?.framesSent, 'every frame the customer sent arrived');
    t.equal(received?.lost, 0, 'no frame lost');
    t.equal(received?.reordered, 0, 'no frame reordered');
    t.equal(received?.corrupted, 0, 'no frame corrupted');
  });

  await t.test('session goes on under master2', async (t) => {
    await cluster.request('rep-us', 'show-my-screen');
    await waitUntil('the customer to receive the representative screen', async () => {
      const stream = (await streams(cluster, 'customer-eu')).find((entry) => entry.direction === 'subscribe');
      return stream !== undefined && stream.received > 0 ? true : undefined;
    });
    t.pass('master2 brokered Show My Screen for the session master1 started');
    await cluster.request('rep-us', 'end-session', { reason: 'test finished' });
    const ended = await waitUntil('both clients to leave the session', async () => {
      const statuses = (await Promise.all(['rep-us', 'customer-eu'].map((name) => cluster.request(name, 'status')))) as { sessionId?: string }[];
      return statuses.every((status) => status.sessionId === undefined) ? statuses : undefined;
    });
    t.equal(ended.length, 2, 'master2 ended the session for both');
  });

  await t.test('acknowledged configuration survives', async (t) => {
    const view = await cluster.admin.get<ClusterView>(ADMIN_PATHS.cluster);
    const node = view.trafficNodes.find((entry) => entry.name === 'us-traffic1');
    t.same(node?.prefixes, ['127.20.0.0/16', '127.21.0.0/16'], 'prefix change present on master2');
    t.equal(view.master?.name, 'master2', 'master2 listed as the primary');
    t.equal(view.backup?.name, 'master1', 'master1 listed as the backup');
    t.ok(view.version > version, 'listing the new primary raised the version');
  });

  await t.test('history acknowledged before the fault survives', async (t) => {
    const after = (await cluster.request('master2', 'status-history')) as StatusEntry[];
    const messages = new Set(after.map((entry) => entry.message));
    t.same(before.filter((entry) => !messages.has(entry.message)), [], 'every entry of master1 is in master2');
    t.ok(after.some((entry) => /master2 is the primary master under term 2/.test(entry.message)), 'takeover recorded');
  });

  await t.test('former primary comes back as the backup', async (t) => {
    const restarted = await restartMaster(t, cluster, 'master1');
    const status = await waitUntil('master1 to link to master2', async () => {
      const reply = await restarted.request<MasterStatusReport & MasterStatusReply>('status');
      return reply.failover.primary === 'master2' ? reply : undefined;
    });
    t.equal(status.role, 'backup', 'master1 is the backup');
    t.equal(status.term, 2, 'master1 knows term 2');
    const primary = await waitUntil('master2 to replicate to master1', async () => {
      const reply = await masterStatus(cluster, 'master2');
      return (reply.failover.replication?.ackedSeq ?? 0) > 0 && reply.failover.replication?.connected === true ? reply : undefined;
    });
    t.equal(primary.role, 'primary', 'master2 stays the primary');
    const claims = (await cluster.request('dns', 'claims')) as { owner: string }[];
    t.equal(claims[0]?.owner, 'master2', 'site hostname stays with master2');
    const replicatedAgain = await changePrefixes(['127.20.0.0/16']);
    t.match(replicatedAgain, /^acknowledged by master1/, 'changes on master2 reach master1');
  });

  await t.test('one primary per term', (t) => {
    const promotions = events.filter((event) => event.event === 'became-primary').map((event) => `${String(event.data?.term)} ${event.name}`);
    t.same(promotions, ['2 master2'], 'only master2 became primary after the start');
    t.end();
  });
});
