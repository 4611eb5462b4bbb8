import t from 'tap';
import { silentLogger } from '../src/logging/logger.js';
import { connectChannel } from '../src/net/ws-client.js';
import { ErrorCode, StreamDirection, type IAssignment } from '../src/protocol/messages.js';
import { verifyTicket } from '../src/protocol/tickets.js';
import type { ConnectedClientReport, MasterStatusReport } from '../src/master/status-report.js';
import type { StatusEntry } from '../src/master/status-history.js';
import {
  HEARTBEAT,
  PUBLIC_PORT,
  Role,
  TestClient,
  clusterLookup,
  connectClient,
  createTestCluster,
  formCluster,
  masterConfig,
  startNodeProcess,
  trafficConfig,
  waitFor,
  type Teardown,
  type TestCluster,
  type TrafficSpec,
} from './fixtures/master-harness.js';

const US: TrafficSpec = { name: 'us-traffic1', hostOctet: 10, prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' };
const EU: TrafficSpec = { name: 'eu-traffic1', hostOctet: 11, prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' };
const CUSTOMER_ADDRESS = '127.30.0.5';
const REP_ADDRESS = '127.20.0.5';

const cluster = await createTestCluster(t, [US, EU]);
const usNode = await startNodeProcess(t, trafficConfig(cluster, US), cluster.dir);
let euNode = await startNodeProcess(t, trafficConfig(cluster, EU), cluster.dir);
const master = await startNodeProcess(t, masterConfig(cluster), cluster.dir);
const built = await formCluster(cluster, [US, EU]);

type NodeReport = MasterStatusReport['nodes'][number];

/** Waits until the master reports `name` in the wanted online state. */
function waitForNode(name: string, online: boolean): Promise<NodeReport> {
  return waitFor(`${name} online=${online}`, async () => {
    const status = await master.request<MasterStatusReport>('status');
    const node = status.nodes.find((candidate) => candidate.name === name);
    return node?.online === online ? node : undefined;
  });
}

interface Participants {
  customer: TestClient;
  customerId: string;
  rep: TestClient;
  repId: string;
}

async function connectPair(t: Teardown, label: string): Promise<Participants> {
  const rep = await connectClient(t, cluster, REP_ADDRESS, { role: Role.ROLE_REPRESENTATIVE, displayName: `Rep ${label}`, utcOffsetMinutes: -300 });
  const customer = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: `Customer ${label}`, utcOffsetMinutes: 60 });
  return { customer: customer.client, customerId: customer.clientId, rep: rep.client, repId: rep.clientId };
}

/** Queues the customer, lets the representative accept, and returns both SessionStart messages. */
async function startSession(pair: Participants): Promise<{ customerStart: IAssignment[]; repStart: IAssignment[]; sessionId: string }> {
  pair.customer.channel.send({ supportRequest: { issue: 'cannot print' } });
  await waitFor('customer in queue', async () => {
    const update = await pair.rep.next('queueUpdate');
    return update.queueUpdate?.entries?.some((entry) => entry.clientId === pair.customerId) === true ? true : undefined;
  });
  pair.rep.channel.send({ acceptRequest: { customerClientId: pair.customerId } });
  const customerStart = (await pair.customer.next('sessionStart')).sessionStart!;
  const repStart = (await pair.rep.next('sessionStart')).sessionStart!;
  return { customerStart: customerStart.assignments ?? [], repStart: repStart.assignments ?? [], sessionId: customerStart.sessionId ?? '' };
}

function ticketNode(cluster: TestCluster, assignment: IAssignment | undefined): string {
  return verifyTicket(cluster.sessionKey, assignment?.ticket, assignment?.node ?? '').node;
}

await waitForNode(US.name, true);
await waitForNode(EU.name, true);

void t.test('master pushes config to new nodes', async (t) => {
  const status = await master.request<MasterStatusReport>('status');
  for (const name of [US.name, EU.name]) {
    const node = status.nodes.find((candidate) => candidate.name === name);
    t.equal(node?.appliedConfigVersion, built.sync.version, `${name} applied the synced version`);
    t.equal(node?.configCurrent, true, `${name} current`);
    t.equal(node?.address, `${cluster.network}.${name === US.name ? US.hostOctet : EU.hostOctet}`, `${name} address`);
  }
  const history = await master.request<StatusEntry[]>('status-history');
  t.ok(history.some((entry) => entry.code === 0 && entry.message.includes(`Finished configuration data sync with ${EU.name}`)), 'sync recorded in history');
});

void t.test('session assigns nodes by prefix', async (t) => {
  const pair = await connectPair(t, 'prefix');
  const { customerStart, repStart, sessionId } = await startSession(pair);
  t.match(sessionId, /^s-[0-9a-f]{16}$/, 'session id');

  const customerHome = customerStart[0];
  t.equal(customerStart.length, 1, 'customer gets one assignment');
  t.equal(customerHome?.kind, 'home', 'customer home kind');
  t.equal(customerHome?.node, EU.name, 'customer home on eu node');
  t.equal(customerHome?.host, 'eu-traffic1.support.example.test', 'customer host');
  t.equal(customerHome?.tlsName, 'eu-traffic1.support.example.test', 'customer tls name');
  t.equal(customerHome?.port, PUBLIC_PORT, 'customer port');
  t.equal(customerHome?.stream, 'customer-screen', 'customer stream');
  t.equal(customerHome?.direction, StreamDirection.DIRECTION_PUBLISH, 'customer publishes');
  t.equal(customerHome?.reason?.method, 'prefix', 'customer reason method');
  t.equal(customerHome?.reason?.prefix, '127.30.0.0/16', 'customer reason prefix');
  t.equal(customerHome?.reason?.prefixLength, 16, 'customer reason prefix length');

  const repHome = repStart.find((assignment) => assignment.kind === 'home');
  const repCross = repStart.find((assignment) => assignment.kind === 'cross');
  t.equal(repStart.length, 2, 'representative gets two assignments');
  t.equal(repHome?.node, US.name, 'representative home on us node');
  t.equal(repHome?.stream, 'rep-screen', 'representative publishes rep-screen');
  t.equal(repCross?.node, EU.name, 'representative cross on eu node');
  t.equal(repCross?.stream, 'customer-screen', 'representative subscribes customer-screen');
  t.equal(repCross?.direction, StreamDirection.DIRECTION_SUBSCRIBE, 'representative cross subscribes');

  t.equal(ticketNode(cluster, customerHome), EU.name, 'customer ticket verifies for eu node');
  t.equal(ticketNode(cluster, repHome), US.name, 'representative ticket verifies for us node');
  t.equal(ticketNode(cluster, repCross), EU.name, 'cross ticket verifies for eu node');
  t.throws(() => verifyTicket(cluster.sessionKey, customerHome?.ticket, US.name), { code: ErrorCode.ERROR_TICKET_WRONG_NODE }, 'customer ticket rejected by us node');
  const claims = verifyTicket(cluster.sessionKey, customerHome?.ticket, EU.name);
  t.equal(claims.participantId, pair.customerId, 'ticket names the customer');
  t.equal(claims.sessionId, sessionId, 'ticket names the session');

  pair.rep.channel.send({ showMyScreen: { sessionId } });
  const share = (await pair.customer.next('screenShareStart')).screenShareStart;
  t.equal(share?.assignment?.kind, 'cross', 'screen share kind');
  t.equal(share?.assignment?.node, US.name, 'screen share on the representative home node');
  t.equal(share?.assignment?.stream, 'rep-screen', 'screen share stream');
  t.equal(share?.assignment?.direction, StreamDirection.DIRECTION_SUBSCRIBE, 'customer subscribes');
  t.equal(ticketNode(cluster, share?.assignment ?? undefined), US.name, 'screen share ticket verifies for us node');

  const clients = await master.request<ConnectedClientReport[]>('connected-clients');
  const customerReport = clients.find((client) => client.clientId === pair.customerId);
  t.equal(customerReport?.session?.id, sessionId, 'connected-clients lists the session');
  t.same(customerReport?.session?.connections.map((connection) => [connection.kind, connection.node, connection.stream, connection.direction]), [
    ['home', EU.name, 'customer-screen', 'publish'],
    ['cross', US.name, 'rep-screen', 'subscribe'],
  ], 'connected-clients lists the customer connections');

  pair.rep.channel.send({ endSession: { sessionId, reason: 'fixed' } });
  const repEnded = await pair.rep.next('sessionEnded');
  const customerEnded = await pair.customer.next('sessionEnded');
  t.match(repEnded.sessionEnded?.reason, /fixed/, 'representative told the reason');
  t.match(customerEnded.sessionEnded?.reason, /fixed/, 'customer told the reason');
});

void t.test('master relays peer signals and paths', async (t) => {
  const pair = await connectPair(t, 'signals');
  pair.customer.channel.send({ supportRequest: { issue: 'signals' } });
  await waitFor('customer in queue', async () => {
    const update = await pair.rep.next('queueUpdate');
    return update.queueUpdate?.entries?.some((entry) => entry.clientId === pair.customerId) === true ? true : undefined;
  });
  pair.rep.channel.send({ acceptRequest: { customerClientId: pair.customerId } });
  const start = (await pair.customer.next('sessionStart')).sessionStart!;
  await pair.rep.next('sessionStart');
  const sessionId = start.sessionId ?? '';
  t.equal(start.direct, null, 'no direct plan while peer to peer is off');

  pair.customer.channel.send({ peerSignal: { sessionId, fromClientId: 'someone-else', toClientId: 'nobody', kind: 'candidates', candidates: ['udp 127.30.0.5:4000'], fingerprint: 'AB:CD' } });
  const relayed = (await pair.rep.next('peerSignal')).peerSignal;
  t.equal(relayed?.fromClientId, pair.customerId, 'master stamps the sender');
  t.equal(relayed?.toClientId, pair.repId, 'master stamps the receiver');
  t.same(relayed?.candidates, ['udp 127.30.0.5:4000'], 'candidates relayed');
  t.equal(relayed?.fingerprint, 'AB:CD', 'fingerprint relayed');

  const outsider = await connectClient(t, cluster, '127.30.0.9', { role: Role.ROLE_CUSTOMER, displayName: 'Outsider', utcOffsetMinutes: 60 });
  outsider.client.channel.send({ peerSignal: { sessionId, kind: 'candidates' } });
  const refused = (await outsider.client.next('sessionEnded')).sessionEnded;
  t.match(refused?.reason ?? '', /is not active for this client/, 'a client outside the session gets SessionEnded');

  pair.rep.channel.send({ pathReport: { sessionId, stream: '', path: 'relay', reason: 'direct attempt failed: test reason' } });
  const reported = await waitFor('the path in connected-clients', async () => {
    const clients = await master.request<ConnectedClientReport[]>('connected-clients');
    const connections = clients.find((client) => client.clientId === pair.repId)?.session?.connections ?? [];
    return connections.length > 0 && connections.every((connection) => connection.path === 'relay') ? connections : undefined;
  });
  t.ok(reported.every((connection) => connection.pathReason === 'direct attempt failed: test reason'), 'every connection keeps the reason');

  pair.customer.channel.send({ pathReport: { sessionId, path: 'sideways' } });
  const error = (await pair.customer.next('error')).error;
  t.equal(error?.code, ErrorCode.ERROR_MALFORMED, 'an unknown path is malformed');
  t.match(error?.message ?? '', /PathReport.path is "sideways"; expected "direct" or "relay"/, 'and the error names the value');
});

void t.test('traffic node reports joined client', async (t) => {
  const pair = await connectPair(t, 'join');
  const { customerStart, sessionId } = await startSession(pair);
  const home = customerStart[0]!;
  const channel = await connectChannel({ logger: silentLogger() }, {
    host: home.host ?? '',
    port: home.port ?? 0,
    path: '/session',
    tlsName: home.tlsName ?? '',
    ca: cluster.certs.ca,
    lookup: clusterLookup(cluster),
    localAddress: CUSTOMER_ADDRESS,
    heartbeat: HEARTBEAT,
  });
  t.teardown(() => channel.terminate('test finished'));
  const session = new TestClient(channel);
  channel.send({ sessionJoin: { ticket: home.ticket, clientId: pair.customerId } });
  const joined = await session.next('sessionJoined');
  t.equal(joined.sessionJoined?.nodeName, EU.name, 'joined the eu node');

  const connection = await waitFor('master to see the connection', async () => {
    const clients = await master.request<ConnectedClientReport[]>('connected-clients');
    const report = clients.find((client) => client.clientId === pair.customerId);
    const home = report?.session?.connections.find((candidate) => candidate.kind === 'home');
    return home?.connected === true ? home : undefined;
  });
  t.equal(connection.node, EU.name, 'connection reported by the eu node');
  pair.customer.channel.send({ endSession: { sessionId } });
  await pair.rep.next('sessionEnded');
});

void t.test('disconnect ends the session', async (t) => {
  const pair = await connectPair(t, 'leave');
  await startSession(pair);
  pair.rep.close();
  const ended = await pair.customer.next('sessionEnded');
  t.match(ended.sessionEnded?.reason, /representative Rep leave disconnected/, 'customer told the representative left');
  t.ok(pair.customer.channel.isOpen, 'customer channel stays open');
});

void t.test('offline node is not chosen', async (t) => {
  await euNode.stop('SIGKILL');
  const node = await waitForNode(EU.name, false);
  t.equal(node.online, false, 'master marks eu offline');

  const pair = await connectPair(t, 'offline');
  const { customerStart, sessionId } = await startSession(pair);
  t.equal(customerStart[0]?.node, US.name, 'customer sent to the remaining us node');
  t.equal(customerStart[0]?.reason?.method, 'random', 'no prefix among candidates, method decides');
  t.equal(customerStart[0]?.reason?.candidates, 1, 'one candidate');
  pair.customer.channel.send({ endSession: { sessionId } });
  await pair.rep.next('sessionEnded');
});

void t.test('link reconnects after node restart', async (t) => {
  euNode = await startNodeProcess(t, trafficConfig(cluster, EU), cluster.dir);
  const node = await waitForNode(EU.name, true);
  t.equal(node.appliedConfigVersion, built.sync.version, 'restarted node kept the synced version');

  const pair = await connectPair(t, 'back');
  const { customerStart, sessionId } = await startSession(pair);
  t.equal(customerStart[0]?.node, EU.name, 'customer sent to the eu node again');
  pair.customer.channel.send({ endSession: { sessionId } });
  await pair.rep.next('sessionEnded');
});

void t.test('paused node goes offline by heartbeat', async (t) => {
  usNode.child.kill('SIGSTOP');
  const pausedAt = Date.now();
  await waitForNode(US.name, false);
  const detectedMs = Date.now() - pausedAt;
  // Detection takes at most timeout + interval (5 s); the bound leaves room for a loaded machine.
  t.ok(detectedMs < 15_000, `offline detected after ${detectedMs} ms`);

  usNode.child.kill('SIGCONT');
  const node = await waitForNode(US.name, true);
  t.equal(node.online, true, 'back online after resuming');
});

void t.test('master keeps running', async (t) => {
  const status = await master.request<MasterStatusReport>('status');
  t.equal(status.nodes.length, 2, 'both nodes listed');
  t.equal(usNode.child.exitCode, null, 'us node still running');
});
