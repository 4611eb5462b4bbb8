import t from 'tap';
import { ADMIN_PATHS } from '../src/admin/api-types.js';
import { SOFTWARE_VERSION, nodeHostname } from '../src/config/constants.js';
import { silentLogger } from '../src/logging/logger.js';
import { ensureClusterCerts } from '../src/net/certs.js';
import { createClusterLookup } from '../src/net/lookup.js';
import { connectChannel } from '../src/net/ws-client.js';
import { ErrorCode, Role } from '../src/protocol/messages.js';
import { FAILOVER_TOPOLOGY, masterStatus, startFailoverCluster, waitForPrimary, waitUntil, type TrafficStatusReply } from './fixtures/failover-harness.js';

const { cluster, events } = await startFailoverCluster(t, { ...FAILOVER_TOPOLOGY, frames: { count: 50, sizeBytes: 1024, intervalMs: 5 } });
const plan = cluster.plan!;
const heartbeatTimeoutMs = FAILOVER_TOPOLOGY.heartbeat.timeoutMs;
/** Earliest takeover after a pause: the backup last heard the primary up to one heartbeat interval before SIGSTOP. */
const earliestTakeoverMs = heartbeatTimeoutMs - FAILOVER_TOPOLOGY.heartbeat.intervalMs;
const certs = await ensureClusterCerts(plan.master.config.certsDir);

/**
 * Opens a control channel straight to master1's own hostname, not the site
 * hostname, and sends a hello. Resolves with what happened: the error code
 * the master sent, or why the connection failed.
 */
interface HelloOutcome {
  welcomed: boolean;
  error?: ErrorCode;
  failure?: string;
}

async function helloToMaster1(): Promise<HelloOutcome> {
  let channel;
  try {
    channel = await connectChannel({ logger: silentLogger() }, {
      host: nodeHostname('master1'),
      port: plan.master.config.public.port,
      path: '/control',
      ca: certs.ca,
      lookup: createClusterLookup({ server: { address: plan.dns.config.address, port: plan.dns.config.port }, logger: silentLogger() }),
      localAddress: '127.20.0.9',
    });
  } catch (error) {
    return { welcomed: false, failure: error instanceof Error ? error.message : String(error) };
  }
  return new Promise<HelloOutcome>((resolve) => {
    channel.onMessage((envelope) => {
      if (envelope.body === 'clientWelcome') resolve({ welcomed: true });
      if (envelope.body === 'error') resolve({ welcomed: false, error: envelope.error?.code ?? ErrorCode.ERROR_UNSPECIFIED });
    });
    channel.once('close', () => resolve({ welcomed: false, failure: 'closed without an answer' }));
    channel.send({ clientHello: { role: Role.ROLE_CUSTOMER, softwareVersion: SOFTWARE_VERSION, utcOffsetMinutes: 0, displayName: 'probe' } });
  }).finally(() => channel.terminate('probe finished'));
}

void t.test('paused primary is replaced', async (t) => {
  const before = await helloToMaster1();
  t.equal(before.welcomed, true, 'master1 serves clients before the pause');

  const master1 = cluster.process('master1');
  const pausedAtMs = Date.now();
  master1.kill('SIGSTOP');
  t.teardown(() => master1.kill('SIGCONT'));
  await waitForPrimary(cluster, 'master2', 2);
  t.ok(Date.now() - pausedAtMs >= earliestTakeoverMs, 'no takeover before the heartbeat timeout');

  for (const client of ['rep-us', 'customer-eu']) {
    const status = await waitUntil(`${client} to reconnect to master2`, async () => {
      const reply = (await cluster.request(client, 'status')) as { connected: boolean; masterName?: string };
      return reply.connected && reply.masterName === 'master2' ? reply : undefined;
    });
    t.equal(status.masterName, 'master2', `${client} on master2`);
  }

  // Stay paused well past the timeout, as a primary stopped by a debugger or a stalled host would.
  await new Promise((resolve) => setTimeout(resolve, heartbeatTimeoutMs));
  const resumedAtMs = Date.now();
  master1.kill('SIGCONT');

  await t.test('woken primary steps down', async (t) => {
    const status = await waitUntil('master1 to report the backup role', async () => {
      const reply = await masterStatus(cluster, 'master1');
      return reply.role === 'backup' && reply.failover.primary === 'master2' ? reply : undefined;
    });
    t.equal(status.term, 2, 'master1 knows term 2');
    t.equal(status.failover.termHolder, 'master2', 'master1 names master2 as the holder');
  });

  await t.test('woken primary never acts as primary', async (t) => {
    const probe = await helloToMaster1();
    t.equal(probe.welcomed, false, 'master1 welcomes no client');
    const change = await cluster.nodeAdmin('master1').send('PATCH', `${ADMIN_PATHS.clusterNodes}/us-traffic1`, { accepting: false });
    t.equal(change.status, 409, 'master1 rejects an admin change');
    t.match(JSON.stringify(change.body), /master1 is the backup master/, 'rejection names the reason');
    const woke = events.filter((event) => event.name === 'master1' && event.atMs >= resumedAtMs).map((event) => event.event);
    t.notOk(woke.includes('became-primary'), 'master1 never became primary again');
    t.notOk(woke.includes('claim-confirmed'), 'the DNS server did not confirm master1');
    t.ok(woke.includes('stepped-down'), 'master1 reported stepping down');
    const stale = events.filter((event) => event.event === 'master-joined' && event.data?.master === 'master1' && event.atMs >= pausedAtMs);
    t.same(stale, [], 'no traffic node accepted master1 after the pause');
    for (const node of ['us-traffic1', 'eu-traffic1']) {
      const reply = (await cluster.request(node, 'status')) as TrafficStatusReply;
      t.equal(reply.masterName, 'master2', `${node} stays with master2`);
    }
    const primary = await masterStatus(cluster, 'master2');
    t.equal(primary.role, 'primary', 'master2 is still the primary');
    t.equal(primary.term, 2, 'under term 2');
  });

  await t.test('one primary per term', (t) => {
    const promotions = events.filter((event) => event.event === 'became-primary').map((event) => `${String(event.data?.term)} ${event.name}`);
    t.same(promotions, ['2 master2'], 'term 2 went to master2 only');
    t.end();
  });
});
