import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silentLogger } from '../src/logging/logger.js';
import { IDENTITY_FILE, loadOrCreateIdentity } from '../src/master/appliance-identity.js';
import { CURRENT_CONFIG_FILE, ClusterConfigStore, configToJson } from '../src/master/cluster-config-store.js';
import { readSessionKey } from '../src/master/cluster-admin.js';
import { DEFAULT_RECONNECT_INITIAL_DELAY_MS, DEFAULT_RECONNECT_MAX_DELAY_MS, reconnectDelayMs } from '../src/master/reconnect-backoff.js';
import { MAX_STATUS_HISTORY_ENTRIES, STATUS_HISTORY_FILE, StatusHistory } from '../src/master/status-history.js';
import { atlas, ErrorCode, type ClusterConfig } from '../src/protocol/messages.js';
import { writeFileAtomic } from '../src/storage/atomic-file.js';
import type { Teardown } from './fixtures/master-harness.js';

const logger = silentLogger();
const SESSION_KEY = Buffer.alloc(32, 7);

async function tempDir(t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-master-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openStore(dir: string, history?: StatusHistory): Promise<{ store: ClusterConfigStore; history: StatusHistory }> {
  const usedHistory = history ?? (await StatusHistory.open({ logger }, dir));
  const store = await ClusterConfigStore.open({ logger, history: usedHistory }, { dataDir: dir });
  return { store, history: usedHistory };
}

const PRIMARY = { name: 'master1', applianceGuid: 'a'.repeat(32), role: 'primary', publicHost: 'master1.support.example.test', publicPort: 443, internalHost: 'master1.support.example.test', internalPort: 8443, model: 'B400' };
const EU_TRAFFIC = { name: 'eu-traffic1', role: 'traffic', publicHost: 'eu-traffic1.support.example.test', publicPort: 443, internalHost: 'eu-traffic1.support.example.test', internalPort: 8443, model: 'B300', accepting: true, prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' };

/** Creates a cluster of the primary and one traffic node, as the admin API does. */
function createCluster(store: ClusterConfigStore): Promise<ClusterConfig> {
  return store.update((draft) => {
    draft.clusterName = 'unit';
    draft.sessionKey = SESSION_KEY;
    draft.members = [atlas.ClusterMember.create(PRIMARY), atlas.ClusterMember.create(EU_TRAFFIC)];
  });
}

void t.test('identity created once and kept', async (t) => {
  const dir = await tempDir(t);
  const first = await loadOrCreateIdentity({ logger }, dir);
  const second = await loadOrCreateIdentity({ logger }, dir);
  t.match(first.guid, /^[0-9a-f]{32}$/, 'guid form');
  t.equal(second.guid, first.guid, 'same guid on the second start');
});

void t.test('identity restored from backup', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, IDENTITY_FILE);
  const guid = 'b'.repeat(32);
  await writeFileAtomic(file, JSON.stringify({ guid }));
  await writeFileAtomic(file, JSON.stringify({ guid }));
  await writeFile(file, '{"guid": "not hex"');
  const identity = await loadOrCreateIdentity({ logger }, dir);
  t.equal(identity.guid, guid, 'backup guid used');
  t.same(JSON.parse(await readFile(file, 'utf8')), { guid }, 'main file repaired');
});

void t.test('identity unreadable stops start', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, IDENTITY_FILE), '');
  await t.rejects(loadOrCreateIdentity({ logger }, dir), /identity\.json cannot be read \(.*file is empty \(zero bytes\); no backup copy exists\)/);
});

void t.test('store empty before create', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir);
  t.equal(store.current.version, 0, 'version 0');
  t.same(store.current.members, [], 'no members');
  t.equal(store.syncRequired, false, 'nothing to sync');
  await t.rejects(readFile(join(dir, CURRENT_CONFIG_FILE)), { code: 'ENOENT' }, 'nothing written');
});

void t.test('store update raises the version', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir);
  const config = await createCluster(store);
  t.equal(config.version, 1, 'version 1');
  t.same(config.members.map((member) => [member.name, member.role]), [['master1', 'primary'], ['eu-traffic1', 'traffic']], 'members');
  t.equal(store.syncRequired, true, 'sync required');
  const second = await store.update((draft) => {
    draft.method = 'timezone';
  });
  t.equal(second.version, 2, 'version 2');
  t.equal(config.method, 'random', 'earlier configuration unchanged');
});

void t.test('store update that throws changes nothing', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir);
  await createCluster(store);
  await t.rejects(store.update(() => {
    throw new Error('rejected change');
  }), /rejected change/, 'error passed on');
  t.equal(store.current.version, 1, 'version unchanged');
});

void t.test('accepting flag changes without a version', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir);
  await createCluster(store);
  await store.markSynced();
  t.equal(await store.setAccepting('eu-traffic1', false), true, 'member found');
  t.equal(store.current.version, 1, 'version unchanged');
  t.equal(store.current.members[1]?.accepting, false, 'current changed');
  t.equal(store.synced?.members[1]?.accepting, false, 'synced changed');
  t.equal(store.syncRequired, false, 'no sync required');
  t.equal(await store.setAccepting('nobody', false), false, 'unknown member');
});

void t.test('synced config persists', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir);
  await createCluster(store);
  await store.markSynced();
  t.equal(store.syncRequired, false, 'no sync required after marking');
  const { store: reopened } = await openStore(dir);
  t.equal(reopened.syncedVersion, 1, 'synced version reloaded');
  t.equal(reopened.current.version, 1, 'current version reloaded');
  t.equal(typeof reopened.current.version, 'number', 'version is a number');
  t.equal(Buffer.from(reopened.current.sessionKey).toString('hex'), SESSION_KEY.toString('hex'), 'session key reloaded');
});

void t.test('zero-byte config uses backup', async (t) => {
  const dir = await tempDir(t);
  const { store } = await openStore(dir);
  await createCluster(store);
  const file = join(dir, CURRENT_CONFIG_FILE);
  await writeFileAtomic(file, configToJson(store.current));
  await truncate(file, 0);

  const { store: reopened, history } = await openStore(dir);
  t.equal(reopened.current.version, 1, 'backup version used');
  const entry = history.list().find((candidate) => candidate.message.includes('file is empty'));
  t.equal(entry?.code, ErrorCode.ERROR_INTERNAL, 'recovery recorded in history');
  t.match(entry?.message, /using the backup copy of version 1/, 'history names the version');
  t.ok((await readFile(file, 'utf8')).length > 0, 'main file repaired');
});

void t.test('corrupt config without backup stops start', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, CURRENT_CONFIG_FILE), '{"version": 3, "members": [');
  const history = await StatusHistory.open({ logger }, dir);
  await t.rejects(openStore(dir, history), /cluster-config\.json cannot be read .*not valid/, 'start fails');
  t.match(history.list()[0]?.message, /^Storage: cluster configuration .* cannot be read/, 'problem recorded in history');
});

void t.test('invalid stored config rejected', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, CURRENT_CONFIG_FILE), JSON.stringify({ version: 2, sessionKey: '', members: [PRIMARY] }));
  await t.rejects(openStore(dir), /sessionKey has 0 bytes; expected 32/);
});

void t.test('session key file length checked', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'short.hex');
  await writeFile(file, 'abcd\n');
  const error = await readSessionKey(file).then(
    () => new Error('readSessionKey accepted a 2-byte key'),
    (caught: unknown) => caught as Error,
  );
  t.match(error.message, /2-byte key; expected 32 bytes/, 'length named');
  t.notOk(error.message.includes('abcd'), 'key not in the message');
});

void t.test('status history persists', async (t) => {
  const dir = await tempDir(t);
  const history = await StatusHistory.open({ logger }, dir);
  history.record(0, 'Data Sync: Finished configuration data sync with eu-traffic1.', 1000);
  await history.flush();
  const reopened = await StatusHistory.open({ logger }, dir);
  t.same(reopened.list(), [{ atMs: 1000, code: 0, message: 'Data Sync: Finished configuration data sync with eu-traffic1.' }]);
});

void t.test('status history capped', async (t) => {
  const dir = await tempDir(t);
  const history = await StatusHistory.open({ logger }, dir);
  for (let i = 0; i < MAX_STATUS_HISTORY_ENTRIES + 5; i++) history.record(0, `entry ${i}`, i);
  await history.flush();
  t.equal(history.list().length, MAX_STATUS_HISTORY_ENTRIES, 'length capped');
  t.equal(history.list()[0]?.message, 'entry 5', 'oldest dropped first');
  const stored = JSON.parse(await readFile(join(dir, STATUS_HISTORY_FILE), 'utf8')) as unknown[];
  t.equal(stored.length, MAX_STATUS_HISTORY_ENTRIES, 'stored length capped');
});

void t.test('backoff grows to its cap', (t) => {
  const top = (attempt: number): number => reconnectDelayMs(attempt, undefined, () => 1);
  const bottom = (attempt: number): number => reconnectDelayMs(attempt, undefined, () => 0);
  t.equal(top(1), DEFAULT_RECONNECT_INITIAL_DELAY_MS, 'first ceiling');
  t.equal(bottom(1), DEFAULT_RECONNECT_INITIAL_DELAY_MS / 2, 'first floor is half the ceiling');
  t.equal(top(2), DEFAULT_RECONNECT_INITIAL_DELAY_MS * 2, 'ceiling doubles');
  t.equal(top(6), DEFAULT_RECONNECT_MAX_DELAY_MS, 'cap reached');
  t.equal(top(1000), DEFAULT_RECONNECT_MAX_DELAY_MS, 'cap holds for large attempts');
  t.equal(bottom(1000), DEFAULT_RECONNECT_MAX_DELAY_MS / 2, 'floor at the cap is half the cap');
  t.throws(() => reconnectDelayMs(0), RangeError, 'attempt 0 rejected');
  t.end();
});
