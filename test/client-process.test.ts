// Runs a real customer client process (dist/cli.js) against a fake master and
// a fake traffic node, and checks what it sends on the wire.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { StreamReceiver, createFrame } from '../src/client/frames.js';
import type { ClientProcessConfig } from '../src/config/client-config.js';
import { SITE_HOSTNAME, SOFTWARE_VERSION } from '../src/config/constants.js';
import { Role, StreamDirection, type atlas } from '../src/protocol/messages.js';
import type { ChildMessage } from '../src/util/ipc.js';
import { FakeServer, MESSAGE_TIMEOUT_MS, createClientTestCluster, type FakeConnection } from './fixtures/client-fakes.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const TRAFFIC_HOST = `tr1.${SITE_HOSTNAME}`;
const FRAME_COUNT = 40;
const FRAME_SIZE = 3000;
const FRAME_INTERVAL_MS = 20;

/** A forked client with its IPC messages and a request function. */
interface ClientProcess {
  child: ChildProcess;
  messages: ChildMessage[];
  request(command: string, args?: Record<string, unknown>): Promise<unknown>;
  waitFor(predicate: (message: ChildMessage) => boolean, what: string): Promise<ChildMessage>;
}

/** The parts of a tap test the helpers use. */
interface TestHandle {
  teardown(fn: () => unknown): void;
  comment(...message: unknown[]): void;
}

function startClient(t: TestHandle, configFile: string, env: Record<string, string>): ClientProcess {
  const child = fork(CLI, ['client', 'customer', '--config', configFile], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
  });
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM') t.comment(`client exited with ${code ?? signal}: ${stderr}`);
  });

  const messages: ChildMessage[] = [];
  const listeners = new Set<(message: ChildMessage) => void>();
  child.on('message', (message: ChildMessage) => {
    messages.push(message);
    for (const listener of listeners) listener(message);
  });

  const waitFor = (predicate: (message: ChildMessage) => boolean, what: string): Promise<ChildMessage> => {
    const seen = messages.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`no ${what} from the client within ${MESSAGE_TIMEOUT_MS} ms; stderr: ${stderr}`));
      }, MESSAGE_TIMEOUT_MS);
      const listener = (message: ChildMessage): void => {
        if (!predicate(message)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(message);
      };
      listeners.add(listener);
    });
  };

  let nextRequestId = 1;
  const request = async (command: string, args?: Record<string, unknown>): Promise<unknown> => {
    const requestId = nextRequestId++;
    const reply = waitFor((message) => message.type === 'reply' && message.requestId === requestId, `reply to ${command}`);
    child.send({ type: 'request', requestId, command, args });
    const message = await reply;
    if (message.type !== 'reply') throw new Error('unexpected message');
    if (!message.ok) throw new Error(message.error);
    return message.result;
  };
  return { child, messages, request, waitFor };
}

function ticket(): atlas.ISessionTicket {
  return { claims: randomBytes(48), mac: randomBytes(32) };
}

function assignment(kind: string, stream: string, direction: StreamDirection, port: number, sessionTicket: atlas.ISessionTicket): atlas.IAssignment {
  return {
    kind,
    node: 'tr1',
    host: TRAFFIC_HOST,
    port,
    stream,
    direction,
    ticket: sessionTicket,
    tlsName: TRAFFIC_HOST,
    reason: { method: 'prefix', prefix: '127.0.0.0/8', prefixLength: 8, candidates: 1, tied: 1, text: 'prefix 127.0.0.0/8 matched' },
  };
}

/** Accepts one session-channel connection and checks the join against the expected tickets. */
async function acceptJoin(connection: FakeConnection, tickets: Map<string, atlas.ISessionTicket>): Promise<{ stream: string; join: atlas.SessionJoin }> {
  const envelope = await connection.next('sessionJoin');
  const join = envelope.sessionJoin as atlas.SessionJoin;
  const claims = Buffer.from(join.ticket?.claims ?? []);
  const stream = [...tickets].find(([, expected]) => claims.equals(Buffer.from(expected.claims!)))?.[0] ?? 'unknown';
  connection.channel.send({ sessionJoined: { nodeName: 'tr1', sessionId: 'session-1', stream } });
  return { stream, join };
}

void t.test('customer process', async (t) => {
  const cluster = await createClientTestCluster(t, { [SITE_HOSTNAME]: 1, [TRAFFIC_HOST]: 2 });
  const master = await new FakeServer(`${cluster.network}.1`, '/control', cluster.certs).listen(t);
  const traffic = await new FakeServer(`${cluster.network}.2`, '/session', cluster.certs).listen(t);
  const customerAddress = `${cluster.clientNetwork}.30`;

  const config: ClientProcessConfig = {
    role: 'customer',
    name: 'customer1',
    displayName: 'Customer One',
    address: customerAddress,
    site: { host: SITE_HOSTNAME, port: master.port },
    dns: cluster.dns,
    certsDir: cluster.certs.dir,
    logFile: join(cluster.dir, 'customer1.log'),
    heartbeat: { intervalMs: 1000, timeoutMs: 4000 },
    frames: { count: FRAME_COUNT, sizeBytes: FRAME_SIZE, intervalMs: FRAME_INTERVAL_MS },
    auto: { requestSupport: true, issue: 'printer is on fire' },
  };
  const configFile = join(cluster.dir, 'customer1.json');
  await writeFile(configFile, JSON.stringify(config));
  const client = startClient(t, configFile, { TZ: 'Asia/Tokyo' });

  // Control channel: hello, welcome, support request.
  const control = await master.nextConnection();
  const hello = (await control.next('clientHello')).clientHello as atlas.ClientHello;
  t.equal(control.remoteAddress, customerAddress, 'control channel comes from the configured source address');
  t.equal(hello.role, Role.ROLE_CUSTOMER);
  t.equal(hello.utcOffsetMinutes, 540, 'Asia/Tokyo is UTC+9');
  t.equal(hello.softwareVersion, SOFTWARE_VERSION);
  t.equal(hello.displayName, 'Customer One');
  t.not(hello.clientId, '');
  control.channel.send({ clientWelcome: { clientId: hello.clientId, masterName: 'fake-master', term: 1 } });

  const ready = await client.waitFor((message) => message.type === 'ready', 'ready report');
  t.equal(ready.type === 'ready' && ready.name, 'customer1');
  t.equal(ready.type === 'ready' && ready.info.clientId, hello.clientId);
  const support = (await control.next('supportRequest')).supportRequest as atlas.SupportRequest;
  t.equal(support.issue, 'printer is on fire');

  // A dropped control channel is reopened with the same client id, and the pending request is sent again.
  control.channel.terminate('test drops the control channel');
  const control2 = await master.nextConnection();
  const hello2 = (await control2.next('clientHello')).clientHello as atlas.ClientHello;
  t.equal(hello2.clientId, hello.clientId, 'client id survives a reconnect');
  control2.channel.send({ clientWelcome: { clientId: hello.clientId, masterName: 'fake-master', term: 1 } });
  const support2 = (await control2.next('supportRequest')).supportRequest as atlas.SupportRequest;
  t.equal(support2.issue, 'printer is on fire', 'support request is sent again after the reconnect');

  // Session: the customer publishes its screen and, after Show My Screen, receives the representative's.
  const tickets = new Map([['customer-screen', ticket()], ['rep-screen', ticket()]]);
  control2.channel.send({
    sessionStart: {
      sessionId: 'session-1',
      peerClientId: 'rep-1',
      peerDisplayName: 'Rep One',
      assignments: [assignment('home', 'customer-screen', StreamDirection.DIRECTION_PUBLISH, traffic.port, tickets.get('customer-screen')!)],
    },
  });
  t.same(await client.request('wait-session', { timeoutMs: MESSAGE_TIMEOUT_MS }), { sessionId: 'session-1' });

  const publishConnection = await traffic.nextConnection();
  const publishJoin = await acceptJoin(publishConnection, tickets);
  t.equal(publishJoin.stream, 'customer-screen', 'publisher presents the customer-screen ticket');
  t.same(Buffer.from(publishJoin.join.ticket!.mac!), Buffer.from(tickets.get('customer-screen')!.mac!), 'ticket MAC arrives unchanged');
  t.equal(publishJoin.join.clientId, hello.clientId);
  t.equal(publishConnection.remoteAddress, customerAddress, 'session channel comes from the configured source address');

  control2.channel.send({ screenShareStart: { sessionId: 'session-1', assignment: assignment('cross', 'rep-screen', StreamDirection.DIRECTION_SUBSCRIBE, traffic.port, tickets.get('rep-screen')!) } });
  const subscribeConnection = await traffic.nextConnection();
  const subscribeJoin = await acceptJoin(subscribeConnection, tickets);
  t.equal(subscribeJoin.stream, 'rep-screen', 'subscriber presents the rep-screen ticket');

  // No frames before a subscriber exists.
  publishConnection.channel.send({ streamDemand: { stream: 'customer-screen', subscribers: 0 } });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.equal(publishConnection.count('streamFrame'), 0, 'publisher waits for a subscriber');
  publishConnection.channel.send({ streamDemand: { stream: 'customer-screen', subscribers: 1 } });

  // Frames to the customer: 0 1 2 4 3 3 5(corrupted) 7, StreamEnd 8.
  const sendFrame = (frame: atlas.IStreamFrame): boolean => subscribeConnection.channel.send({ streamFrame: frame });
  for (const seq of [0, 1, 2, 4, 3, 3]) sendFrame(createFrame('rep-screen', seq, 500));
  const corrupted = createFrame('rep-screen', 5, 500);
  corrupted.payload![0] = corrupted.payload![0]! ^ 0xff;
  sendFrame(corrupted);
  sendFrame(createFrame('rep-screen', 7, 500));
  subscribeConnection.channel.send({ streamEnd: { stream: 'rep-screen', framesSent: 8 } });

  const end = (await publishConnection.next('streamEnd', 30_000)).streamEnd as atlas.StreamEnd;
  t.equal(end.framesSent, FRAME_COUNT);
  const receiver = new StreamReceiver('customer-screen', 0);
  for (const envelope of publishConnection.received) {
    if (envelope.body === 'streamFrame') receiver.accept(envelope.streamFrame as atlas.StreamFrame);
  }
  receiver.end(end.framesSent);
  const published = receiver.stats();
  t.equal(published.verified, FRAME_COUNT, 'every published frame verifies');
  t.equal(published.corrupted, 0);
  t.equal(published.reordered, 0);

  const waited = (await client.request('wait-streams', { timeoutMs: 30_000 })) as { streams: Record<string, unknown>[] };
  const repScreen = waited.streams.find((stream) => stream.stream === 'rep-screen');
  t.match(repScreen, { direction: 'subscribe', node: 'tr1', framesSent: 8, received: 8, verified: 6, lost: 2, reordered: 1, duplicated: 1, corrupted: 1, done: true });
  t.type(repScreen?.firstFrameMs, 'number');
  const customerScreen = waited.streams.find((stream) => stream.stream === 'customer-screen');
  t.match(customerScreen, { direction: 'publish', node: 'tr1', framesSent: FRAME_COUNT, done: true });

  const stats = (await client.request('stats')) as { connections: Record<string, unknown>[] };
  t.match(stats.connections[0], { kind: 'master', node: 'fake-master', host: SITE_HOSTNAME, port: master.port, state: 'open' });
  t.match(stats.connections[1], { kind: 'home', node: 'tr1', host: TRAFFIC_HOST, reason: 'prefix 127.0.0.0/8 matched', state: 'joined' });
  t.match(stats.connections[2], { kind: 'cross', node: 'tr1', state: 'joined' });
  t.match(await client.request('status'), { name: 'customer1', role: 'customer', clientId: hello.clientId, connected: true, sessionId: 'session-1' });

  // SessionEnded closes the session connections.
  control2.channel.send({ sessionEnded: { sessionId: 'session-1', reason: 'representative ended the session' } });
  const ended = await client.waitFor((message) => message.type === 'event' && message.event === 'session-ended', 'session-ended event');
  t.match(ended.type === 'event' && ended.data, { sessionId: 'session-1', reason: 'representative ended the session' });
  const publishClose = await publishConnection.closed;
  t.equal(publishClose.local, false, 'client closed the publishing connection');
  const subscribeClose = await subscribeConnection.closed;
  t.equal(subscribeClose.local, false, 'client closed the subscribing connection');
  const finalStatus = (await client.request('status')) as Record<string, unknown>;
  t.equal(finalStatus.connected, true);
  t.equal(finalStatus.sessionId, undefined, 'no session runs after SessionEnded');
});

void t.test('client rejects invalid options', async (t) => {
  const child = fork(CLI, ['client', 'customer', '--address', '10.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 2);
  t.match(stderr, /the cluster is unknown; pass --run-dir/);
});
