// The session generation API with real processes. A customer client started
// with a key from generate_session_key joins the queue and, under the timezone
// method, lands on the closest available traffic node. Unknown, expired and
// used keys are rejected.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';

import { startCluster, type Cluster } from '../src/index.js';
import { CommandApiClient } from '../src/launcher/command-api-client.js';
import { cliEntry } from '../src/launcher/project-root.js';
import { runFolderPaths } from '../src/launcher/run-folder.js';
import type { SessionKeyView } from '../src/master/command-api/session-key-action.js';

const TOPOLOGY = {
  clusterName: 'session-key',
  method: 'timezone',
  masters: [{ name: 'master1' }],
  trafficNodes: [
    { name: 'ap-traffic1', timezone: 'Asia/Tokyo' },
    { name: 'ap-traffic2', timezone: '+08:00' },
    { name: 'eu-traffic1', timezone: 'Europe/Berlin' },
  ],
  clients: [{ name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York' }],
};

let cluster: Cluster;
let runDir: string | undefined;
let api: CommandApiClient;

t.before(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'atlas-session-key-'));
  cluster = await startCluster({ topology: TOPOLOGY, runDir, seed: 'session-key', removeRunDir: true });
  api = await CommandApiClient.open(cluster.info, runFolderPaths(runDir).apiAccountFile);
});

t.teardown(async () => {
  await cluster?.close();
  if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
});

interface CustomerProcess {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `atlas-sim client customer --session-key KEY` in Asia/Tokyo; teardown kills it by PID if it still runs. */
function startCustomer(t: Test, name: string, address: string, key: string): CustomerProcess {
  const args = [cliEntry(), 'client', 'customer', '--run-dir', cluster.runDir, '--address', address, '--name', name, '--session-key', key, '--log-file', join(cluster.runDir, 'logs', `${name}.log`)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TZ: 'Asia/Tokyo' } });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  });
  return { child, stderr: () => stderr, exited };
}

async function generateKey(parameters: Record<string, string> = {}): Promise<SessionKeyView> {
  return api.commandJson<SessionKeyView>('generate_session_key', { type: 'support', queue_id: 'general', ...parameters });
}

/** Waits for `name` in the representative's queue, accepts it, and returns the customer's home node report. */
async function acceptAndFindHome(name: string): Promise<{ node: string; reason: string }> {
  const entry = await cluster.waitFor(
    async () => {
      const queue = (await cluster.request('rep', 'queue')) as { entries: { clientId: string; displayName: string; issue: string }[] };
      return queue.entries.find((candidate) => candidate.displayName === name);
    },
    { timeoutMs: 30_000, description: `${name} in the representative's queue` },
  );
  await cluster.request('rep', 'accept', { customerClientId: entry.clientId });
  const clients = (await cluster.connectedClients());
  const customer = clients.find((client) => client.clientId === entry.clientId);
  const home = customer?.session?.connections.find((connection) => connection.kind === 'home');
  return { node: home?.node ?? 'none', reason: home?.reason ?? '' };
}

async function endSession(): Promise<void> {
  await cluster.request('rep', 'end-session', { reason: 'session key test done' });
  await cluster.waitFor(async () => ((await cluster.request('rep', 'status')) as { sessionId?: string }).sessionId === undefined, { timeoutMs: 30_000, description: 'session end' });
}

void t.test('generate_session_key response fields', async (t) => {
  const before = Date.now();
  const key = await generateKey({ ttl: '600', external_key: 'ticket 4711' });
  t.match(key.shortKey, /^\d{7}$/, 'seven-digit short key');
  t.equal(key.keyUrl, `https://${cluster.info.site.host}${cluster.info.site.port === 443 ? '' : `:${cluster.info.site.port}`}/ks/${key.shortKey}`, 'key URL on the site hostname');
  t.equal(key.queueId, 'general', 'queue');
  t.ok(Math.abs(Date.parse(key.expires) - (before + 600_000)) < 60_000, 'expires after the ttl');
  t.equal(key.expiresTimestamp, Math.floor(Date.parse(key.expires) / 1000), 'timestamp matches the ISO time');

  const xml = await api.command('generate_session_key', { type: 'support', queue_id: 'general' });
  t.equal(xml.status, 200, 'XML response status');
  const compact = xml.body.replace(/>\s+</g, '><');
  t.match(compact, /<session_key xmlns="urn:atlas-sim:api:command"><short_key>\d{7}<\/short_key><key_url>https:\/\/[^<]+\/ks\/\d{7}<\/key_url><expires timestamp="\d+">[^<]+<\/expires><queue_id>general<\/queue_id><\/session_key>/, 'XML elements');
});

void t.test('generate_session_key rejects bad parameters', async (t) => {
  const cases: { parameters: Record<string, string>; message: RegExp }[] = [
    { parameters: { queue_id: 'general' }, message: /type is ""; the only session type is support/ },
    { parameters: { type: 'support', queue_id: 'rep:7' }, message: /queue_id is "rep:7"; this cluster has only the general queue/ },
    { parameters: { type: 'support', queue_id: 'general', ttl: '0' }, message: /ttl is "0"; give the lifetime of the key in whole seconds from 1 to 604800/ },
    { parameters: { type: 'support', queue_id: 'general', ttl: 'soon' }, message: /ttl is "soon"/ },
  ];
  for (const { parameters, message } of cases) {
    const reply = await api.command('generate_session_key', parameters, 'json');
    t.equal(reply.status, 400, `${JSON.stringify(parameters)}: 400`);
    t.match((JSON.parse(reply.body) as { error: string }).error, message, `${JSON.stringify(parameters)}: message`);
  }
});

void t.test('session key customer lands nearest', async (t) => {
  const key = await generateKey({ external_key: 'printer on fire' });
  startCustomer(t, 'customer-jp', '127.40.0.5', key.shortKey);
  const home = await acceptAndFindHome('customer-jp');
  t.equal(home.node, 'ap-traffic1', 'the node in the client zone');
  t.equal(home.reason, 'timezone: node offset +540 nearest to client +540 (distance 0 min), 1 of 3', 'reason');
  await endSession();
});

void t.test('session key skips unavailable node', async (t) => {
  await cluster.admin.patch('/api/cluster/nodes/ap-traffic1', { accepting: false });
  t.teardown(() => cluster.admin.patch('/api/cluster/nodes/ap-traffic1', { accepting: true }));
  await cluster.waitFor(async () => {
    const status = (await cluster.request('master1', 'status')) as { nodes: { name: string; accepting: boolean }[] };
    return status.nodes.find((node) => node.name === 'ap-traffic1')?.accepting === false;
  }, { timeoutMs: 30_000, description: 'ap-traffic1 not accepting' });

  const key = await generateKey();
  startCustomer(t, 'customer-jp2', '127.40.0.6', key.keyUrl);
  const home = await acceptAndFindHome('customer-jp2');
  t.equal(home.node, 'ap-traffic2', 'the closest node that accepts');
  t.equal(home.reason, 'timezone: node offset +480 nearest to client +540 (distance 60 min), 1 of 2', 'reason');
  await endSession();
});

void t.test('session key rejections', async (t) => {
  const used = await generateKey();
  const first = startCustomer(t, 'customer-first', '127.40.0.7', used.shortKey);
  await cluster.waitFor(
    async () => ((await cluster.request('rep', 'queue')) as { entries: { displayName: string }[] }).entries.some((entry) => entry.displayName === 'customer-first'),
    { timeoutMs: 30_000, description: 'customer-first queued' },
  );

  const expired = await generateKey({ ttl: '1' });
  await cluster.waitFor(() => Date.now() > expired.expiresTimestamp * 1000 + 1000, { timeoutMs: 10_000, description: 'the key to expire' });

  const cases: { name: string; key: string; message: RegExp }[] = [
    { name: 'customer-unknown', key: '0000001', message: /the session key is unknown/ },
    { name: 'customer-expired', key: expired.shortKey, message: /the session key expired at/ },
    { name: 'customer-second', key: used.shortKey, message: /the session key was already used by another customer client/ },
  ];
  for (const [index, { name, key, message }] of cases.entries()) {
    const customer = startCustomer(t, name, `127.40.0.${20 + index}`, key);
    const code = await customer.exited;
    t.equal(code, 1, `${name}: exits 1 without retrying`);
    t.match(customer.stderr(), message, `${name}: reason`);
    t.match(customer.stderr(), /ERROR_SESSION_KEY_REJECTED/, `${name}: error code`);
  }
  t.equal(first.child.exitCode, null, 'the customer that used the key first still runs');
});
