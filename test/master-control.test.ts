import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { CLOSE_INVALID_PAYLOAD, CLOSE_MESSAGE_TOO_BIG, CLOSE_POLICY_VIOLATION, CLOSE_PROTOCOL_ERROR, CLOSE_UNSUPPORTED_DATA } from '../src/protocol/envelope.js';
import { ErrorCode } from '../src/protocol/messages.js';
import type { ConnectedClientReport, MasterStatusReport } from '../src/master/status-report.js';
import {
  Role,
  connectClient,
  connectControl,
  createTestCluster,
  formCluster,
  masterConfig,
  startNodeProcess,
  waitFor,
  type TestClient,
  type TrafficSpec,
} from './fixtures/master-harness.js';

// One traffic member that never starts, so every session is refused and the link keeps retrying.
const TRAFFIC: TrafficSpec[] = [{ name: 'us-traffic1', hostOctet: 10, prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' }];
const CUSTOMER_ADDRESS = '127.30.0.5';
const REP_ADDRESS = '127.20.0.5';

const cluster = await createTestCluster(t, TRAFFIC);
const config = masterConfig(cluster);
const master = await startNodeProcess(t, config, cluster.dir);
const built = await formCluster(cluster, TRAFFIC);

/** Sends raw bytes (or text) and returns the Error envelope code and the close code. */
async function sendRaw(client: TestClient, data: string | Uint8Array, binary: boolean): Promise<{ code: ErrorCode | undefined; closeCode: number }> {
  client.channel.ws.send(data, { binary });
  const error = await client.next('error');
  const close = await client.closed;
  return { code: error.error?.code ?? undefined, closeCode: close.code };
}

const badInputs: { name: string; data: () => string | Uint8Array; binary: boolean; code: ErrorCode; closeCode: number }[] = [
  { name: 'text frame', data: () => 'hello', binary: false, code: ErrorCode.ERROR_TEXT_FRAME, closeCode: CLOSE_UNSUPPORTED_DATA },
  { name: 'malformed envelope', data: () => Uint8Array.from([0xff, 0xff, 0xff]), binary: true, code: ErrorCode.ERROR_MALFORMED, closeCode: CLOSE_INVALID_PAYLOAD },
  // protocol_version = 1, then field 99 (unknown to the schema) as a varint.
  { name: 'unknown body', data: () => Uint8Array.from([0x08, 0x01, 0x98, 0x06, 0x01]), binary: true, code: ErrorCode.ERROR_UNKNOWN_BODY, closeCode: CLOSE_PROTOCOL_ERROR },
  { name: 'oversized message', data: () => new Uint8Array(1024 * 1024 + 1), binary: true, code: ErrorCode.ERROR_MESSAGE_TOO_LARGE, closeCode: CLOSE_MESSAGE_TOO_BIG },
];

for (const input of badInputs) {
  void t.test(`control rejects ${input.name}`, async (t) => {
    const client = await connectControl(t, cluster, CUSTOMER_ADDRESS);
    const result = await sendRaw(client, input.data(), input.binary);
    t.equal(result.code, input.code, 'error code');
    t.equal(result.closeCode, input.closeCode, 'close code');
  });
}

void t.test('control rejects message before hello', async (t) => {
  const client = await connectControl(t, cluster, CUSTOMER_ADDRESS);
  client.channel.send({ supportRequest: { issue: 'printer' } });
  const error = await client.next('error');
  const close = await client.closed;
  t.equal(error.error?.code, ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'error code');
  t.equal(close.code, CLOSE_PROTOCOL_ERROR, 'close code');
});

void t.test('control rejects second hello', async (t) => {
  const { client } = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: 'twice' });
  client.channel.send({ clientHello: { role: Role.ROLE_CUSTOMER, softwareVersion: 'x' } });
  const error = await client.next('error');
  t.equal(error.error?.code, ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'error code');
  t.equal((await client.closed).code, CLOSE_PROTOCOL_ERROR, 'close code');
});

void t.test('control rejects other software version', async (t) => {
  const client = await connectControl(t, cluster, CUSTOMER_ADDRESS);
  client.channel.send({ clientHello: { role: Role.ROLE_CUSTOMER, softwareVersion: '1.0.0', displayName: 'old' } });
  const error = await client.next('error');
  const close = await client.closed;
  t.equal(error.error?.code, ErrorCode.ERROR_SOFTWARE_VERSION, 'error code');
  t.match(error.error?.message, /1\.0\.0/, 'message names the version');
  t.equal(close.code, CLOSE_POLICY_VIOLATION, 'close code');
});

void t.test('control rejects unspecified role', async (t) => {
  const client = await connectControl(t, cluster, CUSTOMER_ADDRESS);
  client.channel.send({ clientHello: { role: Role.ROLE_UNSPECIFIED, softwareVersion: '24.3.1' } });
  const error = await client.next('error');
  t.equal(error.error?.code, ErrorCode.ERROR_MALFORMED, 'error code');
  t.equal((await client.closed).code, CLOSE_INVALID_PAYLOAD, 'close code');
});

void t.test('control keeps serving after bad input', async (t) => {
  const { client, clientId } = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: 'after' });
  t.match(clientId, /^c-[0-9a-f]{16}$/, 'assigned client id');
  t.ok(client.channel.isOpen, 'channel open after welcome');
});

void t.test('control keeps a client id', async (t) => {
  const { clientId } = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: 'keeper', clientId: 'customer-keep-1' });
  t.equal(clientId, 'customer-keep-1');
});

void t.test('control closes a connection without hello', async (t) => {
  const client = await connectControl(t, cluster, CUSTOMER_ADDRESS);
  const error = await client.next('error');
  const close = await client.closed;
  t.equal(error.error?.code, ErrorCode.ERROR_TIMEOUT, 'error code');
  t.match(error.error?.message, /no clientHello within 10000 ms/, 'message names the timeout');
  t.equal(close.code, CLOSE_POLICY_VIOLATION, 'close code');
});

void t.test('client id takeover needs the resume token', async (t) => {
  const owner = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: 'owner', clientId: 'customer-owned-1' });
  t.equal(owner.resumeToken.length, 32, 'welcome carries a resume token');

  const intruder = await connectControl(t, cluster, REP_ADDRESS);
  intruder.channel.send({ clientHello: { role: Role.ROLE_CUSTOMER, softwareVersion: '24.3.1', displayName: 'intruder', clientId: 'customer-owned-1' } });
  const error = await intruder.next('error');
  t.equal(error.error?.code, ErrorCode.ERROR_AUTH_FAILED, 'error code');
  t.match(error.error?.message, /client id customer-owned-1 is online on another connection/, 'message names the client id');
  t.equal((await intruder.closed).code, CLOSE_POLICY_VIOLATION, 'close code');
  t.ok(owner.client.channel.isOpen, 'owner keeps its connection');

  const resumed = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: 'owner', clientId: 'customer-owned-1', resumeToken: owner.resumeToken });
  t.equal(resumed.clientId, 'customer-owned-1', 'reconnect with the token keeps the id');
  t.equal((await owner.client.closed).code, 1000, 'previous connection replaced');
});

void t.test('session refused without traffic node', async (t) => {
  const rep = await connectClient(t, cluster, REP_ADDRESS, { role: Role.ROLE_REPRESENTATIVE, displayName: 'Rep', utcOffsetMinutes: -300 });
  const customer = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: 'Customer', utcOffsetMinutes: 60 });
  await rep.client.next('queueUpdate');

  customer.client.channel.send({ supportRequest: { issue: 'screen is black' } });
  const queued = await rep.client.next('queueUpdate');
  const entry = queued.queueUpdate?.entries?.find((candidate) => candidate.clientId === customer.clientId);
  t.equal(entry?.issue, 'screen is black', 'queue lists the customer');

  const listed = await master.request<ConnectedClientReport[]>('connected-clients');
  const report = listed.find((client) => client.clientId === customer.clientId);
  t.equal(report?.address, CUSTOMER_ADDRESS, 'source address from the socket');
  t.equal(report?.utcOffsetMinutes, 60, 'offset from the hello');
  t.equal(report?.role, 'customer', 'role');

  rep.client.channel.send({ acceptRequest: { customerClientId: customer.clientId } });
  const repEnded = await rep.client.next('sessionEnded');
  const customerEnded = await customer.client.next('sessionEnded');
  t.match(repEnded.sessionEnded?.reason, /no traffic node available/, 'representative told why');
  t.match(customerEnded.sessionEnded?.reason, /no traffic node available/, 'customer told why');

  rep.client.channel.send({ acceptRequest: { customerClientId: '' } });
  const empty = await rep.client.next('sessionEnded');
  t.match(empty.sessionEnded?.reason, /no waiting customer/, 'empty queue refused without closing');
  t.ok(rep.client.channel.isOpen, 'representative channel stays open');
  t.ok(customer.client.channel.isOpen, 'customer channel stays open');
});

void t.test('customer leaving empties the queue', async (t) => {
  const rep = await connectClient(t, cluster, REP_ADDRESS, { role: Role.ROLE_REPRESENTATIVE, displayName: 'Rep 2' });
  const customer = await connectClient(t, cluster, CUSTOMER_ADDRESS, { role: Role.ROLE_CUSTOMER, displayName: 'Leaver' });
  customer.client.channel.send({ supportRequest: { issue: 'bye' } });
  await waitFor('queue with the customer', async () => {
    const update = await rep.client.next('queueUpdate');
    return update.queueUpdate?.entries?.some((entry) => entry.clientId === customer.clientId) === true ? true : undefined;
  });
  customer.client.close();
  const update = await waitFor('queue without the customer', async () => {
    const next = await rep.client.next('queueUpdate');
    return next.queueUpdate?.entries?.some((entry) => entry.clientId === customer.clientId) === false ? next : undefined;
  });
  t.ok(update, 'queue update without the customer');
});

void t.test('status reports the offline node', async (t) => {
  const status = await master.request<MasterStatusReport>('status');
  t.equal(status.role, 'primary', 'role');
  t.equal(status.term, 1, 'term');
  t.equal(status.configVersion, built.sync.version, 'config version');
  t.equal(status.syncedVersion, built.sync.version, 'synced version');
  t.match(status.guid, /^[0-9a-f]{32}$/, 'guid');
  t.equal(status.nodes[0]?.name, 'us-traffic1', 'node listed');
  t.equal(status.nodes[0]?.online, false, 'node offline');
});

void t.test('link retries are logged with backoff', async (t) => {
  const retries = await waitFor('two logged retries', async () => {
    const lines = (await readFile(config.logFile!, 'utf8')).split('\n').filter((line) => line.includes('appliance link retry scheduled'));
    return lines.length >= 2 ? lines.map((line) => JSON.parse(line) as { level: number; attempt: number; delayMs: number }) : undefined;
  });
  t.equal(retries[0]?.level, 40, 'logged at warn');
  t.equal(retries[0]?.attempt, 1, 'first attempt');
  t.equal(retries[1]?.attempt, 2, 'second attempt');
  t.ok((retries[0]?.delayMs ?? -1) >= 125 && (retries[0]?.delayMs ?? -1) <= 250, `first delay ${retries[0]?.delayMs} ms within 125-250`);
});

void t.test('zero-byte config without backup stops start', async (t) => {
  const dataDir = join(cluster.dir, 'broken-master');
  const broken = { ...masterConfig(cluster, dataDir), public: { ...config.public, address: `${cluster.network}.2` } };
  const first = await startNodeProcess(t, broken, cluster.dir);
  await first.stop();
  // A master in no cluster has written no configuration yet, so this is a zero-byte file without a backup.
  await writeFile(join(dataDir, 'cluster-config.json'), '');

  const failed = startNodeProcess(t, broken, cluster.dir);
  await t.rejects(failed, /cluster-config\.json: file is empty/, 'start fails naming the file and the problem');
});
