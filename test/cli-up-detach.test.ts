// End to end through the CLI: `up --detach` starts a cluster in the
// background, `status` and `clients` read it, clients started by hand make a
// session, the command API returns XML, and `down` leaves nothing running.
import { DOMParser, type Document } from '@xmldom/xmldom';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { readClusterInfo, type ClusterInfo } from '../src/config/cluster-info.js';
import { isProcessRunning } from '../src/launcher/address-block.js';
import { CommandApiClient, requestMaster, masterEndpoint } from '../src/launcher/command-api-client.js';
import type { ClusterStatus } from '../src/launcher/cluster-status.js';
import { readSupervisorRecord } from '../src/launcher/supervisor.js';
import { waitForPidExit } from '../src/launcher/process-stop.js';
import type { ClientsReport } from '../src/cli/clients-command.js';
import { CLI } from './fixtures/master-harness.js';

const TOPOLOGY = {
  clusterName: 'detached',
  masters: [{ name: 'master1' }],
  trafficNodes: [
    { name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' },
    { name: 'eu-traffic1', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' },
  ],
  clients: [],
};
const WAIT_MS = 60_000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], timeoutMs = 240_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

function parseXml(text: string): Document {
  return new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new Error(`XML ${level}: ${message}`);
    },
  }).parseFromString(text, 'text/xml');
}

/** Returns every PID of the run: supervisor, nodes, clients. */
async function runPids(runDir: string, info: ClusterInfo): Promise<number[]> {
  const record = await readSupervisorRecord(runDir);
  return [...(record === undefined ? [] : [record.pid]), ...info.nodes.map((node) => node.pid), ...info.clients.map((client) => client.pid)];
}

/** Makes a run folder and a topology file; teardown runs `down` and kills whatever is left. */
async function prepareRun(t: Test): Promise<{ runDir: string; topologyFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-up-'));
  const runDir = join(dir, 'run');
  const topologyFile = join(dir, 'topology.json');
  await writeFile(topologyFile, JSON.stringify(TOPOLOGY));
  t.teardown(async () => {
    if (existsSync(join(runDir, 'cluster.json'))) {
      await runCli(['down', '--run-dir', runDir]);
      for (const pid of await runPids(runDir, await readClusterInfo(runDir))) if (isProcessRunning(pid)) process.kill(pid, 'SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  });
  return { runDir, topologyFile };
}

function startHandClient(t: Test, runDir: string, role: 'rep' | 'customer', address: string, name: string, timezone: string): ChildProcess {
  const roleArgs = role === 'rep' ? ['rep', '--auto-accept'] : ['customer', '--issue', 'cannot print'];
  const child = spawn(process.execPath, [CLI, 'client', ...roleArgs, '--run-dir', runDir, '--address', address, '--name', name], { stdio: 'ignore', env: { ...process.env, TZ: timezone } });
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  });
  return child;
}

async function waitForSession(runDir: string): Promise<ClientsReport> {
  const deadline = Date.now() + WAIT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const result = await runCli(['clients', '--run-dir', runDir, '--json']);
    last = result.stdout + result.stderr;
    if (result.code === 0) {
      const report = JSON.parse(result.stdout) as ClientsReport;
      const inSession = report.clients.filter((client) => client.connections.some((connection) => connection.channel === 'session' && connection.connected));
      if (inSession.length === 2) return report;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`no session with both clients connected within ${WAIT_MS} ms; last output: ${last}`);
}

void t.test('up --detach, status, clients, down', async (t) => {
  const { runDir, topologyFile } = await prepareRun(t);

  const up = await runCli(['up', '--detach', '--topology', topologyFile, '--run-dir', runDir]);
  t.equal(up.code, 0, `up exits 0: ${up.stderr}`);
  t.match(up.stdout, `run folder: ${runDir}`, 'prints the run folder');
  const info = await readClusterInfo(runDir);
  t.match(up.stdout, `(seed ${info.seed})`, 'prints the seed');
  const record = await readSupervisorRecord(runDir);
  t.equal(record?.detached, true, 'supervisor runs in the background');
  t.ok(record !== undefined && isProcessRunning(record.pid), 'supervisor process runs');

  const status = await runCli(['status', '--run-dir', runDir, '--json']);
  t.equal(status.code, 0, 'status exits 0');
  const parsed = JSON.parse(status.stdout) as ClusterStatus;
  t.equal(parsed.running, true);
  t.equal(parsed.seed, info.seed, 'status reports the seed');
  t.same(parsed.nodes.map((node) => `${node.name} ${node.state}`), ['dns running', 'master1 serving', 'us-traffic1 connected', 'eu-traffic1 connected']);
  t.ok((parsed.syncedVersion ?? 0) >= 1, 'the launcher synced a configuration');
  t.same(parsed.nodes.filter((node) => node.role === 'traffic').map((node) => node.configVersion), [parsed.syncedVersion, parsed.syncedVersion], 'traffic nodes applied the synced version');
  t.equal(parsed.syncRequired, false, 'no sync warning');
  t.same(parsed.nodes.map((node) => node.pid), info.nodes.map((node) => node.pid), 'PIDs match cluster.json');
  const text = await runCli(['status', '--run-dir', runDir]);
  t.match(text.stdout, `seed: ${info.seed}`, 'text status prints the seed');
  t.match(text.stdout, new RegExp(`traffic\\s+us-traffic1\\s+us-traffic1\\.support\\.example\\.test\\s+127\\.\\d+\\.\\d+\\.10\\s+\\d+\\s+connected\\s+${parsed.syncedVersion ?? 0}`), 'text status row');

  startHandClient(t, runDir, 'rep', '127.20.0.5', 'rep-us', 'America/New_York');
  startHandClient(t, runDir, 'customer', '127.30.0.5', 'customer-eu', 'Europe/Berlin');
  const report = await waitForSession(runDir);
  const master = report.appliances.find((appliance) => appliance.name === 'master1');
  t.same(master?.counts, { representative: 1, support_customer: 1, presentation_attendee: 0, push_agent: 0 }, 'both clients are with the master');
  const customer = report.clients.find((client) => client.type === 'support_customer');
  const home = customer?.connections.find((connection) => connection.kind === 'home');
  t.equal(home?.applianceName, 'eu-traffic1', 'customer home node by prefix');
  t.match(home?.reason, /prefix 127\.30\.0\.0\/16/, 'reason names the prefix');

  const usNode = await runCli(['clients', '--run-dir', runDir, '--node', 'us-traffic1', '--json']);
  const usReport = JSON.parse(usNode.stdout) as ClientsReport;
  t.same(usReport.clients.map((client) => client.type), ['representative'], 'US node lists only the representative');
  t.same(usReport.clients[0]?.connections.map((connection) => connection.applianceName), ['us-traffic1'], 'only connections through the node');
  const euNode = await runCli(['clients', '--run-dir', runDir, '--node', 'eu-traffic1']);
  t.match(euNode.stdout, /clients connected to eu-traffic1: 2/, 'EU node: customer home and representative cross connection');
  const unknown = await runCli(['clients', '--run-dir', runDir, '--node', 'nowhere']);
  t.equal(unknown.code, 2, 'unknown node is a usage error');
  t.match(unknown.stderr, /--node nowhere is not an appliance of this cluster/);

  const endpoint = await masterEndpoint(info);
  const api = await CommandApiClient.open(info, join(runDir, 'api-account.json'));
  const health = parseXml((await api.command('check_health')).body);
  const masterGuid = health.getElementsByTagName('appliance')[0]?.getAttribute('id') ?? '';
  t.match(masterGuid, /^[0-9a-f]{32}$/, 'check_health gives the master GUID');
  const list = parseXml((await api.command('get_connected_client_list')).body);
  const summaries = Array.from(list.getElementsByTagName('appliance_summary'));
  t.same(summaries.map((summary) => summary.getAttribute('name')), ['master1', 'us-traffic1', 'eu-traffic1'], 'one summary per connected appliance');
  t.equal(summaries[0]?.getAttribute('id'), masterGuid, 'master summary carries its GUID');
  t.equal(list.getElementsByTagName('connected_client').length, 2, 'both clients listed');

  const noToken = await requestMaster(endpoint, { method: 'GET', path: '/api/command?action=get_connected_clients' });
  t.equal(noToken.status, 401, 'no token: 401');
  const badSecret = await new CommandApiClient(endpoint, { clientId: 'not-an-account-id', clientSecret: 'guess' }).fetchToken().catch((error: unknown) => error);
  t.match((badSecret as Error).message, /HTTP 401/, 'wrong credentials: 401');
  const after = await runCli(['clients', '--run-dir', runDir, '--json']);
  t.same((JSON.parse(after.stdout) as ClientsReport).appliances, report.appliances, 'rejected requests changed nothing');

  const accountMode = (await import('node:fs')).statSync(join(runDir, 'api-account.json')).mode & 0o777;
  t.equal(accountMode, 0o600, 'api-account.json is readable by the owner only');
  const masterLog = await readFile(join(runDir, 'logs', 'master1.log'), 'utf8');
  const account = JSON.parse(await readFile(join(runDir, 'api-account.json'), 'utf8')) as { clientSecret: string };
  t.notMatch(masterLog, account.clientSecret, 'master log never contains the client secret');

  const lockFile = record?.addressBlockLockFile ?? '';
  t.ok(existsSync(lockFile), 'address block is held while running');
  const down = await runCli(['down', '--run-dir', runDir]);
  t.equal(down.code, 0, `down exits 0: ${down.stderr}`);
  t.match(down.stdout, /stopped cluster detached/);
  const alive = (await runPids(runDir, info)).filter((pid) => isProcessRunning(pid));
  t.same(alive, [], 'no process of the run is left');
  t.notOk(existsSync(lockFile), 'address block released');
  t.equal((await readSupervisorRecord(runDir))?.state, 'stopped', 'supervisor.json says stopped');
  const stopped = await runCli(['status', '--run-dir', runDir]);
  t.equal(stopped.code, 3, 'status of a stopped cluster exits 3');
  t.match(stopped.stdout, /cluster detached is not running/);
});

void t.test('down after the supervisor was killed', async (t) => {
  const { runDir, topologyFile } = await prepareRun(t);
  const up = await runCli(['up', '--detach', '--topology', topologyFile, '--run-dir', runDir]);
  t.equal(up.code, 0, `up exits 0: ${up.stderr}`);
  const info = await readClusterInfo(runDir);
  const record = await readSupervisorRecord(runDir);
  if (record === undefined) throw new Error('no supervisor.json');

  process.kill(record.pid, 'SIGKILL');
  await waitForPidExit(record.pid, WAIT_MS);
  const status = await runCli(['status', '--run-dir', runDir]);
  t.equal(status.code, 3, 'status reports the cluster not running');
  t.match(status.stdout, new RegExp(`the supervisor \\(pid ${record.pid}\\) is not running`));

  const down = await runCli(['down', '--run-dir', runDir]);
  t.equal(down.code, 0, `down exits 0: ${down.stderr}`);
  const alive = (await runPids(runDir, info)).filter((pid) => isProcessRunning(pid));
  t.same(alive, [], 'no node process is left');
  t.notOk(existsSync(record.addressBlockLockFile ?? ''), 'stale address block lock removed');
});
