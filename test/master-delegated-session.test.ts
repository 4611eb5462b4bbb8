import t from 'tap';

import { silentLogger } from '../src/logging/logger.js';
import type { ConnectedClientReport, MasterStatusReport } from '../src/master/status-report.js';
import { connectChannel } from '../src/net/ws-client.js';
import { StreamDirection, type IAssignment } from '../src/protocol/messages.js';
import { verifyTicket } from '../src/protocol/tickets.js';
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
  type TrafficSpec,
} from './fixtures/master-harness.js';

// No prefixes, so the srv method leaves every home node to the client.
const US: TrafficSpec = { name: 'us-traffic1', hostOctet: 10, prefixes: [], timezone: 'America/New_York' };
const EU: TrafficSpec = { name: 'eu-traffic1', hostOctet: 11, prefixes: [], timezone: 'Europe/Berlin' };
const CUSTOMER_ADDRESS = '127.30.0.5';
const REP_ADDRESS = '127.20.0.5';
const SRV_NAME = '_atlas._tcp.support.example.test';

const cluster = await createTestCluster(t, [US, EU]);
await startNodeProcess(t, trafficConfig(cluster, US), cluster.dir);
await startNodeProcess(t, trafficConfig(cluster, EU), cluster.dir);
const master = await startNodeProcess(t, { ...masterConfig(cluster), delegation: { srvName: SRV_NAME, sharedHostname: 'traffic.support.example.test', trafficPort: PUBLIC_PORT, resolvers: [] } }, cluster.dir);
await formCluster(cluster, [US, EU], 'srv');
for (const node of [US, EU]) {
  await waitFor(`${node.name} online`, async () => (await master.request<MasterStatusReport>('status')).nodes.find((entry) => entry.name === node.name)?.online === true || undefined);
}

/** Opens a session-channel connection to one node, as a client whose SRV lookup chose that node, and joins with the ticket. */
async function joinNode(t: Teardown, node: TrafficSpec, address: string, assignment: IAssignment, clientId: string): Promise<string> {
  const channel = await connectChannel({ logger: silentLogger() }, {
    host: `${node.name}.support.example.test`,
    port: PUBLIC_PORT,
    path: '/session',
    ca: cluster.certs.ca,
    lookup: clusterLookup(cluster),
    localAddress: address,
    heartbeat: HEARTBEAT,
  });
  t.teardown(() => channel.terminate('test finished'));
  channel.send({ sessionJoin: { ticket: assignment.ticket, clientId } });
  return (await new TestClient(channel).next('sessionJoined')).sessionJoined?.nodeName ?? '';
}

void t.test('master learns delegated home nodes', async (t) => {
  const rep = await connectClient(t, cluster, REP_ADDRESS, { role: Role.ROLE_REPRESENTATIVE, displayName: 'Rep', utcOffsetMinutes: -300 });
  const customer = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: 'Customer', utcOffsetMinutes: 60 });
  customer.client.channel.send({ supportRequest: { issue: 'cannot print' } });
  await waitFor('customer in queue', async () => ((await rep.client.next('queueUpdate')).queueUpdate?.entries?.some((entry) => entry.clientId === customer.clientId) === true ? true : undefined));
  rep.client.channel.send({ acceptRequest: { customerClientId: customer.clientId } });
  const customerStart = (await customer.client.next('sessionStart')).sessionStart!;
  const repStart = (await rep.client.next('sessionStart')).sessionStart!;
  const sessionId = customerStart.sessionId ?? '';

  const customerHome = customerStart.assignments?.[0];
  t.equal(customerHome?.node, '', 'customer home names no node');
  t.equal(customerHome?.srvName, SRV_NAME, 'customer home names the SRV record');
  t.equal(customerHome?.host, '', 'no host under srv');
  t.equal(verifyTicket(cluster.sessionKey, customerHome?.ticket, US.name).node, '', 'ticket verifies on any node');
  t.equal(verifyTicket(cluster.sessionKey, customerHome?.ticket, EU.name).sessionId, sessionId, 'ticket names the session');
  t.same(repStart.assignments?.map((assignment) => assignment.kind), ['home'], 'representative gets no cross connection before the customer lands');

  rep.client.channel.send({ showMyScreen: { sessionId } });
  rep.client.channel.send({ ticketRequest: { sessionId, stream: 'rep-screen', direction: StreamDirection.DIRECTION_PUBLISH } });
  const grant = (await rep.client.next('ticketGrant')).ticketGrant?.assignment;
  t.equal(grant?.node, '', 'fresh ticket before the node is known names no node');
  t.equal(grant?.srvName, SRV_NAME, 'fresh ticket keeps the SRV name');

  t.equal(await joinNode(t, EU, CUSTOMER_ADDRESS, customerHome!, customer.clientId), EU.name, 'customer joined eu-traffic1');
  const cross = (await rep.client.next('sessionAssignment')).sessionAssignment;
  t.equal(cross?.sessionId, sessionId, 'cross connection for the session');
  t.equal(cross?.assignment?.kind, 'cross', 'cross kind');
  t.equal(cross?.assignment?.node, EU.name, "cross connection on the customer's learned node");
  t.equal(cross?.assignment?.host, 'eu-traffic1.support.example.test', "cross connection dials that node's hostname");
  t.equal(cross?.assignment?.reason?.text, 'srv priority 10 weight 100', 'reason from the SRV record');
  t.equal(verifyTicket(cluster.sessionKey, cross?.assignment?.ticket, EU.name).node, EU.name, 'cross ticket is for that node');

  t.equal(await joinNode(t, US, REP_ADDRESS, grant!, rep.clientId), US.name, 'representative joined us-traffic1 with the fresh ticket');
  const share = (await customer.client.next('screenShareStart')).screenShareStart;
  t.equal(share?.assignment?.node, US.name, "screen share waited for the representative's learned node");

  const clients = await master.request<ConnectedClientReport[]>('connected-clients');
  const connections = (clientId: string): string[] => (clients.find((client) => client.clientId === clientId)?.session?.connections ?? []).map((entry) => `${entry.kind} ${entry.node} ${entry.reason}`).sort();
  t.same(connections(customer.clientId), ['cross us-traffic1 srv priority 10 weight 100', 'home eu-traffic1 srv priority 10 weight 100'], 'customer connections use the learned nodes');
  t.same(connections(rep.clientId), ['cross eu-traffic1 srv priority 10 weight 100', 'home us-traffic1 srv priority 10 weight 100'], 'representative connections use the learned nodes');

  rep.client.channel.send({ endSession: { sessionId, reason: 'done' } });
  await customer.client.next('sessionEnded');
});
