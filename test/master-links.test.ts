import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { SOFTWARE_VERSION } from '../src/config/constants.js';
import { silentLogger } from '../src/logging/logger.js';
import { Channel } from '../src/net/channel.js';
import { WsServer } from '../src/net/ws-server.js';
import { applianceMac, createNonce, type AuthTranscript } from '../src/protocol/appliance-auth.js';
import { CLOSE_POLICY_VIOLATION } from '../src/protocol/envelope.js';
import { ErrorCode, type atlas } from '../src/protocol/messages.js';
import type { MasterStatusReport } from '../src/master/status-report.js';
import type { StatusEntry } from '../src/master/status-history.js';
import {
  INTERNAL_PORT,
  createTestCluster,
  formCluster,
  masterConfig,
  startNodeProcess,
  trafficConfig,
  waitFor,
  type TrafficSpec,
} from './fixtures/master-harness.js';

const WRONG_KEY_NODE: TrafficSpec = { name: 'us-traffic1', hostOctet: 10, prefixes: [], timezone: 'America/New_York' };
const FAKE_NODE: TrafficSpec = { name: 'fake-traffic1', hostOctet: 12, prefixes: [], timezone: 'Europe/Berlin' };

const cluster = await createTestCluster(t, [WRONG_KEY_NODE, FAKE_NODE]);

// A real traffic node whose pre-shared key differs from the master's.
const wrongPskHex = randomBytes(32).toString('hex');
const wrongPskFile = join(cluster.dir, 'wrong-psk.hex');
await writeFile(wrongPskFile, `${wrongPskHex}\n`, { mode: 0o600 });
await startNodeProcess(t, trafficConfig(cluster, WRONG_KEY_NODE, wrongPskFile), cluster.dir);

// An in-process traffic node that speaks the appliance protocol, so a test
// can make it misbehave in ways the real node never does.
type FakeMode = 'old-version' | 'bad-mac' | 'good';
let mode: FakeMode = 'old-version';
const errorsReceived: { mode: FakeMode; error: atlas.IError; closeCode?: number }[] = [];
const pushes: atlas.IConfigPush[] = [];
let liveChannel: Channel | undefined;
const psk = Buffer.from(cluster.pskHex, 'hex');

const fakeServer = new WsServer({ logger: silentLogger() }, {
  host: `${cluster.network}.${FAKE_NODE.hostOctet}`,
  port: INTERNAL_PORT,
  tls: { cert: cluster.certs.cert, key: cluster.certs.key },
  paths: { '/appliance': (ws) => serveFake(new Channel(ws, { logger: silentLogger() })) },
});
await fakeServer.listen();
t.teardown(() => fakeServer.close());

function serveFake(channel: Channel): void {
  const connectionMode = mode;
  const nonce = createNonce();
  liveChannel = channel;
  channel.onMessage((envelope) => {
    if (envelope.body === 'error') {
      const record: (typeof errorsReceived)[number] = { mode: connectionMode, error: envelope.error! };
      errorsReceived.push(record);
      channel.once('close', (close) => (record.closeCode = close.code));
    } else if (envelope.body === 'applianceAuth') {
      const auth = envelope.applianceAuth!;
      const transcript: AuthTranscript = { acceptorNonce: nonce, connectorNonce: auth.nonce!, acceptorName: FAKE_NODE.name, connectorName: auth.nodeName! };
      const mac = connectionMode === 'bad-mac' ? randomBytes(32) : applianceMac(psk, 'acceptor', transcript);
      channel.send({ applianceAuthOk: { mac, appliedConfigVersion: 0, accepting: true, term: 1 } });
    } else if (envelope.body === 'configPush') {
      pushes.push(envelope.configPush!);
      channel.send({ configAck: { version: envelope.configPush!.config!.version, applied: true } });
    }
  });
  const softwareVersion = connectionMode === 'old-version' ? '23.1.0' : SOFTWARE_VERSION;
  channel.send({ applianceChallenge: { nodeName: FAKE_NODE.name, applianceGuid: 'f'.repeat(32), nonce, softwareVersion } });
}

const config = masterConfig(cluster);
const master = await startNodeProcess(t, config, cluster.dir);
// Both nodes fail the first sync (wrong key, old software version); the links keep retrying.
const built = await formCluster(cluster, [WRONG_KEY_NODE, FAKE_NODE]);

async function history(): Promise<StatusEntry[]> {
  return master.request<StatusEntry[]>('status-history');
}

async function fakeNodeStatus(): Promise<MasterStatusReport['nodes'][number] | undefined> {
  const status = await master.request<MasterStatusReport>('status');
  return status.nodes.find((node) => node.name === FAKE_NODE.name);
}

void t.test('wrong psk recorded without the key', async (t) => {
  const entry = await waitFor('key mismatch in the status history', async () =>
    (await history()).find((candidate) => candidate.message === 'us-traffic1: inter-appliance key does not match'),
  );
  t.equal(entry.code, ErrorCode.ERROR_AUTH_FAILED, 'history code');

  const status = await master.request<MasterStatusReport>('status');
  t.equal(status.nodes.find((node) => node.name === WRONG_KEY_NODE.name)?.online, false, 'node stays offline');

  // The master writes its history file in the background, so wait for the entry to land.
  const historyFile = await waitFor('history file with the entry', async () => {
    const text = await readFile(join(config.dataDir, 'status-history.json'), 'utf8').catch(() => '');
    return text.includes('inter-appliance key does not match') ? text : undefined;
  });
  const log = await readFile(config.logFile!, 'utf8');
  for (const [label, text] of [['history file', historyFile], ['master log', log]] as const) {
    t.notOk(text.includes(cluster.pskHex), `${label} does not contain the master key`);
    t.notOk(text.includes(wrongPskHex), `${label} does not contain the node key`);
  }
});

void t.test('wrong psk recorded once per problem', async (t) => {
  await waitFor('a repeated rejection in the log', async () => {
    const log = await readFile(config.logFile!, 'utf8');
    return log.includes('appliance link problem repeated') ? true : undefined;
  });
  const matches = (await history()).filter((entry) => entry.message === 'us-traffic1: inter-appliance key does not match');
  t.equal(matches.length, 1, 'one history entry for repeated rejections');
});

void t.test('link rejects other node version', async (t) => {
  const received = await waitFor('version error at the fake node', () => errorsReceived.find((record) => record.mode === 'old-version' && record.closeCode !== undefined));
  t.equal(received.error.code, ErrorCode.ERROR_SOFTWARE_VERSION, 'error code sent to the node');
  t.equal(received.closeCode, CLOSE_POLICY_VIOLATION, 'close code');
  const entry = (await history()).find((candidate) => candidate.message.startsWith('fake-traffic1: runs software version 23.1.0'));
  t.equal(entry?.code, ErrorCode.ERROR_SOFTWARE_VERSION, 'history entry names the version');
});

void t.test('link rejects wrong node mac', async (t) => {
  mode = 'bad-mac';
  const received = await waitFor('auth error at the fake node', () => errorsReceived.find((record) => record.mode === 'bad-mac' && record.closeCode !== undefined));
  t.equal(received.error.code, ErrorCode.ERROR_AUTH_FAILED, 'error code sent to the node');
  t.equal(received.closeCode, CLOSE_POLICY_VIOLATION, 'close code');
  const entry = (await history()).find((candidate) => candidate.message === 'fake-traffic1: inter-appliance key does not match');
  t.equal(entry?.code, ErrorCode.ERROR_AUTH_FAILED, 'history entry');
  t.equal((await fakeNodeStatus())?.online, false, 'node offline');
});

void t.test('link pushes synced config', async (t) => {
  mode = 'good';
  const node = await waitFor('fake node online', async () => {
    const status = await fakeNodeStatus();
    return status?.online === true ? status : undefined;
  });
  t.equal(pushes.length, 1, 'one push');
  t.equal(pushes[0]?.config?.version, built.sync.version, 'pushed the synced version');
  t.equal(pushes[0]?.term, 1, 'pushed with term 1');
  t.equal(Buffer.from(pushes[0]?.config?.sessionKey ?? []).toString('hex'), cluster.sessionKey.toString('hex'), 'pushed the session key');
  t.same(pushes[0]?.config?.members?.map((member) => member.name), ['master1', WRONG_KEY_NODE.name, FAKE_NODE.name], 'pushed every member');
  t.equal(node.appliedConfigVersion, built.sync.version, 'acknowledged version recorded');
  t.equal(node.configCurrent, true, 'node current');
  t.equal(node.applianceGuid, 'f'.repeat(32), 'node guid recorded');
  t.equal(node.address, `${cluster.network}.${FAKE_NODE.hostOctet}`, 'node address recorded');
});

void t.test('node status updates accepting', async (t) => {
  liveChannel?.send({ nodeStatus: { appliedConfigVersion: built.sync.version, accepting: false, activeSessions: 2, connectedClients: 3 } });
  const node = await waitFor('accepting false', async () => {
    const status = await fakeNodeStatus();
    return status?.accepting === false ? status : undefined;
  });
  t.equal(node.activeSessions, 2, 'active sessions');
  t.equal(node.connectedClients, 3, 'connected clients');
});

/** Lines of the master log that mark the fake node offline. */
async function offlineLines(): Promise<number> {
  const log = await readFile(config.logFile!, 'utf8');
  return log.split('\n').filter((line) => line.includes('"link":"fake-traffic1"') && line.includes('node offline, appliance link closed')).length;
}

void t.test('closed link marks node offline', async (t) => {
  const before = await offlineLines();
  liveChannel?.terminate('test drops the link');
  // The master reconnects within a few hundred ms, so the log is watched instead of polling for a short offline state.
  const after = await waitFor('fake node marked offline in the log', async () => {
    const count = await offlineLines();
    return count > before ? count : undefined;
  });
  t.equal(after, before + 1, 'offline after the link closed');
  const back = await waitFor('fake node back online', async () => {
    const status = await fakeNodeStatus();
    return status?.online === true ? status : undefined;
  });
  t.equal(back.online, true, 'reconnected');
  t.equal(pushes.length, 2, 'pushed again because the fake node reports version 0');
});
