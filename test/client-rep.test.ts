// Representative console logic (Client in this process) against a fake master:
// queue, accept, rejection, Show My Screen and EndSession on the control channel.
import { once } from 'node:events';
import t from 'tap';
import { Client } from '../src/client/client.js';
import { createClientNetwork } from '../src/client/connector.js';
import type { ClientProcessConfig } from '../src/config/client-config.js';
import { SITE_HOSTNAME } from '../src/config/constants.js';
import { silentLogger } from '../src/logging/logger.js';
import { Role, type atlas } from '../src/protocol/messages.js';
import { FakeServer, createClientTestCluster, type FakeConnection } from './fixtures/client-fakes.js';

interface RepHarness {
  client: Client;
  control: FakeConnection;
  hello: atlas.ClientHello;
  events: { event: string; data?: Record<string, unknown> }[];
}

async function startRep(t: { teardown(fn: () => unknown): void }, auto: ClientProcessConfig['auto'] = {}): Promise<RepHarness> {
  const cluster = await createClientTestCluster(t, { [SITE_HOSTNAME]: 1 });
  const master = await new FakeServer(`${cluster.network}.1`, '/control', cluster.certs).listen(t);
  const config: ClientProcessConfig = {
    role: 'representative',
    name: 'rep1',
    displayName: 'Rep One',
    address: `${cluster.clientNetwork}.40`,
    site: { host: SITE_HOSTNAME, port: master.port },
    dns: cluster.dns,
    certsDir: cluster.certs.dir,
    heartbeat: { intervalMs: 1000, timeoutMs: 4000 },
    frames: { count: 5, sizeBytes: 100, intervalMs: 0 },
    auto,
  };
  const logger = silentLogger();
  const network = createClientNetwork({ logger }, config, cluster.certs.ca);
  const events: RepHarness['events'] = [];
  const client = new Client({
    logger,
    connectControl: network.connectControl,
    session: { connect: network.connectSession, resolveTargets: network.resolveTargets },
    report: (event, data) => events.push({ event, data }),
  }, config);
  t.teardown(() => client.stop('test finished'));
  client.start();

  const control = await master.nextConnection();
  const hello = (await control.next('clientHello')).clientHello as atlas.ClientHello;
  const welcomed = once(client, 'welcome');
  control.channel.send({ clientWelcome: { clientId: hello.clientId, masterName: 'fake-master', term: 1 } });
  await welcomed;
  return { client, control, hello, events };
}

const QUEUE_ENTRY = { clientId: 'customer-1', displayName: 'Customer One', issue: 'no sound', queuedAtMs: 1 };

void t.test('rep hello names representative', async (t) => {
  const { hello } = await startRep(t);
  t.equal(hello.role, Role.ROLE_REPRESENTATIVE);
  t.equal(hello.displayName, 'Rep One');
  t.equal(hello.sessionKey, '');
});

void t.test('rep accept resolves on session start', async (t) => {
  const { client, control } = await startRep(t);
  control.channel.send({ queueUpdate: { entries: [QUEUE_ENTRY] } });

  const accepted = client.accept('customer-1');
  const request = (await control.next('acceptRequest')).acceptRequest as atlas.AcceptRequest;
  t.equal(request.customerClientId, 'customer-1');
  control.channel.send({ sessionStart: { sessionId: 'session-7', peerClientId: 'customer-1', peerDisplayName: 'Customer One', assignments: [] } });
  t.same(await accepted, { sessionId: 'session-7' });
  t.equal(client.queue.length, 1, 'queue reflects the last QueueUpdate');

  t.same(client.showMyScreen(), { sessionId: 'session-7' });
  const show = (await control.next('showMyScreen')).showMyScreen as atlas.ShowMyScreen;
  t.equal(show.sessionId, 'session-7');

  t.same(client.endSession('done'), { sessionId: 'session-7' });
  const end = (await control.next('endSession')).endSession as atlas.EndSession;
  t.equal(end.sessionId, 'session-7');
  t.equal(end.reason, 'done');
});

void t.test('rep accept rejected by master', async (t) => {
  const { client, control } = await startRep(t);
  const accepted = client.accept('customer-9');
  await control.next('acceptRequest');
  control.channel.send({ sessionEnded: { sessionId: '', reason: 'no waiting customer: customer-9 is not in the queue' } });
  await t.rejects(accepted, /the master rejected the request: no waiting customer: customer-9 is not in the queue/);
  t.equal(client.activeSession, undefined);
});

void t.test('rep accept fails when session cannot start', async (t) => {
  const { client, control } = await startRep(t);
  const accepted = client.accept('customer-1');
  await control.next('acceptRequest');
  control.channel.send({ sessionEnded: { sessionId: 'session-9', reason: 'no traffic node available for customer-1' } });
  await t.rejects(accepted, /the master rejected the request: no traffic node available for customer-1/);
  t.equal(client.activeSession, undefined, 'no session started');
});

void t.test('rep auto accept and show screen', async (t) => {
  const { control, events } = await startRep(t, { accept: true, showMyScreen: true });
  control.channel.send({ queueUpdate: { entries: [QUEUE_ENTRY] } });
  const request = (await control.next('acceptRequest')).acceptRequest as atlas.AcceptRequest;
  t.equal(request.customerClientId, '', 'automatic accept takes the oldest customer');

  control.channel.send({ sessionStart: { sessionId: 'session-8', peerClientId: 'customer-1', peerDisplayName: 'Customer One', assignments: [] } });
  const show = (await control.next('showMyScreen')).showMyScreen as atlas.ShowMyScreen;
  t.equal(show.sessionId, 'session-8');
  t.ok(events.some((entry) => entry.event === 'session-started' && entry.data?.sessionId === 'session-8'), 'session-started event reported');
});

void t.test('customer commands rejected for rep', async (t) => {
  const { client } = await startRep(t);
  t.throws(() => client.requestSupport('help'), /a representative cannot request support; only a customer can/);
});
