import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { startCluster, type Cluster, type UnexpectedExit } from '../src/index.js';
import { cliEntry } from '../src/launcher/project-root.js';

const TOPOLOGY = {
  clusterName: 'process-faults',
  masters: [{ name: 'master1' }],
  trafficNodes: [
    { name: 'traffic1', timezone: 'Europe/Berlin' },
    { name: 'traffic2', timezone: 'Europe/Berlin' },
  ],
  clients: [{ name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'Europe/Berlin' }],
};

interface MasterStatus {
  nodes: { name: string; online: boolean }[];
}

let cluster: Cluster;
const exits: UnexpectedExit[] = [];

t.before(async () => {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-process-faults-'));
  cluster = await startCluster({ topology: TOPOLOGY, runDir, seed: 'process-faults', removeRunDir: true });
  cluster.on('exit', (exit) => exits.push(exit));
});

t.teardown(async () => {
  const runDir = cluster?.runDir;
  await cluster?.close();
  if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
});

async function online(node: string): Promise<boolean | undefined> {
  const status = (await cluster.request('master1', 'status')) as MasterStatus;
  return status.nodes.find((entry) => entry.name === node)?.online;
}

function chaos(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliEntry(), 'chaos', ...args, '--run-dir', cluster.runDir], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

void t.test('pause goes offline by heartbeat', async (t) => {
  const since = Date.now();
  await cluster.pause('traffic1');
  const offline = await cluster.waitForEvent({ process: 'master1', event: 'node-offline', where: (data) => data.node === 'traffic1' }, { sinceMs: since, timeoutMs: 15_000 });
  t.match(String(offline.data?.reason), /heartbeat timeout/, 'detected by the heartbeat timeout');
  t.equal(cluster.process('traffic1').running, true, 'paused process still exists');
  await cluster.resume('traffic1');
  await cluster.waitFor(async () => (await online('traffic1')) === true, { timeoutMs: 30_000, description: 'traffic1 online after resume' });
  t.pass('back online after resume');
});

void t.test('kill closes sockets at once', async (t) => {
  const since = Date.now();
  const pid = cluster.process('traffic2').pid;
  await cluster.kill('traffic2');
  t.equal(cluster.process('traffic2').exitStatus?.signal, 'SIGKILL', 'process died of SIGKILL');
  const offline = await cluster.waitForEvent({ process: 'master1', event: 'node-offline', where: (data) => data.node === 'traffic2' }, { sinceMs: since, timeoutMs: 15_000 });
  t.notMatch(String(offline.data?.reason), /heartbeat timeout/, `detected by the closed connection: ${String(offline.data?.reason)}`);
  const exit = exits.find((entry) => entry.name === 'traffic2');
  t.equal(exit?.fault, 'kill', 'exit event names the fault');
  const killed = cluster.events.find((event) => event.name === 'launcher' && event.event === 'kill');
  t.equal(killed?.data?.pid, pid, 'timeline records the kill');
});

void t.test('restart keeps identity and data', async (t) => {
  const before = (await cluster.request('traffic1', 'status')) as { guid: string; appliedConfigVersion: number };
  const oldPid = cluster.process('traffic1').pid;
  const handle = await cluster.restart('traffic1');
  t.not(handle.pid, oldPid, 'new process');
  const after = (await cluster.request('traffic1', 'status')) as { guid: string; appliedConfigVersion: number };
  t.equal(after.guid, before.guid, 'same appliance GUID');
  t.ok(before.appliedConfigVersion > 0, 'a configuration was applied before the restart');
  t.equal(after.appliedConfigVersion, before.appliedConfigVersion, 'configuration kept from the data folder');
  await cluster.waitFor(async () => (await online('traffic1')) === true, { timeoutMs: 30_000, description: 'traffic1 online after restart' });
  t.equal(cluster.info.nodes.find((node) => node.name === 'traffic1')?.pid, handle.pid, 'cluster.json has the new PID');
});

void t.test('restart after kill', async (t) => {
  t.equal(cluster.process('traffic2').running, false, 'traffic2 still down from the kill');
  await cluster.restart('traffic2');
  await cluster.waitFor(async () => (await online('traffic2')) === true, { timeoutMs: 30_000, description: 'traffic2 online' });
  t.pass('killed node rejoins after restart');
});

void t.test('stop shuts down cleanly', async (t) => {
  await cluster.stop('traffic2');
  t.equal(cluster.process('traffic2').exitStatus?.code, 0, 'exit code 0 after SIGTERM');
  await t.rejects(cluster.kill('traffic2'), { message: /traffic2 is not running/ }, 'fault on a stopped process rejected');
  await cluster.restart('traffic2');
  await cluster.waitFor(async () => (await online('traffic2')) === true, { timeoutMs: 30_000, description: 'traffic2 online' });
  t.pass('stopped node rejoins after restart');
});

void t.test('client restart reconnects', async (t) => {
  const since = Date.now();
  await cluster.restart('rep');
  const connected = await cluster.waitForEvent({ process: 'rep', event: 'connected' }, { sinceMs: since, timeoutMs: 20_000 });
  t.equal(connected.data?.masterName, 'master1', 'restarted client back on the master');
});

void t.test('chaos command drives the cluster', async (t) => {
  const link = await chaos('link', 'traffic1', '*', 'delay', '--delay', '5', '--id', 'cli-delay');
  t.equal(link.code, 0, `link exits 0: ${link.stderr}`);
  t.match(link.stdout, /added cli-delay: delay 5 ms traffic1 <-> \*/, 'link output');
  const listed = await chaos('faults', '--json');
  t.same((JSON.parse(listed.stdout) as { id: string }[]).map((fault) => fault.id), ['cli-delay'], 'faults lists it');
  const healed = await chaos('heal', 'cli-delay');
  t.match(healed.stdout, /healed 1 fault/, 'heal output');
  const paused = await chaos('pause', 'traffic2');
  t.equal(paused.code, 0, 'pause exits 0');
  const resumed = await chaos('resume', 'traffic2');
  t.equal(resumed.code, 0, 'resume exits 0');
  const unknown = await chaos('kill', 'nobody');
  t.equal(unknown.code, 1, 'unknown process exits 1');
  t.match(unknown.stderr, /no process named "nobody" in this cluster; known: dns, traffic1, traffic2, master1, rep/, 'unknown process named');
  const usage = await chaos('frobnicate');
  t.equal(usage.code, 2, 'unknown command exits 2');
});
