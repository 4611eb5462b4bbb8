import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR } from '../src/protocol/envelope.js';
import { ErrorCode } from '../src/protocol/messages.js';
import {
  closeOf,
  clusterConfig,
  connectTo,
  joinAsMaster,
  pushConfig,
  sendApplianceAuth,
  startTrafficNode,
  type NodeHandle,
} from './fixtures/traffic-harness.js';

interface Status {
  name: string;
  guid: string;
  appliedConfigVersion: number;
  accepting: boolean;
  masterConnected: boolean;
  activeSessions: number;
  connectedClients: number;
}

interface HistoryEntry {
  atMs: number;
  code: number;
  message: string;
}

async function status(node: NodeHandle): Promise<Status> {
  return (await node.request('status')) as Status;
}

void t.test('appliance channel', async (t) => {
  const node = await startTrafficNode(t);

  await t.test('wrong pre-shared key is rejected and a correct master joins after', async (t) => {
    const { inbox } = await sendApplianceAuth(node, { psk: randomBytes(32) });
    const error = await inbox.next('error');
    t.equal(error.error?.code, ErrorCode.ERROR_AUTH_FAILED, 'error code');
    t.notMatch(error.error?.message ?? '', node.psk.toString('hex'), 'message does not contain the key');
    t.equal((await closeOf(inbox)).code, CLOSE_POLICY_VIOLATION, 'close code');

    const master = await joinAsMaster(node);
    t.ok(master.nodeMacValid, 'node proves the key in ApplianceAuthOk');
    t.equal(master.authOk.applianceAuthOk?.appliedConfigVersion, 0, 'no configuration applied yet');
    t.equal(master.authOk.applianceAuthOk?.accepting, true, 'accepting by default');
    t.match(master.guid, /^[0-9a-f]{32}$/, 'challenge carries a 32-hex-digit GUID');
    master.inbox.channel.close();
    await closeOf(master.inbox);
  });

  await t.test('other software version is rejected', async (t) => {
    const { inbox } = await sendApplianceAuth(node, { softwareVersion: '1.0.0' });
    const error = await inbox.next('error');
    t.equal(error.error?.code, ErrorCode.ERROR_SOFTWARE_VERSION, 'error code');
    t.equal((await closeOf(inbox)).code, CLOSE_POLICY_VIOLATION, 'close code');
  });

  await t.test('config push before auth is out of order', async (t) => {
    const inbox = await connectTo(node, '/appliance');
    await inbox.next('applianceChallenge');
    inbox.channel.send({ configPush: { config: clusterConfig(node, 1), term: 1 } });
    const error = await inbox.next('error');
    t.equal(error.error?.code, ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'error code');
    t.equal((await closeOf(inbox)).code, CLOSE_PROTOCOL_ERROR, 'close code');
  });

  await t.test('config push, equal and stale versions', async (t) => {
    const master = await joinAsMaster(node);
    const applied = await pushConfig(master, clusterConfig(node, 5));
    t.equal(applied.configAck?.version, 5, 'ack names the version');
    t.equal(applied.configAck?.applied, true, 'newer version applied');

    const stored = JSON.parse(await readFile(join(node.dataDir, 'cluster-config.json'), 'utf8')) as { version: number; config: { sessionKey: string } };
    t.equal(stored.version, 5, 'config file holds the version');
    t.match(stored.config.sessionKey, /^[A-Za-z0-9+/]+=*$/, 'session key stored as base64');

    const equal = await pushConfig(master, clusterConfig(node, 5));
    t.equal(equal.configAck?.applied, true, 'equal version acknowledged as applied');
    t.equal(equal.configAck?.code, ErrorCode.ERROR_UNSPECIFIED, 'equal version has no error code');

    const stale = await pushConfig(master, clusterConfig(node, 3));
    t.equal(stale.configAck?.applied, false, 'older version not applied');
    t.equal(stale.configAck?.code, ErrorCode.ERROR_STALE_CONFIG, 'older version gets ERROR_STALE_CONFIG');
    t.match(stale.configAck?.message ?? '', /older than the applied version 5/, 'message names both versions');
    t.ok(master.inbox.channel.isOpen, 'link stays open after a stale push');

    t.equal((await status(node)).appliedConfigVersion, 5, 'status reports the applied version');
    const history = (await node.request('status-history')) as HistoryEntry[];
    t.ok(history.some((entry) => entry.code === Number(ErrorCode.ERROR_STALE_CONFIG) && entry.message.includes('version 3')), 'stale push recorded in the history');
    t.ok(history.some((entry) => entry.code === 0 && entry.message.includes('applied configuration version 5')), 'apply recorded in the history');
    const onDisk = JSON.parse(await readFile(join(node.dataDir, 'status-history.json'), 'utf8')) as HistoryEntry[];
    t.equal(onDisk.length, history.length, 'history file holds every entry');

    master.inbox.channel.close();
    await closeOf(master.inbox);
  });

  await t.test('set accepting takes effect at once', async (t) => {
    const master = await joinAsMaster(node);
    master.inbox.channel.send({ setAccepting: { accepting: false, term: 1 } });
    let report = await master.inbox.next('nodeStatus');
    while (report.nodeStatus?.accepting !== false) report = await master.inbox.next('nodeStatus');
    t.equal(report.nodeStatus.accepting, false, 'NodeStatus reports not accepting');
    t.equal((await status(node)).accepting, false, 'status reports not accepting');

    master.inbox.channel.send({ setAccepting: { accepting: true, term: 1 } });
    report = await master.inbox.next('nodeStatus');
    while (report.nodeStatus?.accepting !== true) report = await master.inbox.next('nodeStatus');
    t.equal(report.nodeStatus.accepting, true, 'NodeStatus reports accepting again');
    master.inbox.channel.close();
    await closeOf(master.inbox);
  });

  await t.test('newer master link replaces the older one', async (t) => {
    const first = await joinAsMaster(node, { masterName: 'master1' });
    const second = await joinAsMaster(node, { masterName: 'master1' });
    const replaced = await closeOf(first.inbox);
    t.equal(replaced.code, CLOSE_NORMAL, 'older link closed normally');
    t.ok(second.inbox.channel.isOpen, 'newer link stays open');
    t.equal((await status(node)).masterConnected, true, 'status reports a master');
    second.inbox.channel.close();
    await closeOf(second.inbox);
  });

  await t.test('master with an older term is turned away', async (t) => {
    const current = await joinAsMaster(node, { term: 3 });
    const former = await joinAsMaster(node, { term: 2, masterName: 'former-primary' });
    t.equal(former.authOk.applianceAuthOk?.term, 3, 'ApplianceAuthOk carries the higher term');
    t.equal((await closeOf(former.inbox)).code, CLOSE_POLICY_VIOLATION, 'older term closed');
    t.ok(current.inbox.channel.isOpen, 'master with the higher term keeps its link');
    current.inbox.channel.close();
    await closeOf(current.inbox);
  });

  await t.test('disband forgets the configuration', async (t) => {
    const master = await joinAsMaster(node, { term: 3 });
    master.inbox.channel.send({ disband: { term: 3 } });
    t.equal((await closeOf(master.inbox)).code, CLOSE_NORMAL, 'disband acknowledged by a normal close');
    t.equal((await status(node)).appliedConfigVersion, 0, 'no configuration applied after disband');
    const history = (await node.request('status-history')) as HistoryEntry[];
    t.ok(history.some((entry) => entry.message.startsWith('Disband')), 'disband recorded in the history');

    const rejoined = await joinAsMaster(node, { term: 1 });
    t.equal(rejoined.authOk.applianceAuthOk?.term, 1, 'a new cluster may start again at term 1');
    rejoined.inbox.channel.close();
    await closeOf(rejoined.inbox);
  });
});

void t.test('data folder', async (t) => {
  const node = await startTrafficNode(t);
  const master = await joinAsMaster(node);
  await pushConfig(master, clusterConfig(node, 1));
  await pushConfig(master, clusterConfig(node, 2));
  const { guid } = await status(node);
  master.inbox.channel.close();
  await closeOf(master.inbox);

  await t.test('identity and configuration survive a restart', async (t) => {
    await node.restart();
    const after = await status(node);
    t.equal(after.guid, guid, 'same GUID');
    t.equal(after.appliedConfigVersion, 2, 'same applied version');
  });

  await t.test('zero-byte config file falls back to its backup', async (t) => {
    await node.stop();
    const file = join(node.dataDir, 'cluster-config.json');
    await writeFile(file, '');
    await node.restart();
    t.equal((await status(node)).appliedConfigVersion, 1, 'backup copy (version 1) applied');

    const lines = (await readFile(node.logFile, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { level: number; file?: string; problem?: string });
    const error = lines.find((line) => line.level >= 50 && line.file === file);
    t.ok(error, 'error logged naming the file');
    t.match(error?.problem ?? '', /empty/, 'error says the file is empty');
    const stored = JSON.parse(await readFile(file, 'utf8')) as { version: number };
    t.equal(stored.version, 1, 'config file rewritten from the backup');
  });

  await t.test('log never contains the pre-shared key', async (t) => {
    const log = await readFile(node.logFile, 'utf8');
    t.notOk(log.includes(node.psk.toString('hex')), 'key absent from the log');
  });

  await t.test('log records start, master, configuration and stop', async (t) => {
    await node.stop();
    const messages = (await readFile(node.logFile, 'utf8')).trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg);
    for (const expected of ['traffic node starting', 'listening', 'traffic node ready', 'master joined', 'cluster configuration applied', 'stopped']) {
      t.ok(messages.includes(expected), `log has "${expected}"`);
    }
  });

  await t.test('damaged identity stops the start', async (t) => {
    await node.stop();
    await writeFile(join(node.dataDir, 'identity.json'), '{"guid": "not-a-guid"');
    await t.rejects(node.restart(), /identity file .* damaged/, 'node exits naming the identity file');
  });
});
