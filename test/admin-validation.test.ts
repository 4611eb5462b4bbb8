// The cluster page's rules over real HTTPS, served in-process by the same
// router, store and handlers the master uses, with no traffic node behind it.
import { mkdtemp, rm } from 'node:fs/promises';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AdminClient } from '../src/admin/admin-client.js';
import { ADMIN_PATHS, type ClusterView } from '../src/admin/api-types.js';
import { silentLogger } from '../src/logging/logger.js';
import { ApplianceLinks } from '../src/master/appliance-links.js';
import { ClusterAdmin } from '../src/master/cluster-admin.js';
import { ClusterConfigStore } from '../src/master/cluster-config-store.js';
import { mountClusterRoutes } from '../src/master/http/cluster-routes.js';
import { mixedModelWarning, parseNodeAddress } from '../src/master/member-validation.js';
import { StatusHistory } from '../src/master/status-history.js';
import { SyncCoordinator } from '../src/master/sync-coordinator.js';
import { ensureClusterCerts } from '../src/net/certs.js';
import { createBasicAuthenticator } from '../src/net/http/basic-auth.js';
import type { HttpProblem } from '../src/net/http/router.js';
import { HttpRouter } from '../src/net/http/router.js';
import { WsServer } from '../src/net/ws-server.js';
import { ClusterConfig } from '../src/protocol/messages.js';
import { hashSecret } from '../src/util/scrypt-hash.js';

const HOST = 'master1.support.example.test';
const ADDRESS = `127.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}.1`;
const PASSWORD = 'validation test password';
const logger = silentLogger();

const dir = await mkdtemp(join(tmpdir(), 'atlas-admin-validation-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const certs = await ensureClusterCerts(join(dir, 'certs'));
const history = await StatusHistory.open({ logger }, dir);
const store = await ClusterConfigStore.open({ logger, history }, { dataDir: dir });
const lookup = ((_hostname: string, options: unknown, callback?: (...args: unknown[]) => void) => {
  const done = (typeof options === 'function' ? options : callback) as (...args: unknown[]) => void;
  if (typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true) done(null, [{ address: ADDRESS, family: 4 }]);
  else done(null, ADDRESS, 4);
}) as unknown as LookupFunction;

// The links are never started: no node is reachable, and these tests never sync.
const links = new ApplianceLinks(
  { logger, history, lookup, ca: certs.ca, psk: () => Buffer.alloc(32), self: { name: 'master1', guid: 'a'.repeat(32) }, syncedConfig: () => store.synced, onClientReport: () => undefined },
  { members: [], localAddress: ADDRESS, heartbeat: { intervalMs: 1000, timeoutMs: 4000 } },
);
const accepting: { name: string; accepting: boolean }[] = [];
const admin = new ClusterAdmin({
  logger,
  store,
  self: { guid: 'a'.repeat(32), model: 'B400' },
  sessionKey: () => Promise.resolve(Buffer.alloc(32, 1)),
  onAcceptingChanged: (name, value) => accepting.push({ name, accepting: value }),
});
const sync = new SyncCoordinator({ logger, store, history, links, onSynced: () => undefined });
const router = new HttpRouter({ logger }, { defaultAuth: createBasicAuthenticator({ logger }, { username: 'admin', passwordHash: await hashSecret(PASSWORD) }) });
mountClusterRoutes(router, { store, admin, sync, links, history });
const server = new WsServer({ logger }, { host: ADDRESS, port: 0, tls: { cert: certs.cert, key: certs.key }, paths: {}, onRequest: router.handle });
const port = await server.listen();
t.teardown(() => server.close());

const client = new AdminClient({ host: HOST, port, ca: certs.ca, lookup, credentials: { username: 'admin', password: PASSWORD } });

function node(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, publicAddress: `${name}.support.example.test:443`, internalAddress: `${name}.support.example.test:8443`, model: 'B300', prefixes: [], timezone: 'Europe/Berlin', ...overrides };
}

/** Sends a request that must fail with `status`, and checks the version did not change. */
async function expectRejected(t: Test, method: string, path: string, body: unknown, status: number): Promise<HttpProblem> {
  const before = store.current.version;
  const reply = await client.send(method, path, body);
  t.equal(reply.status, status, `status ${status}`);
  t.equal(store.current.version, before, 'configuration version unchanged');
  return reply.body as HttpProblem;
}

void t.test('cluster rejects changes before create', async (t) => {
  const problem = await expectRejected(t, 'POST', ADMIN_PATHS.clusterNodes, node('us-traffic1'), 409);
  t.match(problem.error, /not in a cluster; create the cluster first/, 'says what to do');
});

const createCases: { label: string; body: Record<string, unknown>; field: string; reason: RegExp }[] = [
  { label: 'missing name', body: { publicAddress: `${HOST}:443`, internalAddress: `${HOST}:8443` }, field: 'name', reason: /is not a name/ },
  { label: 'ip public address', body: { name: 'master1', publicAddress: '127.0.0.1:443', internalAddress: `${HOST}:8443` }, field: 'publicAddress', reason: /is an IP address/ },
  { label: 'site hostname', body: { name: 'master1', publicAddress: 'support.example.test:443', internalAddress: `${HOST}:8443` }, field: 'publicAddress', reason: /uses the site hostname/ },
  { label: 'missing internal address', body: { name: 'master1', publicAddress: `${HOST}:443` }, field: 'internalAddress', reason: /is required/ },
  { label: 'unknown field', body: { name: 'master1', publicAddress: `${HOST}:443`, internalAddress: `${HOST}:8443`, model: 'B300' }, field: 'model', reason: /is not a field of the primary master node/ },
];

for (const entry of createCases) {
  void t.test(`create rejects ${entry.label}`, async (t) => {
    const problem = await expectRejected(t, 'POST', ADMIN_PATHS.cluster, entry.body, 400);
    t.equal(problem.field, entry.field, 'field');
    t.match(problem.reason, entry.reason, 'reason');
    t.same(problem.value, entry.body[entry.field], 'value');
  });
}

void t.test('create makes the cluster', async (t) => {
  const view = await client.post<ClusterView>(ADMIN_PATHS.cluster, { name: 'master1', publicAddress: `${HOST}:443`, internalAddress: `${HOST}:8443`, clusterName: 'validation' });
  t.equal(view.inCluster, true, 'in a cluster');
  t.equal(view.master?.model, 'B400', "primary has the appliance's model");
  t.equal(view.syncRequired, true, 'sync required after create');
  const again = await expectRejected(t, 'POST', ADMIN_PATHS.cluster, { name: 'master2', publicAddress: 'master2.support.example.test:443', internalAddress: 'master2.support.example.test:8443' }, 409);
  t.match(again.error, /already the primary master/, 'second create rejected');
});

void t.test('add accepts a valid node', async (t) => {
  const view = await client.post<ClusterView>(ADMIN_PATHS.clusterNodes, node('us-traffic1', { prefixes: ['127.20.0.0/16', '10.1.0.0/255.255.0.0'], timezone: '+05:30', srvPriority: 5 }));
  const added = view.trafficNodes.find((entry) => entry.name === 'us-traffic1');
  t.same(added?.prefixes, ['127.20.0.0/16', '10.1.0.0/255.255.0.0'], 'prefix lines kept as written');
  t.equal(added?.accepting, true, 'accepting by default');
  t.equal(added?.srvPriority, 5, 'srv priority');
  t.equal(added?.srvWeight, 100, 'default srv weight');
});

const addCases: { label: string; body: Record<string, unknown>; field: string; reason: RegExp }[] = [
  { label: 'duplicate name', body: node('us-traffic1', { publicAddress: 'other.support.example.test:443', internalAddress: 'other.support.example.test:8443' }), field: 'name', reason: /already the name of the traffic node/ },
  { label: "the master's name", body: node('master1', { publicAddress: 'other.support.example.test:443', internalAddress: 'other.support.example.test:8443' }), field: 'name', reason: /already the name of the primary master/ },
  { label: 'invalid name', body: node('US_Traffic'), field: 'name', reason: /is not a valid node name/ },
  { label: 'ipv4 address', body: node('eu-traffic1', { publicAddress: '10.0.0.1:443' }), field: 'publicAddress', reason: /is an IP address/ },
  { label: 'ipv6 address', body: node('eu-traffic1', { internalAddress: '[::1]:8443' }), field: 'internalAddress', reason: /is an IP address/ },
  { label: 'site hostname', body: node('eu-traffic1', { internalAddress: 'support.example.test:8443' }), field: 'internalAddress', reason: /uses the site hostname support\.example\.test/ },
  { label: 'missing port', body: node('eu-traffic1', { publicAddress: 'eu-traffic1.support.example.test' }), field: 'publicAddress', reason: /has no port/ },
  { label: 'port zero', body: node('eu-traffic1', { publicAddress: 'eu-traffic1.support.example.test:0' }), field: 'publicAddress', reason: /port must be an integer from 1 to 65535/ },
  { label: 'port too large', body: node('eu-traffic1', { publicAddress: 'eu-traffic1.support.example.test:65536' }), field: 'publicAddress', reason: /port must be an integer from 1 to 65535/ },
  { label: 'invalid hostname', body: node('eu-traffic1', { publicAddress: 'eu_traffic1.support.example.test:443' }), field: 'publicAddress', reason: /invalid hostname/ },
  { label: "another node's hostname", body: node('eu-traffic1', { publicAddress: 'us-traffic1.support.example.test:9443' }), field: 'publicAddress', reason: /belongs to traffic node us-traffic1/ },
  { label: "the master's hostname", body: node('eu-traffic1', { internalAddress: `${HOST}:9443` }), field: 'internalAddress', reason: /belongs to primary master master1/ },
  { label: 'unknown model', body: node('eu-traffic1', { model: 'B500' }), field: 'model', reason: /is not an appliance model; use one of B300, B400, Virtual/ },
  { label: 'accepting not boolean', body: node('eu-traffic1', { accepting: 'yes' }), field: 'accepting', reason: /is not true or false/ },
  { label: 'prefix with host bits', body: node('eu-traffic1', { prefixes: ['127.30.0.0/16', '10.1.2.3/8'] }), field: 'prefixes[1]', reason: /host bits are set.*10\.0\.0\.0\/8/ },
  { label: 'prefix mask too long', body: node('eu-traffic1', { prefixes: ['10.0.0.0/33'] }), field: 'prefixes[0]', reason: /is not a valid prefix/ },
  { label: 'repeated prefix', body: node('eu-traffic1', { prefixes: ['10.0.0.0/8', '10.0.0.0/255.0.0.0'] }), field: 'prefixes[1]', reason: /repeats prefixes\[0\]/ },
  { label: 'prefixes not a list', body: node('eu-traffic1', { prefixes: '10.0.0.0/8' }), field: 'prefixes', reason: /is not a list of prefix lines/ },
  { label: 'unknown timezone', body: node('eu-traffic1', { timezone: 'Mars/Olympus' }), field: 'timezone', reason: /is not a valid timezone/ },
  { label: 'srv priority out of range', body: node('eu-traffic1', { srvPriority: 70000 }), field: 'srvPriority', reason: /integer from 0 to 65535/ },
  { label: 'unknown field', body: node('eu-traffic1', { colour: 'red' }), field: 'colour', reason: /is not a field of a traffic node/ },
  { label: 'missing address', body: { name: 'eu-traffic1', publicAddress: 'eu-traffic1.support.example.test:443' }, field: 'internalAddress', reason: /is required/ },
];

for (const entry of addCases) {
  void t.test(`add rejects ${entry.label}`, async (t) => {
    const problem = await expectRejected(t, 'POST', ADMIN_PATHS.clusterNodes, entry.body, 400);
    t.equal(problem.field, entry.field, 'field');
    t.match(problem.reason, entry.reason, 'reason');
    const expectedValue = entry.field.startsWith('prefixes[') ? (entry.body.prefixes as unknown[])[Number(/\d+/.exec(entry.field)?.[0])] : entry.body[entry.field];
    t.same(problem.value, expectedValue, 'value');
    t.match(problem.error, new RegExp(`^${entry.field.replace(/[[\]]/g, '\\$&')}: `), 'message starts with the field');
  });
}

void t.test('add lists every invalid field', async (t) => {
  const problem = await expectRejected(t, 'POST', ADMIN_PATHS.clusterNodes, node('eu-traffic1', { model: 'B500', timezone: 'nowhere' }), 400);
  t.same(problem.problems?.map((entry) => entry.field), ['model', 'timezone'], 'both fields listed');
});

void t.test('add rejects a body that is no object', async (t) => {
  const problem = await expectRejected(t, 'POST', ADMIN_PATHS.clusterNodes, ['us-traffic9'], 400);
  t.equal(problem.field, '(body)', 'field');
});

void t.test('mixed models give a warning', async (t) => {
  const view = await client.post<ClusterView>(ADMIN_PATHS.clusterNodes, node('eu-traffic1', { model: 'Virtual' }));
  t.ok(view.warnings.some((warning) => /traffic nodes mix appliance models \(B300, Virtual\)/.test(warning)), 'warning listed');
  t.ok(view.trafficNodes.some((entry) => entry.name === 'eu-traffic1'), 'node added despite the warning');
});

void t.test('edit rejects bad input', async (t) => {
  const missing = await expectRejected(t, 'PATCH', ADMIN_PATHS.clusterNode('nobody'), { accepting: false }, 404);
  t.match(missing.error, /no traffic node named "nobody".*us-traffic1, eu-traffic1/, 'lists the traffic nodes');
  const master = await expectRejected(t, 'PATCH', ADMIN_PATHS.clusterNode('master1'), { timezone: '+01:00' }, 400);
  t.match(master.error, /is the primary master, not a traffic node/, 'master not editable as a traffic node');
  const empty = await expectRejected(t, 'PATCH', ADMIN_PATHS.clusterNode('us-traffic1'), {}, 400);
  t.match(empty.reason, /changes nothing/, 'empty change');
  const rename = await expectRejected(t, 'PATCH', ADMIN_PATHS.clusterNode('us-traffic1'), { name: 'eu-traffic1' }, 400);
  t.equal(rename.field, 'name', 'rename to a taken name');
  const address = await expectRejected(t, 'PATCH', ADMIN_PATHS.clusterNode('us-traffic1'), { publicAddress: 'eu-traffic1.support.example.test:443' }, 400);
  t.equal(address.field, 'publicAddress', "move onto another node's hostname");
  const mixed = await expectRejected(t, 'PATCH', ADMIN_PATHS.clusterNode('us-traffic1'), { accepting: false, name: 'eu-traffic1' }, 400);
  t.equal(mixed.field, 'name', 'accepting with a bad name rejected');
  t.equal(store.current.members.find((member) => member.name === 'us-traffic1')?.accepting, true, 'accepting flag unchanged by the rejected request');
});

void t.test('edit keeps its own hostname', async (t) => {
  const view = await client.patch<ClusterView>(ADMIN_PATHS.clusterNode('us-traffic1'), { publicAddress: 'us-traffic1.support.example.test:9443' });
  t.equal(view.trafficNodes.find((entry) => entry.name === 'us-traffic1')?.publicAddress, 'us-traffic1.support.example.test:9443', 'new port stored');
});

void t.test('accepting changes without a version', async (t) => {
  const before = store.current.version;
  const view = await client.patch<ClusterView>(ADMIN_PATHS.clusterNode('eu-traffic1'), { accepting: false });
  t.equal(view.version, before, 'version unchanged');
  t.equal(view.trafficNodes.find((entry) => entry.name === 'eu-traffic1')?.accepting, false, 'flag stored');
  t.same(accepting.at(-1), { name: 'eu-traffic1', accepting: false }, 'node told at once');
});

void t.test('method rejects bad input', async (t) => {
  const problem = await expectRejected(t, 'PUT', ADMIN_PATHS.method, { method: 'nearest' }, 400);
  t.equal(problem.field, 'method', 'field');
  t.equal(problem.value, 'nearest', 'value');
  t.match(problem.reason, /use one of random, timezone, srv, a-record, anycast/, 'reason lists the methods');
});

void t.test('method change raises the version', async (t) => {
  const before = store.current.version;
  const view = await client.put<ClusterView>(ADMIN_PATHS.method, { method: 'timezone' });
  t.equal(view.method, 'timezone', 'method stored');
  t.equal(view.version, before + 1, 'version raised');
  t.ok(view.warnings.some((warning) => warning.startsWith('sync required')), 'sync required warning');
});

void t.test('remove rejects unknown node', async (t) => {
  await expectRejected(t, 'DELETE', ADMIN_PATHS.clusterNode('nobody'), undefined, 404);
});

void t.test('remove deletes a node', async (t) => {
  const view = await client.delete<ClusterView>(ADMIN_PATHS.clusterNode('eu-traffic1'));
  t.same(view.trafficNodes.map((entry) => entry.name), ['us-traffic1'], 'node removed');
  t.notOk(view.warnings.some((warning) => warning.includes('mix appliance models')), 'mixed model warning gone');
});

void t.test('history rejects a bad limit', async (t) => {
  const reply = await client.send('GET', `${ADMIN_PATHS.history}?limit=-3`);
  t.equal(reply.status, 400, 'status 400');
  t.equal((reply.body as HttpProblem).field, 'limit', 'field');
});

void t.test('mixed model warning text', (t) => {
  const config = ClusterConfig.create({ members: [{ role: 'traffic', model: 'B300' }, { role: 'traffic', model: 'B400' }, { role: 'primary', model: 'Virtual' }] });
  t.match(mixedModelWarning(config), /mix appliance models \(B300, B400\)/, 'traffic models only');
  t.equal(mixedModelWarning(ClusterConfig.create({ members: [{ role: 'traffic', model: 'B300' }] })), undefined, 'no warning for one model');
  t.end();
});

void t.test('address parsing', (t) => {
  t.same(parseNodeAddress('US-Traffic1.Support.Example.Test:443'), { host: 'us-traffic1.support.example.test', port: 443 }, 'hostname lowercased');
  t.type(parseNodeAddress('1.2.3.4'), 'string', 'bare IP rejected');
  t.type(parseNodeAddress('host.123:443'), 'string', 'numeric last label rejected');
  t.end();
});
