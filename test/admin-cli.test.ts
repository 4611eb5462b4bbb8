// `atlas-sim cluster`, `security`, `node leave` and `status` as a person runs
// them, against a cluster that `up --detach` built through the admin API.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ClusterView, DisbandReport, HistoryEntryView, SyncReport } from '../src/admin/api-types.js';
import { ADMIN_PASSWORD_FILE, ADMIN_PASSWORD_HASH_FILE } from '../src/admin/credentials.js';
import { readClusterInfo } from '../src/config/cluster-info.js';
import { isProcessRunning } from '../src/launcher/address-block.js';
import type { ClusterStatus } from '../src/launcher/cluster-status.js';
import { waitForPidExit } from '../src/launcher/process-stop.js';
import { readSupervisorRecord } from '../src/launcher/supervisor.js';
import { CLI } from './fixtures/master-harness.js';

const TOPOLOGY = {
  clusterName: 'cli-test',
  masters: [{ name: 'master1', model: 'B400' }],
  trafficNodes: [
    { name: 'us-traffic1', model: 'B300', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' },
    { name: 'eu-traffic1', model: 'B300', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' },
  ],
  clients: [],
};

const parent = await mkdtemp(join(tmpdir(), 'atlas-admin-cli-'));
const runDir = join(parent, 'run');
const topologyFile = join(parent, 'topology.json');
await writeFile(topologyFile, JSON.stringify(TOPOLOGY));
// Teardown: `down`, then SIGKILL by PID for any process of this run still alive, then the folder.
t.teardown(async () => {
  if (existsSync(join(runDir, 'cluster.json'))) {
    await cli(['down']);
    const info = await readClusterInfo(runDir);
    const record = await readSupervisorRecord(runDir);
    const pids = [...(record === undefined ? [] : [record.pid]), ...info.nodes.map((node) => node.pid)];
    for (const pid of pids) if (isProcessRunning(pid)) process.kill(pid, 'SIGKILL');
  }
  await rm(parent, { recursive: true, force: true });
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], stdin = ''): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, '--run-dir', runDir], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function json<T>(args: string[]): Promise<{ code: number | null; body: T; stderr: string }> {
  const run = await cli([...args, '--json']);
  return { code: run.code, body: JSON.parse(run.stdout) as T, stderr: run.stderr };
}

const up = await cli(['up', '--detach', '--topology', topologyFile, '--seed', 'admin-cli']);
if (up.code !== 0) throw new Error(`up --detach failed with ${String(up.code)}: ${up.stderr}`);

void t.test('run folder keeps the password private', async (t) => {
  for (const file of [ADMIN_PASSWORD_FILE, ADMIN_PASSWORD_HASH_FILE]) {
    const mode = (await stat(join(runDir, file))).mode & 0o777;
    t.equal(mode, 0o600, `${file} is mode 0600`);
  }
});

void t.test('cluster show lists the built cluster', async (t) => {
  const { code, body } = await json<ClusterView>(['cluster', 'show']);
  t.equal(code, 0, 'exit 0');
  t.equal(body.clusterName, 'cli-test', 'cluster name from the topology');
  t.equal(body.syncRequired, false, 'launcher synced');
  t.same(body.trafficNodes.map((node) => `${node.name} ${node.online ? 'online' : 'offline'}`), ['us-traffic1 online', 'eu-traffic1 online'], 'both nodes online');
  const text = await cli(['cluster', 'show']);
  t.match(text.stdout, /cluster cli-test \(site support\.example\.test\): configuration version \d+, synced version \d+, method random/, 'text summary');
});

void t.test('add-node names the bad field', async (t) => {
  const run = await cli(['cluster', 'add-node', '--name', 'ap-traffic1', '--public-address', '127.0.0.1:443', '--internal-address', 'ap-traffic1.support.example.test:8443']);
  t.equal(run.code, 2, 'exit 2: the command line is invalid on its own');
  t.match(run.stderr, /publicAddress \(--public-address\): "127\.0\.0\.1:443" is an IP address/, 'field, flag, value and reason');
  const { body } = await json<ClusterView>(['cluster', 'show']);
  t.equal(body.trafficNodes.length, 2, 'nothing added');
});

void t.test('add-node without addresses', async (t) => {
  const run = await cli(['cluster', 'add-node', '--name', 'x']);
  t.equal(run.code, 2, 'exit 2');
  t.match(run.stderr, /publicAddress \(--public-address\): \(missing\) is required/, 'names --public-address');
  t.match(run.stderr, /internalAddress \(--internal-address\): \(missing\) is required/, 'names --internal-address');
});

void t.test('add-node json error', async (t) => {
  const { code, body } = await json<{ status: number; field: string; value: unknown; reason: string }>(['cluster', 'add-node', '--name', 'us-traffic1', '--public-address', 'ap-traffic1.support.example.test:443', '--internal-address', 'ap-traffic1.support.example.test:8443']);
  t.equal(code, 1, 'exit 1: the master rejects a name already in use');
  t.equal(body.status, 400, 'status in the JSON');
  t.equal(body.field, 'name', 'field');
  t.equal(body.value, 'us-traffic1', 'value');
  t.match(body.reason, /is already the name of the traffic node/, 'reason');
});

void t.test('negative values reach the range check', async (t) => {
  const timeout = await cli(['cluster', 'peer-to-peer', '--timeout-ms', '-5']);
  t.equal(timeout.code, 1, 'the master rejects the value: exit 1');
  t.match(timeout.stderr, /timeoutMs \(--timeout-ms\): -5 is not/, 'the master names the field and flag');
  t.notMatch(timeout.stderr, /ambiguous/, 'no parseArgs message');
  const priority = await cli(['cluster', 'edit-node', 'us-traffic1', '--srv-priority', '-1']);
  t.equal(priority.code, 2, 'the CLI rejects the value: exit 2');
  t.match(priority.stderr, /srvPriority \(--srv-priority\): -1 is not an integer from 0 to 65535/, 'range message');
});

void t.test('node leave on a master', async (t) => {
  const run = await cli(['node', 'leave', '--node', 'master1']);
  t.equal(run.code, 2, 'exit 2');
  t.match(run.stderr, /^atlas-sim node leave: master1 is a master; node leave applies to traffic nodes \(us-traffic1, eu-traffic1\)/, 'names the node and the command');
});

void t.test('cli rejects an unknown option', async (t) => {
  const run = await cli(['cluster', 'sync', '--prefix', '10.0.0.0/8']);
  t.equal(run.code, 2, 'exit 2');
  t.match(run.stderr, /--prefix is not an option of `cluster sync`/, 'names the option');
});

void t.test('change shows the sync warning', async (t) => {
  const run = await cli(['cluster', 'edit-node', 'eu-traffic1', '--prefix', '127.30.0.0/16', '--prefix', '127.31.0.0/16', '--model', 'B400']);
  t.equal(run.code, 0, 'exit 0');
  t.match(run.stdout, /^warning: sync required: configuration version \d+ has changes/m, 'sync warning printed');
  t.match(run.stdout, /^warning: traffic nodes mix appliance models \(B300, B400\)/m, 'mixed model warning printed');
  const status = await cli(['status']);
  t.match(status.stdout, /^warning: sync required: configuration version \d+ has changes/m, 'status shows the warning');
  const { body } = await json<ClusterStatus>(['status']);
  t.equal(body.syncRequired, true, 'status JSON says sync required');
});

void t.test('sync clears the warning', async (t) => {
  const { code, body } = await json<SyncReport>(['cluster', 'sync']);
  t.equal(code, 0, 'exit 0');
  t.equal(body.failed, 0, 'no node failed');
  t.same(body.nodes.map((node) => node.name).sort(), ['eu-traffic1', 'us-traffic1'], 'both nodes synced');
  const { body: view } = await json<ClusterView>(['cluster', 'show']);
  t.equal(view.syncRequired, false, 'no sync required');
  t.notOk(view.warnings.some((warning) => warning.startsWith('sync required')), 'warning gone');
  const status = await cli(['status']);
  t.notMatch(status.stdout, /sync required/, 'status warning gone');
});

void t.test('history lists the sync', async (t) => {
  const { code, body } = await json<HistoryEntryView[]>(['cluster', 'history', '--limit', '4']);
  t.equal(code, 0, 'exit 0');
  t.equal(body.length, 4, 'limit applied');
  t.equal(body.at(-1)?.message, 'Data Sync: Finished data sync with traffic nodes.', 'newest entry last in JSON');
  t.equal(body.at(-1)?.code, 0, 'status code 0');
  const text = await cli(['cluster', 'history', '--limit', '1']);
  t.match(text.stdout, /^time +status +message\n-+ +-+ +-+\n\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +0 +Data Sync: Finished data sync with traffic nodes\.$/m, 'text table');
});

void t.test('method sets the method', async (t) => {
  const { code, body } = await json<ClusterView>(['cluster', 'method', 'timezone']);
  t.equal(code, 0, 'exit 0');
  t.equal(body.method, 'timezone', 'method stored');
  const bad = await cli(['cluster', 'method', 'closest']);
  t.equal(bad.code, 1, 'unknown method exits 1');
  t.match(bad.stderr, /method: "closest" is not a method for choosing traffic nodes/, 'reason');
});

void t.test('security set-key and show', async (t) => {
  const keyFile = join(parent, 'psk.txt');
  const key = 'cli-test-shared-key-0123456789';
  await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
  const set = await cli(['security', 'set-key', '--node', 'us-traffic1', '--key-file', keyFile]);
  t.equal(set.code, 0, 'exit 0');
  t.notOk(set.stdout.includes(key), 'key not printed');
  const stdin = await cli(['security', 'set-key', '--node', 'eu-traffic1', '--node', 'master1'], `${key}\n`);
  t.equal(stdin.code, 0, 'key read from stdin');
  const { body } = await json<{ name: string; source: string; preSharedKeySet: boolean }[]>(['security', 'show']);
  t.same(body.map((entry) => `${entry.name} ${entry.source}`), ['master1 admin', 'us-traffic1 admin', 'eu-traffic1 admin'], 'every appliance changed');
  t.notOk(JSON.stringify(body).includes(key), 'key not shown');
});

void t.test('disband lists the node it could not tell', async (t) => {
  const pid = (await readClusterInfo(runDir)).nodes.find((node) => node.name === 'eu-traffic1')?.pid ?? 0;
  process.kill(pid, 'SIGKILL');
  await waitForPidExit(pid, 20_000);
  const { code, body } = await json<DisbandReport>(['cluster', 'disband']);
  t.equal(code, 1, 'exit 1 because a node was not told');
  t.same(body.notified, ['us-traffic1'], 'reachable node notified');
  t.same(body.unreachable.map((node) => node.name), ['eu-traffic1'], 'unreachable node listed');
  const text = await cli(['cluster', 'show']);
  t.match(text.stdout, /^not in a cluster/, 'master left the cluster');
});

void t.test('status warns about an exited node', async (t) => {
  const pid = (await readClusterInfo(runDir)).nodes.find((node) => node.name === 'eu-traffic1')?.pid ?? 0;
  const text = await cli(['status']);
  t.equal(text.code, 0, 'exit 0 while the supervisor runs');
  t.match(text.stdout, /^cluster cli-test is running/m, 'headline');
  t.match(text.stdout, new RegExp(`^warning: 1 of \\d+ nodes exited: eu-traffic1 \\(pid ${pid}\\); start one again with \`atlas-sim chaos restart NAME\``, 'm'), 'warning names the exited node');
  const { code, body } = await json<ClusterStatus>(['status']);
  t.equal(code, 0, 'JSON: exit 0');
  t.equal(body.nodes.find((node) => node.name === 'eu-traffic1')?.state, 'exited', 'JSON: node state');
  t.match(body.warnings[0], /nodes exited: eu-traffic1/, 'JSON: warning first');
});

void t.test('node leave on a node without cluster', async (t) => {
  const run = await cli(['node', 'leave', '--node', 'us-traffic1']);
  t.equal(run.code, 1, 'exit 1');
  t.match(run.stderr, /us-traffic1 holds no cluster configuration/, 'reason');
  const usage = await cli(['node', 'leave']);
  t.equal(usage.code, 2, 'missing --node exits 2');
});
