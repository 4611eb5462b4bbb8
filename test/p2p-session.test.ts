import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import t, { type Test } from 'tap';

import { AdminApiError } from '../src/admin/admin-client.js';
import { ADMIN_PATHS, type ClusterView } from '../src/admin/api-types.js';
import { startCluster } from '../src/index.js';
import { STUN_PROCESS_NAME } from '../src/launcher/cluster-plan.js';
import { cliEntry } from '../src/launcher/project-root.js';
import { runDemo, type DemoOptions, type DemoReport } from '../src/launcher/demo-scenario.js';
import type { MasterStatusReport } from '../src/master/status-report.js';
import { queryStunBinding, StunTimeoutError } from '../src/stun-protocol/client.js';

const TOPOLOGY = {
  clusterName: 'p2p-test',
  masters: [{ name: 'master1' }],
  trafficNodes: [
    { name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' },
    { name: 'eu-traffic1', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' },
  ],
  clients: [
    { name: 'rep-us', role: 'representative', address: '127.20.0.7', timezone: 'America/New_York' },
    { name: 'customer-eu', role: 'customer', address: '127.30.0.7', timezone: 'Europe/Berlin' },
  ],
  frames: { count: 60, sizeBytes: 4096, intervalMs: 2 },
};
/**
 * Direct attempts that must succeed get this long, so a loaded machine does not turn them into a fallback.
 * The fallback tests keep the demo's 3000 ms: they take the traffic-node path either way.
 */
const DIRECT_TIMEOUT_MS = 10_000;
/** Source address of the external STUN client. */
const STUNCLIENT_ADDRESS = '127.31.7.3';
/** turnutils_stunclient waits forever without a response, so it is killed after this long. */
const STUNCLIENT_TIMEOUT_MS = 20_000;
const STUNCLIENT = (process.env.PATH ?? '').split(delimiter).map((folder) => join(folder, 'turnutils_stunclient')).find((candidate) => existsSync(candidate));

async function demo(t: Test, options: DemoOptions): Promise<DemoReport> {
  const parent = await mkdtemp(join(tmpdir(), 'atlas-p2p-test-'));
  t.teardown(() => rm(parent, { recursive: true, force: true }));
  return runDemo({ runDir: join(parent, 'run'), seed: 'p2p-test', ...options });
}

function failedChecks(report: DemoReport): string {
  return JSON.stringify({ error: report.error, failed: report.verdict.checks.filter((check) => !check.ok) });
}

function clientPath(report: DemoReport, client: string): { path: string; reason: string } | undefined {
  return report.path?.reported.find((entry) => entry.source === 'client' && entry.client === client);
}

/** Asserts the fallback: both clients and the master report relay, and traffic nodes carry both streams. */
function assertRelay(t: Test, report: DemoReport, reason: RegExp): void {
  t.equal(report.verdict.ok, true, `verdict passes: ${failedChecks(report)}`);
  t.equal(report.path?.expected.path, 'relay', 'rules predict relay');
  for (const client of ['customer-eu', 'rep-us']) {
    t.equal(clientPath(report, client)?.path, 'relay', `${client} reports relay`);
    t.match(clientPath(report, client)?.reason ?? '', reason, `${client} reason`);
  }
  const masterPaths = report.path?.reported.filter((entry) => entry.source === 'master') ?? [];
  t.equal(masterPaths.length, 4, 'master reports four connections');
  t.ok(masterPaths.every((entry) => entry.path === 'relay'), 'master reports relay for each');
  for (const stream of report.streams) {
    t.not(stream.node, 'direct', `${stream.stream} through a traffic node`);
    t.equal(stream.lost, 0, `${stream.stream} lost no frame`);
  }
  t.equal(report.nodes.reduce((sum, node) => sum + node.clients.length, 0), 4, 'traffic nodes carry four session connections');
}

void t.test('direct path through master STUN role', async (t) => {
  const report = await demo(t, { topology: TOPOLOGY, p2p: { stunRole: 'master', timeoutMs: DIRECT_TIMEOUT_MS } });
  t.equal(report.verdict.ok, true, `verdict passes: ${failedChecks(report)}`);
  t.equal(report.path?.expected.path, 'direct', 'rules predict direct');
  t.equal(clientPath(report, 'customer-eu')?.path, 'direct', 'customer reports direct');
  t.match(clientPath(report, 'customer-eu')?.reason ?? '', /this customer dialed the peer's direct listener 127\.20\.0\.7:\d+/, 'customer dialed');
  t.equal(clientPath(report, 'rep-us')?.path, 'direct', 'representative reports direct');
  t.match(clientPath(report, 'rep-us')?.reason ?? '', /the peer dialed this representative's direct listener/, 'representative accepted');
  t.equal(report.streams.length, 2, 'both screen streams');
  for (const stream of report.streams) {
    t.equal(stream.node, 'direct', `${stream.stream} received on the direct path`);
    t.equal(stream.publisherNode, 'direct', `${stream.stream} published on the direct path`);
    t.equal(stream.verified, report.frames.count, `${stream.stream} every frame verified`);
  }
  for (const node of report.nodes) t.same(node.clients, [], `${node.name} carries no session client`);
  const customerDirect = report.connections.filter((connection) => connection.client === 'customer-eu' && connection.kind === 'direct');
  t.equal(customerDirect.length, 2, 'customer lists a direct connection per stream');
});

void t.test('STUN down falls back', async (t) => {
  const report = await demo(t, { topology: TOPOLOGY, p2p: { stunDown: true } });
  assertRelay(t, report, /STUN server stun\.support\.example\.test:\d+ .* did not respond/);
});

void t.test('blocked inbound falls back', async (t) => {
  const report = await demo(t, { topology: TOPOLOGY, p2p: { blockInbound: true } });
  assertRelay(t, report, /direct attempt failed/);
  t.match(clientPath(report, 'customer-eu')?.reason ?? '', /direct connection to 127\.20\.0\.7:\d+ failed: no answer within \d+ ms/, 'customer dial timed out');
  t.match(clientPath(report, 'rep-us')?.reason ?? '', /the customer's dial failed .*; this representative's dial back failed: direct connection to 127\.30\.0\.7:\d+ failed: no answer/, 'representative dial back timed out');
});

void t.test('one blocked side dials back', async (t) => {
  const topology = { ...TOPOLOGY, clients: TOPOLOGY.clients.map((client) => (client.role === 'representative' ? { ...client, blockInbound: true } : client)) };
  const report = await demo(t, { topology, p2p: { timeoutMs: DIRECT_TIMEOUT_MS } });
  t.equal(report.verdict.ok, true, `verdict passes: ${failedChecks(report)}`);
  t.equal(report.path?.expected.path, 'direct', 'rules predict direct');
  t.equal(clientPath(report, 'rep-us')?.path, 'direct', 'representative reports direct');
  t.match(clientPath(report, 'rep-us')?.reason ?? '', /this representative dialed the peer's direct listener 127\.30\.0\.7:\d+, .*after the peer's dial failed/, 'representative dialed back');
  t.match(clientPath(report, 'customer-eu')?.reason ?? '', /the peer dialed this customer's direct listener, .*after this customer's own dial failed/, 'customer accepted the dial back');
  for (const node of report.nodes) t.same(node.clients, [], `${node.name} carries no session client`);
});

void t.test('symmetric NATs fall back', async (t) => {
  const topology = { ...TOPOLOGY, clients: TOPOLOGY.clients.map((client) => ({ ...client, natType: 'symmetric' })) };
  const report = await demo(t, { topology, p2p: {} });
  assertRelay(t, report, /no connectivity check passed either NAT/);
});

void t.test('force relay skips the attempt', async (t) => {
  const report = await demo(t, { topology: { ...TOPOLOGY, peerToPeer: { forceRelay: true } }, p2p: {} });
  assertRelay(t, report, /force relay is set on the cluster/);
});

/** Runs coturn's turnutils_stunclient from STUNCLIENT_ADDRESS and returns the reflexive address it prints. */
function runStunClient(address: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(STUNCLIENT!, ['-p', String(port), '-L', STUNCLIENT_ADDRESS, address], { timeout: STUNCLIENT_TIMEOUT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error !== null) {
        reject(new Error(`turnutils_stunclient failed: ${error.message}; stdout: ${stdout}; stderr: ${stderr}`));
        return;
      }
      const match = /UDP reflexive addr: ([\d.]+):\d+/.exec(stdout);
      if (match === null) reject(new Error(`turnutils_stunclient printed no reflexive address: ${stdout}`));
      else resolve(match[1]!);
    });
  });
}

/** Runs the built CLI and returns its exit code and output. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliEntry(), ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

void t.test('demo flags need --p2p', async (t) => {
  const run = await runCli(['demo', '--stun-down']);
  t.equal(run.code, 2, 'exit code 2');
  t.match(run.stderr, /--stun-down changes the peer-to-peer path; add --p2p/, 'names the missing flag');
});

void t.test('master STUN role follows the setting', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'atlas-p2p-stun-test-'));
  t.teardown(() => rm(parent, { recursive: true, force: true }));
  const cluster = await startCluster({
    topology: { ...TOPOLOGY, clients: [], publicStun: true, peerToPeer: { enabled: true, stunRole: 'master' } },
    runDir: join(parent, 'run'),
    seed: 'p2p-stun',
  });
  t.teardown(() => cluster.close());

  const status = (await cluster.request('master1', 'status')) as MasterStatusReport;
  t.ok(status.stun !== undefined, 'master reports its STUN role');
  const masterPort = Number(status.stun?.endpoint.split(':')[1]);
  const masterAddress = status.stun?.address ?? '';
  t.match(status.stun?.endpoint ?? '', /^master1\.support\.example\.test:\d+$/, 'endpoint is the master hostname');
  const publicStun = cluster.info.nodes.find((node) => node.name === STUN_PROCESS_NAME);
  t.ok(publicStun?.ports.stun, 'public STUN server runs');

  const reflexive = await queryStunBinding({ localAddress: STUNCLIENT_ADDRESS, server: { address: masterAddress, port: masterPort }, timeoutMs: 10_000 });
  t.equal(reflexive.address, STUNCLIENT_ADDRESS, 'master STUN role reports the source address');
  t.equal(reflexive.port, reflexive.local.port, 'and the source port');

  await t.test('turnutils_stunclient against both servers', { skip: STUNCLIENT === undefined ? 'turnutils_stunclient is not installed (Debian package coturn)' : false }, async (t) => {
    t.equal(await runStunClient(masterAddress, masterPort), STUNCLIENT_ADDRESS, 'master STUN role');
    t.equal(await runStunClient(publicStun!.address, publicStun!.ports.stun!), STUNCLIENT_ADDRESS, 'public STUN server');
  });

  const rejected = await cluster.admin.put(ADMIN_PATHS.peerToPeer, { stunRole: 'nearest', timeoutMs: 5 }).catch((error: unknown) => error);
  t.ok(rejected instanceof AdminApiError && rejected.status === 400, 'invalid settings get 400');
  const problems = JSON.stringify((rejected as AdminApiError).problem);
  t.match(problems, /stunRole/, 'names stunRole');
  t.match(problems, /timeoutMs/, 'names timeoutMs');

  const ipServer = await cluster.admin.put(ADMIN_PATHS.peerToPeer, { publicStunServer: '127.0.0.1:3478' }).catch((error: unknown) => error);
  t.ok(ipServer instanceof AdminApiError && ipServer.status === 400, 'an IP address as STUN server gets 400');
  t.match(JSON.stringify((ipServer as AdminApiError).problem), /publicStunServer.*is an IP address/, 'and names publicStunServer');

  const cli = await runCli(['cluster', 'peer-to-peer', '--enabled', 'maybe', '--run-dir', cluster.runDir]);
  t.equal(cli.code, 1, 'cluster peer-to-peer with an invalid value exits 1');
  t.match(cli.stderr, /enabled/, 'and names the field');

  const view = await cluster.admin.put<ClusterView>(ADMIN_PATHS.peerToPeer, { stunRole: 'public' });
  t.equal(view.peerToPeer.stunRole, 'public', 'cluster page shows the new role');
  t.equal(view.syncRequired, true, 'the change needs a sync');
  await cluster.admin.post(ADMIN_PATHS.sync);
  await cluster.waitFor(async () => ((await cluster.request('master1', 'status')) as MasterStatusReport).stun === undefined, { description: 'the master to stop its STUN role' });
  const silent = await queryStunBinding({ localAddress: STUNCLIENT_ADDRESS, server: { address: masterAddress, port: masterPort }, timeoutMs: 1500, initialRtoMs: 100 }).catch((error: unknown) => error);
  t.ok(silent instanceof StunTimeoutError, 'master no longer answers STUN');
});
