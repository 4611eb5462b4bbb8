// Session-channel connections of a client against a fake traffic node in the
// same process: retries of the same node, final refusals, and backpressure.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createClientNetwork } from '../src/client/connector.js';
import { SessionLink, type SessionLinkOptions } from '../src/client/session-link.js';
import type { ClientProcessConfig, FrameSettings } from '../src/config/client-config.js';
import { SITE_HOSTNAME } from '../src/config/constants.js';
import { silentLogger } from '../src/logging/logger.js';
import { ErrorCode, StreamDirection, type atlas } from '../src/protocol/messages.js';
import { FakeServer, MESSAGE_TIMEOUT_MS, createClientTestCluster, type ClientTestCluster, type FakeConnection } from './fixtures/client-fakes.js';

const TRAFFIC_HOST = `tr1.${SITE_HOSTNAME}`;
const FAST_RETRY = { initialDelayMs: 50, maxDelayMs: 100, jitter: 0.5 };

interface Harness {
  cluster: ClientTestCluster;
  traffic: FakeServer;
  createLink: (direction: StreamDirection, frames: FrameSettings, overrides?: Partial<SessionLinkOptions>, assignmentOverrides?: atlas.IAssignment) => SessionLink;
}

const SRV_NAME = `_atlas._tcp.${SITE_HOSTNAME}`;
/** Resolves to an address of the test network where nothing listens. */
const DEAD_HOST = `dead.${SITE_HOSTNAME}`;

async function createHarness(t: { teardown(fn: () => unknown): void }): Promise<Harness> {
  const cluster = await createClientTestCluster(t, { [TRAFFIC_HOST]: 2, [DEAD_HOST]: 9 });
  const traffic = await new FakeServer(`${cluster.network}.2`, '/session', cluster.certs).listen(t);
  const config = {
    address: `${cluster.clientNetwork}.30`,
    dns: cluster.dns,
    site: { host: SITE_HOSTNAME, port: 1 },
    // Long timeout: the backpressure test pauses reading on the server, which also holds back pongs.
    heartbeat: { intervalMs: 1000, timeoutMs: 15_000 },
  } as ClientProcessConfig;
  const logger = silentLogger();
  const network = createClientNetwork({ logger }, config, cluster.certs.ca);

  const createLink = (direction: StreamDirection, frames: FrameSettings, overrides: Partial<SessionLinkOptions> = {}, assignmentOverrides: atlas.IAssignment = {}): SessionLink => {
    const link = new SessionLink({ logger, connect: network.connectSession, resolveTargets: network.resolveTargets }, {
      sessionId: 'session-1',
      clientId: 'customer-1',
      assignment: {
        kind: 'home',
        node: 'tr1',
        host: TRAFFIC_HOST,
        port: traffic.port,
        stream: 'customer-screen',
        direction,
        ticket: { claims: randomBytes(32), mac: randomBytes(32) },
        tlsName: TRAFFIC_HOST,
        ...assignmentOverrides,
      },
      startedAtMs: Date.now(),
      frames,
      retryBackoff: FAST_RETRY,
      ...overrides,
    });
    t.teardown(() => link.close('test finished'));
    return link;
  };
  return { cluster, traffic, createLink };
}

async function join(connection: FakeConnection): Promise<atlas.SessionJoin> {
  const envelope = await connection.next('sessionJoin');
  connection.channel.send({ sessionJoined: { nodeName: 'tr1', sessionId: 'session-1', stream: 'customer-screen' } });
  return envelope.sessionJoin as atlas.SessionJoin;
}

function once<T extends unknown[]>(link: SessionLink, event: 'failed' | 'stream-done' | 'joined'): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${MESSAGE_TIMEOUT_MS} ms`)), MESSAGE_TIMEOUT_MS);
    link.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    });
  });
}

function seqs(connection: FakeConnection): number[] {
  return connection.received.filter((envelope) => envelope.body === 'streamFrame').map((envelope) => envelope.streamFrame!.seq!);
}

async function waitUntil(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + MESSAGE_TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

void t.test('link retries node then fails', async (t) => {
  const { traffic, createLink } = await createHarness(t);
  const link = createLink(StreamDirection.DIRECTION_SUBSCRIBE, { count: 10, sizeBytes: 100, intervalMs: 0 }, { retryAttempts: 2 });
  const failed = once<[string]>(link, 'failed');
  link.start();

  const first = await traffic.nextConnection();
  await join(first);
  await once(link, 'joined');
  await traffic.close();

  const [reason] = await failed;
  t.match(reason, /gave up after 2 retries of node tr1/);
  t.equal(link.state, 'failed');
  t.equal(link.failures.length, 3, 'the dropped connection and two refused retries');
  t.match(link.failures[0]?.reason, /closed by the node/);
  t.match(link.failures[1]?.reason, /ECONNREFUSED/);
  t.match(link.connectionReport(), { kind: 'home', node: 'tr1', state: /^failed: / });
});

void t.test('link stops on ticket refusal', async (t) => {
  const { traffic, createLink } = await createHarness(t);
  const link = createLink(StreamDirection.DIRECTION_SUBSCRIBE, { count: 10, sizeBytes: 100, intervalMs: 0 }, { retryAttempts: 5 });
  const failed = once<[string]>(link, 'failed');
  link.start();

  const connection = await traffic.nextConnection();
  await connection.next('sessionJoin');
  connection.channel.fail(ErrorCode.ERROR_TICKET_REPLAYED, 'session ticket was already used');

  const [reason] = await failed;
  t.match(reason, /ERROR_TICKET_REPLAYED: session ticket was already used/);
  t.equal(link.failures.length, 1, 'no retry after a final refusal');
  t.equal(traffic.connections.length, 1);
});

void t.test('publisher resumes after reconnect', async (t) => {
  const { traffic, createLink } = await createHarness(t);
  const link = createLink(StreamDirection.DIRECTION_PUBLISH, { count: 60, sizeBytes: 200, intervalMs: 10 });
  link.start();

  const first = await traffic.nextConnection();
  const firstJoin = await join(first);
  first.channel.send({ streamDemand: { stream: 'customer-screen', subscribers: 1 } });
  await waitUntil(() => seqs(first).length >= 5, 'five frames on the first connection');
  first.channel.terminate('test drops the session connection');

  const second = await traffic.nextConnection();
  const secondJoin = await join(second);
  t.same(Buffer.from(secondJoin.ticket!.claims!), Buffer.from(firstJoin.ticket!.claims!), 'the retry presents the same ticket');
  second.channel.send({ streamDemand: { stream: 'customer-screen', subscribers: 1 } });
  const end = (await second.next('streamEnd')).streamEnd as atlas.StreamEnd;

  t.equal(end.framesSent, 60);
  const firstSeqs = seqs(first);
  t.ok(seqs(second)[0]! > firstSeqs[firstSeqs.length - 1]!, 'sequence numbers continue after the reconnect');
  t.equal(seqs(second).at(-1), 59);
  t.equal(link.failures.length, 1);
  t.equal(link.state, 'joined');
});

void t.test('publisher stops at high water mark', async (t) => {
  const { traffic, createLink } = await createHarness(t);
  const frameCount = 400;
  const link = createLink(StreamDirection.DIRECTION_PUBLISH, { count: frameCount, sizeBytes: 64 * 1024, intervalMs: 0 });
  link.start();

  const connection = await traffic.nextConnection();
  await join(connection);
  connection.channel.ws.pause();
  connection.channel.send({ streamDemand: { stream: 'customer-screen', subscribers: 1 } });

  // With the reader paused, the publisher fills socket buffers and its high water mark, then stops.
  let previous = -1;
  await waitUntil(() => {
    const sent = link.streamReport().framesSent ?? 0;
    const stalled = sent > 0 && sent === previous;
    previous = sent;
    return stalled;
  }, 'the publisher to stall');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const stalledAt = link.streamReport().framesSent ?? 0;
  t.ok(stalledAt < frameCount, `publisher stalled after ${stalledAt} of ${frameCount} frames`);

  connection.channel.ws.resume();
  const end = (await connection.next('streamEnd', 60_000)).streamEnd as atlas.StreamEnd;
  t.equal(end.framesSent, frameCount);
  t.equal(connection.count('streamFrame'), frameCount, 'every frame arrives after the reader resumes');
  t.equal(link.streamReport().done, true);
});

void t.test('link tries next SRV target', async (t) => {
  const { cluster, traffic, createLink } = await createHarness(t);
  cluster.setSrvRecords({
    [SRV_NAME]: [
      { priority: 10, weight: 100, port: traffic.port, target: DEAD_HOST },
      { priority: 20, weight: 100, port: traffic.port, target: TRAFFIC_HOST },
    ],
  });
  const link = createLink(StreamDirection.DIRECTION_SUBSCRIBE, { count: 10, sizeBytes: 100, intervalMs: 0 }, {}, { host: '', tlsName: '', srvName: SRV_NAME });
  link.start();

  const connection = await traffic.nextConnection();
  await join(connection);
  await once(link, 'joined');
  t.equal(link.host, TRAFFIC_HOST, 'the lower-priority target answered after the first was refused');
  t.equal(link.failures.length, 0, 'a refused SRV target is not a failed attempt while another target works');
});
