// The command API served in-process over real HTTPS on loopback, with a
// fixed set of clients, sessions and traffic nodes behind it.
import { DOMParser, type Document, type Element } from '@xmldom/xmldom';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../src/logging/logger.js';
import { ensureClusterCerts } from '../src/net/certs.js';
import { WsServer } from '../src/net/ws-server.js';
import { Role } from '../src/protocol/messages.js';
import type { ConnectedClient } from '../src/master/client-registry.js';
import { AccessTokenStore } from '../src/master/command-api/access-tokens.js';
import { ApiAccountStore } from '../src/master/command-api/api-accounts.js';
import { CommandApi } from '../src/master/command-api/command-api.js';
import { element } from '../src/util/xml.js';
import type { ApplianceRef } from '../src/master/command-api/connected-clients.js';
import type { SessionConnection, SessionRecord } from '../src/master/session-broker.js';
import { sendNotFound } from '../src/master/command-api/master-command-api.js';
import { rejectCommandApiRequest } from '../src/master/command-api/backup-refusal.js';
import { CommandApiClient, requestMaster, type MasterEndpoint } from '../src/launcher/command-api-client.js';
import { hashSecret } from '../src/util/scrypt-hash.js';
import { randomLoopbackAddress } from './fixtures/traffic-harness.js';

const MASTER: ApplianceRef = { guid: 'a'.repeat(32), name: 'master1', hostname: 'master1.support.example.test', role: 'primary' };
const US_NODE: ApplianceRef = { guid: 'b'.repeat(32), name: 'us-traffic1', hostname: 'us-traffic1.support.example.test', role: 'traffic' };
const EU_NODE: ApplianceRef = { guid: 'c'.repeat(32), name: 'eu-traffic1', hostname: 'eu-traffic1.support.example.test', role: 'traffic' };
const FULL = { clientId: 'full-client-0001', clientSecret: 'full secret & <more>' };
const READ_ONLY = { clientId: 'read-only-client-01', clientSecret: 'read-only-secret' };
const START_MS = Date.parse('2026-12-04T10:00:00Z');

function fakeClient(clientId: string, role: Role, displayName: string, address: string, offsetMinutes: number, sessionId?: string): ConnectedClient {
  return { clientId, role, displayName, address, utcOffsetMinutes: offsetMinutes, connectedAtMs: START_MS, sessionId } as unknown as ConnectedClient;
}

function connection(node: string, kind: 'home' | 'cross', stream: string, direction: 'publish' | 'subscribe', connected: boolean): SessionConnection {
  return { kind, node, stream, direction, reason: `prefix matched for ${node}`, connected, connectedAtMs: connected ? START_MS + 5000 : undefined, path: connected ? 'relay' : '' };
}

// A customer in the EU and a representative in the US share session s-1; a second representative is idle.
const session = {
  id: 's-1',
  connections: new Map([
    ['customer-eu', [connection('eu-traffic1', 'home', 'customer-screen', 'publish', true)]],
    ['rep-us', [connection('us-traffic1', 'home', 'rep-screen', 'publish', true), connection('eu-traffic1', 'cross', 'customer-screen', 'subscribe', true)]],
  ]),
} as unknown as SessionRecord;
const clients = [
  fakeClient('rep-us', Role.ROLE_REPRESENTATIVE, 'Rep <US> & "co"', '127.20.0.5', -300, 's-1'),
  fakeClient('customer-eu', Role.ROLE_CUSTOMER, 'Customer (EU)', '127.30.0.5', 60, 's-1'),
  fakeClient('rep-idle', Role.ROLE_REPRESENTATIVE, 'Idle rep', '127.20.0.6', -300),
];

let nowMs = START_MS;
const tokens = new AccessTokenStore({ ttlMs: 60_000, now: () => nowMs });
const dir = await mkdtemp(join(tmpdir(), 'atlas-command-api-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const certs = await ensureClusterCerts(join(dir, 'certs'));
const accounts = await ApiAccountStore.open({ logger: silentLogger() }, {
  dataDir: join(dir, 'data'),
  seeds: [
    { name: 'full', clientId: FULL.clientId, secretHash: await hashSecret(FULL.clientSecret), commandApi: 'full' },
    { name: 'reader', clientId: READ_ONLY.clientId, secretHash: await hashSecret(READ_ONLY.clientSecret), commandApi: 'read_only' },
  ],
});
const api = new CommandApi({
  logger: silentLogger(),
  accounts,
  tokens,
  clients: { master: MASTER, onlineTrafficNodes: () => [US_NODE, EU_NODE], clients: () => clients, session: (id) => (id === 's-1' ? session : undefined) },
  health: () => Promise.resolve({ applianceGuid: MASTER.guid, hostname: MASTER.hostname, version: '24.3.1', success: true, failoverRole: 'none' as const }),
});
api.addAction('test_change', { permission: 'full', run: () => ({ xml: element('changed'), json: { changed: true } }) });

const address = randomLoopbackAddress();
const server = new WsServer({ logger: silentLogger() }, {
  host: address,
  port: 0,
  tls: { cert: certs.cert, key: certs.key },
  paths: {},
  onRequest: (request, response) => {
    if (!api.handle(request, response)) sendNotFound(response);
  },
});
const endpoint: MasterEndpoint = { host: MASTER.hostname, address, port: await server.listen(), ca: certs.ca };
t.teardown(() => server.close());
const client = new CommandApiClient(endpoint, FULL);

function parseXml(text: string): Document {
  return new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new Error(`XML ${level}: ${message}`);
    },
  }).parseFromString(text, 'text/xml');
}

function children(parent: Element | Document, name: string): Element[] {
  return Array.from(parent.getElementsByTagName(name));
}

function text(parent: Element, name: string): string | null {
  return children(parent, name)[0]?.textContent ?? null;
}

void t.test('token endpoint issues bearer tokens', async (t) => {
  const token = await client.fetchToken();
  t.match(token, /^[A-Za-z0-9_-]{40,}$/, 'token is base64url');
  const reply = await requestMaster(endpoint, {
    method: 'POST',
    path: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: READ_ONLY.clientId, client_secret: READ_ONLY.clientSecret }).toString(),
  });
  t.equal(reply.status, 200, 'credentials in the body work too');
  const body = JSON.parse(reply.body) as { token_type: string; expires_in: number };
  t.equal(body.token_type, 'Bearer');
  t.equal(body.expires_in, 60);
  t.equal(reply.headers['cache-control'], 'no-store');
});

void t.test('token endpoint rejects bad requests', async (t) => {
  const before = tokens.size;
  const cases: { name: string; status: number; error: string; headers: Record<string, string>; body: string }[] = [
    { name: 'wrong secret', status: 401, error: 'invalid_client', headers: { authorization: `Basic ${Buffer.from(`${FULL.clientId}:wrong`).toString('base64')}` }, body: 'grant_type=client_credentials' },
    { name: 'unknown client', status: 401, error: 'invalid_client', headers: { authorization: `Basic ${Buffer.from('nobody-at-all:secret').toString('base64')}` }, body: 'grant_type=client_credentials' },
    { name: 'no credentials', status: 401, error: 'invalid_client', headers: {}, body: 'grant_type=client_credentials' },
    { name: 'password grant', status: 400, error: 'unsupported_grant_type', headers: {}, body: 'grant_type=password' },
    { name: 'no grant type', status: 400, error: 'invalid_request', headers: {}, body: 'scope=all' },
  ];
  for (const item of cases) {
    const reply = await requestMaster(endpoint, { method: 'POST', path: '/oauth2/token', headers: { 'content-type': 'application/x-www-form-urlencoded', ...item.headers }, body: item.body });
    t.equal(reply.status, item.status, `${item.name}: status`);
    t.equal((JSON.parse(reply.body) as { error: string }).error, item.error, `${item.name}: error code`);
  }
  const get = await requestMaster(endpoint, { method: 'GET', path: '/oauth2/token' });
  t.equal(get.status, 405, 'GET is not allowed');
  t.equal(tokens.size, before, 'no token was issued');
});

void t.test('command API requires a valid token', async (t) => {
  const missing = await requestMaster(endpoint, { method: 'GET', path: '/api/command?action=get_connected_clients' });
  t.equal(missing.status, 401, 'no token');
  t.match(missing.headers['www-authenticate'], /^Bearer/);
  t.equal(parseXml(missing.body).documentElement?.nodeName, 'error', 'XML error element');

  const forged = await requestMaster(endpoint, { method: 'GET', path: '/api/command?action=check_health', headers: { authorization: 'Bearer not-a-real-token' } });
  t.equal(forged.status, 401, 'unknown token');
  t.match(forged.headers['www-authenticate'], /invalid_token/);

  const stale = new CommandApiClient(endpoint, FULL);
  const staleToken = await stale.fetchToken();
  nowMs += 61_000;
  const expired = await requestMaster(endpoint, { method: 'GET', path: '/api/command?action=check_health', headers: { authorization: `Bearer ${staleToken}` } });
  t.equal(expired.status, 401, 'expired token');
  const renewed = await stale.command('check_health');
  t.equal(renewed.status, 200, 'the client gets a new token after a 401 and sends the action again');
  nowMs = START_MS;
});

void t.test('read-only account cannot run full actions', async (t) => {
  const reader = new CommandApiClient(endpoint, READ_ONLY);
  const denied = await reader.command('test_change');
  t.equal(denied.status, 403);
  t.match(text(parseXml(denied.body).documentElement as Element, 'error') ?? denied.body, /full access/);
  const allowed = await client.command('test_change');
  t.equal(allowed.status, 200, 'full account may');
});

void t.test('get_connected_clients answers XML', async (t) => {
  const reply = await client.command('get_connected_clients');
  t.equal(reply.status, 200);
  t.match(reply.headers['content-type'], /^text\/xml/);
  const document = parseXml(reply.body);
  const root = document.documentElement as Element;
  t.equal(root.nodeName, 'connected_clients');
  const reps = children(root, 'connected_representative');
  const customers = children(root, 'connected_support_customer');
  t.same(reps.map((rep) => rep.getAttribute('id')), ['rep-us', 'rep-idle']);
  t.same(customers.map((customer) => customer.getAttribute('id')), ['customer-eu']);
  const rep = reps[0] as Element;
  t.equal(text(rep, 'display_name'), 'Rep <US> & "co"', 'escaped text reads back');
  t.equal(text(rep, 'timezone_offset'), '-18000', 'seconds from UTC');
  t.equal(text(rep, 'public_ip'), '127.20.0.5');
  t.equal(children(rep, 'connected_since')[0]?.getAttribute('ts'), String(START_MS / 1000));
  t.equal(children(rep, 'client_connections').length, 0, 'no connections unless asked');
});

void t.test('get_connected_clients filters and connections', async (t) => {
  const byType = parseXml((await client.command('get_connected_clients', { type: 'support_customer' })).body);
  t.equal(children(byType, 'connected_representative').length, 0, 'type filter drops representatives');
  t.equal(children(byType, 'connected_support_customer').length, 1, 'type filter keeps the customer');

  const byId = parseXml((await client.command('get_connected_clients', { id: 'rep-us,customer-eu', include_connections: '1' })).body);
  const rep = children(byId, 'connected_representative')[0] as Element;
  t.equal(children(byId, 'connected_representative').length, 1, 'id filter');
  const connections = children(rep, 'client_connection');
  t.same(connections.map((item) => item.getAttribute('appliance_name')), ['master1', 'us-traffic1', 'eu-traffic1']);
  t.same(connections.map((item) => item.getAttribute('appliance_id')), [MASTER.guid, US_NODE.guid, EU_NODE.guid], 'appliance GUIDs');
  t.equal(text(connections[1] as Element, 'reason'), 'prefix matched for us-traffic1', 'reason of the choice');
  t.equal(children(connections[2] as Element, 'stream')[0]?.getAttribute('direction'), 'subscribe');
  t.equal(children(rep, 'event').length, 3, 'one event per open connection');
});

void t.test('get_connected_client_list summary', async (t) => {
  const document = parseXml((await client.command('get_connected_client_list')).body);
  const summaries = children(document, 'appliance_summary');
  const counts: Record<string, Record<string, number>> = {};
  for (const summary of summaries) {
    counts[summary.getAttribute('id') ?? ''] = Object.fromEntries(children(summary, 'count').map((count) => [count.getAttribute('type') ?? '', Number(count.textContent)]));
  }
  t.same(counts[MASTER.guid], { representative: 2, support_customer: 1, presentation_attendee: 0, push_agent: 0 }, 'every online client is with the master');
  t.same(counts[US_NODE.guid], { representative: 1, support_customer: 0, presentation_attendee: 0, push_agent: 0 }, 'US node: the representative in session');
  t.same(counts[EU_NODE.guid], { representative: 1, support_customer: 1, presentation_attendee: 0, push_agent: 0 }, 'EU node: both, through the cross connection');
  t.equal(children(document, 'connected_client').length, 3, 'one entry per client');

  const summaryOnly = parseXml((await client.command('get_connected_client_list', { summary_only: '1', type: 'representative' })).body);
  t.equal(children(summaryOnly, 'connected_client').length, 0, 'summary_only lists no clients');
  t.same(children(summaryOnly, 'count').map((count) => count.getAttribute('type')), ['representative', 'representative', 'representative'], 'counts only the asked type');
});

void t.test('check_health answers XML', async (t) => {
  const document = parseXml((await client.command('check_health')).body);
  const appliance = children(document, 'appliance')[0];
  t.equal(appliance?.getAttribute('id'), MASTER.guid);
  t.equal(appliance?.textContent, MASTER.hostname);
  t.equal(children(document, 'success')[0]?.textContent, '1');
  t.equal(children(document, 'failover_role')[0]?.textContent, 'none');
  const probe = await requestMaster(endpoint, { method: 'GET', path: '/check_health' });
  t.equal(probe.status, 200, 'unauthenticated probe');
});

void t.test('command API answers JSON on request', async (t) => {
  const list = await client.commandJson<{ appliances: { name: string; counts: Record<string, number> }[] }>('get_connected_client_list');
  t.same(list.appliances.map((appliance) => appliance.name), ['master1', 'us-traffic1', 'eu-traffic1']);
  const detail = await client.commandJson<{ clients: { id: string; connections?: unknown[] }[] }>('get_connected_clients', { include_connections: '1' });
  t.equal(detail.clients[0]?.connections?.length, 3);
});

void t.test('command API rejects bad parameters', async (t) => {
  const cases: { parameters: Record<string, string>; action: string; pattern: RegExp }[] = [
    { parameters: { type: 'robot' }, action: 'get_connected_clients', pattern: /type "robot" is invalid/ },
    { parameters: { include_connections: 'yes' }, action: 'get_connected_clients', pattern: /include_connections is "yes"; expected 1 or 0/ },
    { parameters: { id: Array.from({ length: 101 }, (_, index) => `c${index}`).join(',') }, action: 'get_connected_clients', pattern: /at most 100/ },
    { parameters: {}, action: 'launch_rockets', pattern: /action "launch_rockets" is unknown/ },
  ];
  for (const item of cases) {
    const reply = await client.command(item.action, item.parameters);
    t.equal(reply.status, 400, `${item.action} ${JSON.stringify(item.parameters).slice(0, 40)}: status`);
    t.match(parseXml(reply.body).documentElement?.textContent ?? '', item.pattern, 'message names the value');
  }
  const other = await requestMaster(endpoint, { method: 'GET', path: '/admin/secret' });
  t.equal(other.status, 404, 'other paths are not served');
});

void t.test('client skips unreachable and backup masters', async (t) => {
  // A closed port on its own loopback address: nothing listens there.
  const closedAddress = randomLoopbackAddress();
  const closed = new WsServer({ logger: silentLogger() }, { host: closedAddress, port: 0, tls: { cert: certs.cert, key: certs.key }, paths: {} });
  const closedPort = await closed.listen();
  await closed.close();
  const unreachable: MasterEndpoint = { host: 'master1.support.example.test', address: closedAddress, port: closedPort, ca: certs.ca, label: 'master master1' };

  // A backup master's refusal, as its standby listener sends it.
  const backupAddress = randomLoopbackAddress();
  const backupMessage = 'master master2 is the backup master; send command API requests to the primary master master3 at the site hostname support.example.test';
  const backupServer = new WsServer({ logger: silentLogger() }, {
    host: backupAddress,
    port: 0,
    tls: { cert: certs.cert, key: certs.key },
    paths: {},
    onRequest: (request, response) => {
      if (!rejectCommandApiRequest(request, response, backupMessage)) sendNotFound(response);
    },
  });
  const backup: MasterEndpoint = { host: 'master2.support.example.test', address: backupAddress, port: await backupServer.listen(), ca: certs.ca, label: 'master master2' };
  t.teardown(() => backupServer.close());

  const primary: MasterEndpoint = { ...endpoint, label: 'master master3' };
  const failover = new CommandApiClient([unreachable, backup, primary], FULL);
  const health = await failover.command('check_health');
  t.equal(health.status, 200, 'the action reaches the master that answers');
  t.equal(failover.servingEndpoint?.label, 'master master3', 'the token came from the primary');

  const stranded = new CommandApiClient([unreachable, backup], FULL);
  const error = (await stranded.fetchToken().catch((caught: unknown) => caught)) as Error;
  t.match(error.message, /^no master issued a token/, 'says that no master issued a token');
  t.match(error.message, /master master1, master1\.support\.example\.test .* failed/, 'lists the unreachable master');
  t.match(error.message, `master master2, master2.support.example.test (${backup.address}:${backup.port}): HTTP 409: ${backupMessage}`, 'lists the backup and the primary it names');
});
