// The admin API of a real master and real traffic node processes: the sync
// warning's lifecycle, Sync Now with a node down, a stale node, a node on
// another software version, removing a node, the Security page, and
// disband with a node that cannot be notified.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { AdminClient } from '../src/admin/admin-client.js';
import { ADMIN_PATHS, type ClusterView, type DisbandReport, type HistoryEntryView, type LeaveReport, type NodeView, type SecurityView, type SyncReport } from '../src/admin/api-types.js';
import { SOFTWARE_VERSION, nodeHostname } from '../src/config/constants.js';
import { silentLogger } from '../src/logging/logger.js';
import type { MasterStatusReport } from '../src/master/status-report.js';
import { Channel } from '../src/net/channel.js';
import { WsServer } from '../src/net/ws-server.js';
import { createNonce } from '../src/protocol/appliance-auth.js';
import { ClusterConfig, ErrorCode } from '../src/protocol/messages.js';
import type { TrafficNodeStatus } from '../src/traffic/traffic-node.js';
import { StateStore } from '../src/traffic/state-store.js';
import {
  INTERNAL_PORT,
  adminClient,
  createTestCluster,
  formCluster,
  masterConfig,
  startNodeProcess,
  trafficConfig,
  trafficNodeRequest,
  waitFor,
  type NodeProcess,
  type TrafficSpec,
} from './fixtures/master-harness.js';

const US: TrafficSpec = { name: 'us-traffic1', hostOctet: 10, prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' };
const EU: TrafficSpec = { name: 'eu-traffic1', hostOctet: 11, prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' };
const AP: TrafficSpec = { name: 'ap-traffic1', hostOctet: 12, prefixes: ['127.40.0.0/16'], timezone: 'Asia/Tokyo' };
const STALE: TrafficSpec = { name: 'stale-traffic1', hostOctet: 13, prefixes: [], timezone: '' };
const OLD: TrafficSpec = { name: 'old-traffic1', hostOctet: 14, prefixes: [], timezone: '' };
/** Version the stale node has applied before it joins; far above any version this test reaches. */
const STALE_VERSION = 1000;

const cluster = await createTestCluster(t, [US, EU, AP, STALE, OLD]);
const nodes = new Map<string, NodeProcess>();
for (const spec of [US, EU, AP]) nodes.set(spec.name, await startNodeProcess(t, trafficConfig(cluster, spec), cluster.dir));
const master = await startNodeProcess(t, masterConfig(cluster), cluster.dir);
const masterLog = masterConfig(cluster).logFile!;
const site = adminClient(cluster);
const built = await formCluster(cluster, [US, EU, AP]);

function nodeAdmin(spec: TrafficSpec): AdminClient {
  return adminClient(cluster, nodeHostname(spec.name));
}

function view(): Promise<ClusterView> {
  return site.get<ClusterView>(ADMIN_PATHS.cluster);
}

async function history(): Promise<HistoryEntryView[]> {
  return site.get<HistoryEntryView[]>(ADMIN_PATHS.history);
}

function trafficStatus(spec: TrafficSpec): Promise<TrafficNodeStatus> {
  return nodes.get(spec.name)!.request<TrafficNodeStatus>('status');
}

async function restart(spec: TrafficSpec): Promise<void> {
  nodes.set(spec.name, await startNodeProcess(t, trafficConfig(cluster, spec), cluster.dir));
}

void t.test('first sync reaches every node', async (t) => {
  t.equal(built.sync.failed, 0, 'no node failed');
  t.same(built.sync.nodes.map((node) => node.name).sort(), [AP.name, EU.name, US.name], 'every node synced');
  const current = await view();
  t.equal(current.syncRequired, false, 'no sync required');
  t.equal(current.warnings.length, 0, 'no warnings');
  for (const node of current.trafficNodes) t.equal(node.appliedConfigVersion, built.sync.version, `${node.name} applied the synced version`);
});

void t.test('request without credentials changes nothing', async (t) => {
  const before = await view();
  const entries = (await history()).length;
  for (const credentials of [null, { username: 'admin', password: 'wrong password' }]) {
    const client = adminClient(cluster, undefined, credentials);
    const label = credentials === null ? 'no credentials' : 'wrong password';
    t.equal((await client.send('POST', ADMIN_PATHS.clusterNodes, trafficNodeRequest(STALE))).status, 401, `add-node: 401 with ${label}`);
    t.equal((await client.send('POST', ADMIN_PATHS.sync)).status, 401, `sync: 401 with ${label}`);
    t.equal((await client.send('POST', ADMIN_PATHS.disband)).status, 401, `disband: 401 with ${label}`);
    t.equal((await client.send('GET', ADMIN_PATHS.cluster)).status, 401, `show: 401 with ${label}`);
    t.equal((await nodeAdmin(US).send('GET', ADMIN_PATHS.node)).status, 200, 'node API answers with credentials');
    const nodeClient = adminClient(cluster, nodeHostname(US.name), credentials);
    t.equal((await nodeClient.send('PUT', ADMIN_PATHS.preSharedKey, { preSharedKey: 'x'.repeat(20) })).status, 401, `node security page: 401 with ${label}`);
  }
  const after = await view();
  t.equal(after.version, before.version, 'version unchanged');
  t.equal(after.trafficNodes.length, before.trafficNodes.length, 'no node added');
  t.equal((await history()).length, entries, 'no history entry added');
  t.equal((await nodeAdmin(US).get<SecurityView>(ADMIN_PATHS.security)).source, 'launcher', 'key unchanged');
});

void t.test('sync warning lifecycle', async (t) => {
  const before = await view();
  const changed = await site.patch<ClusterView>(ADMIN_PATHS.clusterNode(EU.name), { prefixes: ['127.30.0.0/16', '127.31.0.0/16'] });
  t.equal(changed.version, before.version + 1, 'version raised');
  t.equal(changed.syncRequired, true, 'sync required in the API');
  t.match(changed.warnings[0], /^sync required: configuration version \d+ has changes/, 'warning in the API');
  const status = await master.request<MasterStatusReport>('status');
  t.equal(status.syncRequired, true, 'sync required in the status');
  t.match(status.syncWarning, /^sync required/, 'warning in the status');

  const report = await site.post<SyncReport>(ADMIN_PATHS.sync);
  t.equal(report.failed, 0, 'sync succeeded');
  t.equal(report.version, changed.version, 'synced the changed version');
  const after = await view();
  t.equal(after.syncRequired, false, 'no sync required after the sync');
  t.notOk(after.warnings.some((warning) => warning.startsWith('sync required')), 'warning gone');
  t.equal((await master.request<MasterStatusReport>('status')).syncWarning, undefined, 'status warning gone');
  const eu = await waitFor('eu on the new version', async () => {
    const state = await trafficStatus(EU);
    return state.appliedConfigVersion === report.version ? state : undefined;
  });
  t.equal(eu.appliedConfigVersion, report.version, 'node applied the new version');
});

void t.test('accepting flag needs no sync', async (t) => {
  const before = await view();
  const changed = await site.patch<ClusterView>(ADMIN_PATHS.clusterNode(US.name), { accepting: false });
  t.equal(changed.version, before.version, 'version unchanged');
  t.equal(changed.syncRequired, false, 'no sync required');
  const us = await waitFor('us not accepting', async () => {
    const state = await trafficStatus(US);
    return state.accepting ? undefined : state;
  });
  t.equal(us.accepting, false, 'node stopped accepting at once');
  await site.patch<ClusterView>(ADMIN_PATHS.clusterNode(US.name), { accepting: true });
  const back = await waitFor('us accepting', async () => {
    const state = await trafficStatus(US);
    return state.accepting ? state : undefined;
  });
  t.equal(back.accepting, true, 'node accepting again');
});

void t.test('sync with one node down', async (t) => {
  await nodes.get(AP.name)!.stop();
  await waitFor('ap offline', async () => ((await view()).trafficNodes.find((node) => node.name === AP.name)?.online === false ? true : undefined));
  await site.patch<ClusterView>(ADMIN_PATHS.clusterNode(EU.name), { timezone: '+01:00' });
  const mark = (await history()).length;

  const report = await site.post<SyncReport>(ADMIN_PATHS.sync);
  const ap = report.nodes.find((node) => node.name === AP.name);
  t.equal(report.failed, 1, 'one node failed');
  t.equal(report.succeeded, 2, 'the others synced');
  t.equal(ap?.ok, false, 'ap failed');
  t.equal(ap?.code, ErrorCode.ERROR_NODE_UNREACHABLE, 'code: node unreachable');
  t.match(ap?.message, /cannot connect to ap-traffic1\.support\.example\.test:\d+: .*ECONNREFUSED/, 'reason names the address and the error');

  const entries = (await history()).slice(mark);
  const messages = entries.map((entry) => entry.message);
  t.equal(messages[0], 'Data Sync: Started configuration data sync with traffic nodes.', 'start recorded first');
  for (const name of [US.name, EU.name, AP.name]) t.ok(messages.includes(`Data Sync: Started configuration data sync with ${name}.`), `start for ${name}`);
  for (const name of [US.name, EU.name]) t.ok(entries.some((entry) => entry.code === 0 && entry.message === `Data Sync: Finished configuration data sync with ${name}.`), `finish for ${name}`);
  const failure = entries.find((entry) => entry.message.startsWith(`Data Sync: Failed configuration data sync with ${AP.name}:`));
  t.equal(failure?.code, ErrorCode.ERROR_NODE_UNREACHABLE, 'failure recorded with a non-zero code');
  const finish = entries.at(-1);
  t.equal(finish?.message, `Data Sync: Finished data sync with traffic nodes; 1 of 3 failed: ${AP.name}.`, 'finish recorded last');
  t.not(finish?.code, 0, 'finish carries a non-zero code');

  const current = await view();
  t.equal(current.syncRequired, false, 'no sync required: the configuration was synced');
  t.ok(current.warnings.some((warning) => warning.startsWith('traffic nodes not on the synced version') && warning.includes(`${AP.name} (version`) && warning.includes('offline')), 'mismatch shown');

  await restart(AP);
  const caughtUp = await waitFor('ap caught up', async () => {
    const node = (await view()).trafficNodes.find((entry) => entry.name === AP.name);
    return node?.online === true && node.configCurrent ? node : undefined;
  });
  t.equal(caughtUp.appliedConfigVersion, report.version, 'returning node gets the synced version');
});

void t.test('stale node rejects older config', async (t) => {
  const config = trafficConfig(cluster, STALE);
  const seeded = await StateStore.open({ logger: silentLogger() }, config.dataDir);
  await seeded.saveConfig(ClusterConfig.create({ version: STALE_VERSION, clusterName: 'another cluster', sessionKey: randomBytes(32), members: [] }));
  await seeded.flush();
  const stale = await startNodeProcess(t, config, cluster.dir);

  await site.post<ClusterView>(ADMIN_PATHS.clusterNodes, trafficNodeRequest(STALE));
  const mark = (await history()).length;
  const report = await site.post<SyncReport>(ADMIN_PATHS.sync);
  const result = report.nodes.find((node) => node.name === STALE.name);
  t.equal(result?.ok, false, 'stale node failed');
  t.equal(result?.code, ErrorCode.ERROR_STALE_CONFIG, 'code: stale config');
  t.match(result?.message, new RegExp(`configuration version ${report.version} is older than the applied version ${STALE_VERSION}`), 'reason names both versions');
  t.equal(report.succeeded, 3, 'the other nodes synced');
  const entries = (await history()).slice(mark);
  const failure = entries.find((entry) => entry.message.startsWith(`Data Sync: Failed configuration data sync with ${STALE.name}`));
  t.equal(failure?.code, ErrorCode.ERROR_STALE_CONFIG, 'master history records the failure');
  // The node joins during this sync, so its link pushes at join time too; the sync still records it once.
  t.equal(entries.filter((entry) => entry.message.includes(`configuration data sync with ${STALE.name}`)).length, 2, 'one start and one failure for the new node');

  const nodeHistory = await stale.request<{ code: ErrorCode; message: string }[]>('status-history');
  const recorded = nodeHistory.find((entry) => entry.code === ErrorCode.ERROR_STALE_CONFIG);
  t.match(recorded?.message, new RegExp(`older than the applied version ${STALE_VERSION}; kept version ${STALE_VERSION}`), 'node records why');
  t.equal((await stale.request<TrafficNodeStatus>('status')).appliedConfigVersion, STALE_VERSION, 'node kept its version');

  const removeMark = (await history()).length;
  await site.delete<ClusterView>(ADMIN_PATHS.clusterNode(STALE.name));
  const afterRemoval = await site.post<SyncReport>(ADMIN_PATHS.sync);
  t.equal(afterRemoval.failed, 0, 'sync clean after removing it');
  t.same(afterRemoval.removed, [{ name: STALE.name, notified: true }], 'sync reports the removed node as notified');
  t.ok((await history()).slice(removeMark).some((entry) => entry.code === 0 && entry.message === `Data Sync: Notified removed node ${STALE.name} that it is no longer in the cluster.`), 'master history records the removal notice');
  const forgotten = await waitFor('removed node forgot its config', async () => {
    const current = await stale.request<TrafficNodeStatus>('status');
    return current.appliedConfigVersion === 0 ? current : undefined;
  });
  t.equal(forgotten.appliedConfigVersion, 0, 'removed node holds no configuration');
  const removedHistory = await stale.request<{ message: string }[]>('status-history');
  t.ok(removedHistory.some((entry) => /^Disband: master \S+ removed this node from the cluster; forgot configuration version \d+$/.test(entry.message)), 'removed node records why');
  t.same((await site.post<SyncReport>(ADMIN_PATHS.sync)).removed, [], 'the next sync has nobody left to tell');
  await stale.stop();
});

void t.test('node on another software version rejected', async (t) => {
  // An in-process appliance endpoint that reports an older software version in its challenge.
  const server = new WsServer({ logger: silentLogger() }, {
    host: `${cluster.network}.${OLD.hostOctet}`,
    port: INTERNAL_PORT,
    tls: { cert: cluster.certs.cert, key: cluster.certs.key },
    paths: {
      '/appliance': (ws) => {
        const channel = new Channel(ws, { logger: silentLogger() });
        channel.onMessage(() => undefined);
        channel.send({ applianceChallenge: { nodeName: OLD.name, applianceGuid: 'e'.repeat(32), nonce: createNonce(), softwareVersion: '23.1.0' } });
      },
    },
  });
  await server.listen();
  t.teardown(() => server.close());

  await site.post<ClusterView>(ADMIN_PATHS.clusterNodes, trafficNodeRequest(OLD));
  const report = await site.post<SyncReport>(ADMIN_PATHS.sync);
  const result = report.nodes.find((node) => node.name === OLD.name);
  t.equal(result?.code, ErrorCode.ERROR_SOFTWARE_VERSION, 'code: software version');
  t.match(result?.message, new RegExp(`runs software version 23\\.1\\.0, but this master runs ${SOFTWARE_VERSION.replace(/\./g, '\\.')}; node rejected`), 'reason names both versions');
  t.equal(report.succeeded, 3, 'the other nodes synced');
  await site.delete<ClusterView>(ADMIN_PATHS.clusterNode(OLD.name));
  const afterRemoval = await site.post<SyncReport>(ADMIN_PATHS.sync);
  t.equal(afterRemoval.failed, 0, 'sync clean after removing it');
  t.equal(afterRemoval.removed[0]?.name, OLD.name, 'removed node listed');
  t.equal(afterRemoval.removed[0]?.notified, false, 'unauthenticated node not notified');
  t.ok(afterRemoval.removed[0]?.reason, 'reason given');
});

void t.test('security page sets the key per node', async (t) => {
  const key = `key-${randomBytes(12).toString('hex')}`;
  const set = await nodeAdmin(US).put<SecurityView>(ADMIN_PATHS.preSharedKey, { preSharedKey: key });
  t.equal(set.source, 'admin', 'key set through the Security page');
  t.notOk(JSON.stringify(set).includes(key), 'reply does not contain the key');

  const mismatch = await waitFor('key mismatch in the history', async () => (await history()).find((entry) => entry.message === `${US.name}: inter-appliance key does not match`));
  t.equal(mismatch.code, ErrorCode.ERROR_AUTH_FAILED, 'mismatch recorded with its code');
  const report = await site.post<SyncReport>(ADMIN_PATHS.sync);
  const us = report.nodes.find((node) => node.name === US.name);
  t.equal(us?.code, ErrorCode.ERROR_AUTH_FAILED, 'sync fails for the node with the other key');
  t.equal(us?.message, 'inter-appliance key does not match', 'sync says why');

  for (const client of [site, nodeAdmin(EU), nodeAdmin(AP)]) await client.put<SecurityView>(ADMIN_PATHS.preSharedKey, { preSharedKey: key });
  const online = await waitFor('every node back online', async () => {
    const current = await view();
    return current.trafficNodes.every((node) => node.online) ? current : undefined;
  }, 60_000);
  t.equal(online.trafficNodes.length, 3, 'all three nodes online with the new key');
  t.equal((await site.post<SyncReport>(ADMIN_PATHS.sync)).failed, 0, 'sync succeeds once the keys match');

  const security = await site.get<SecurityView>(ADMIN_PATHS.security);
  t.equal(security.preSharedKeySet, true, 'master reports a key');
  t.notOk(JSON.stringify(security).includes(key), 'security page does not show the key');
  const masterData = masterConfig(cluster).dataDir;
  const historyFile = await readFile(join(masterData, 'status-history.json'), 'utf8');
  const log = await readFile(masterLog, 'utf8');
  t.notOk(historyFile.includes(key), 'history file does not contain the key');
  t.notOk(log.includes(key), 'master log does not contain the key');
  t.notOk(log.includes(cluster.admin.password), 'master log does not contain the admin password');
});

void t.test('security page rejects a short key', async (t) => {
  const reply = await nodeAdmin(EU).send('PUT', ADMIN_PATHS.preSharedKey, { preSharedKey: 'k3y-7q' });
  t.equal(reply.status, 400, 'status 400');
  t.equal((reply.body as { field?: string }).field, 'preSharedKey', 'field');
  t.notOk(JSON.stringify(reply.body).includes('k3y-7q'), 'value not echoed');
});

void t.test('disband with one node unreachable', async (t) => {
  const version = (await view()).version;
  await nodes.get(AP.name)!.stop();
  const mark = (await history()).length;

  const report = await site.post<DisbandReport>(ADMIN_PATHS.disband);
  t.same(report.notified.sort(), [EU.name, US.name], 'reachable nodes notified');
  t.same(report.unreachable.map((node) => node.name), [AP.name], 'unreachable node listed');
  t.match(report.unreachable[0]?.reason, /cannot connect to ap-traffic1/, 'reason given');

  const entries = (await history()).slice(mark);
  for (const name of [US.name, EU.name]) t.ok(entries.some((entry) => entry.code === 0 && entry.message === `Disband: Notified ${name} that it is no longer in a cluster.`), `attempt for ${name} recorded`);
  const failed = entries.find((entry) => entry.message.startsWith(`Disband: Could not notify ${AP.name}:`));
  t.equal(failed?.code, ErrorCode.ERROR_NODE_UNREACHABLE, 'failed attempt recorded with its code');
  t.match(entries.at(-1)?.message, /^Disband: Finished; the cluster is disbanded\. Not notified: ap-traffic1/, 'finish recorded');

  const after = await view();
  t.equal(after.inCluster, false, 'master left the cluster');
  t.ok(after.version > version, 'version still rises');
  for (const spec of [US, EU]) {
    const state = await waitFor(`${spec.name} forgot its config`, async () => {
      const current = await trafficStatus(spec);
      return current.appliedConfigVersion === 0 ? current : undefined;
    });
    t.equal(state.appliedConfigVersion, 0, `${spec.name} holds no configuration`);
  }

  await restart(AP);
  const beforeLeave = await nodeAdmin(AP).get<NodeView>(ADMIN_PATHS.node);
  t.equal(beforeLeave.inCluster, true, 'unreachable node still considers itself in the cluster');
  const left = await nodeAdmin(AP).post<LeaveReport>(ADMIN_PATHS.leave);
  t.equal(left.forgottenVersion, beforeLeave.appliedConfigVersion, 'leave reports the forgotten version');
  const afterLeave = await nodeAdmin(AP).get<NodeView>(ADMIN_PATHS.node);
  t.equal(afterLeave.inCluster, false, 'node left by itself');
  t.equal(afterLeave.appliedConfigVersion, 0, 'no configuration left');
  const nodeHistory = await nodes.get(AP.name)!.request<{ message: string }[]>('status-history');
  t.ok(nodeHistory.some((entry) => entry.message.startsWith("Disband: left the cluster at the administrator's request")), 'node records why');
  t.equal((await nodeAdmin(AP).send('POST', ADMIN_PATHS.leave)).status, 409, 'second leave rejected');
});
