import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { readClusterInfo, startCluster, type Cluster } from '../src/index.js';
import { isProcessRunning } from '../src/launcher/address-block.js';

/** Small cluster (DNS, master, two traffic nodes, one client), so two of them start quickly side by side. */
const SMALL_TOPOLOGY = {
  clusterName: 'small',
  masters: [{ name: 'master1' }],
  trafficNodes: [
    { name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' },
    { name: 'eu-traffic1', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' },
  ],
  clients: [{ name: 'rep-us', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York' }],
};

async function tempRunDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-cluster-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

void t.test('two clusters at once', async (t) => {
  const [dirA, dirB] = [await tempRunDir(t), await tempRunDir(t)];
  const clusters: Cluster[] = [];
  t.teardown(async () => {
    await Promise.all(clusters.map((cluster) => cluster.close()));
  });

  const results = await Promise.allSettled([
    startCluster({ topology: { ...SMALL_TOPOLOGY, publicStun: true }, runDir: dirA, seed: 'a' }),
    startCluster({ topology: SMALL_TOPOLOGY, runDir: dirB, seed: 'b', startClients: false, standardPorts: false }),
  ]);
  for (const result of results) if (result.status === 'fulfilled') clusters.push(result.value);
  t.equal(clusters.length, 2, `both started: ${results.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ok')).join('; ')}`);
  const [a, b] = clusters;
  if (a === undefined || b === undefined) return;

  for (const cluster of clusters) {
    const status = (await cluster.request('master1', 'status')) as { nodes: { name: string; online: boolean }[] };
    t.same(status.nodes.map((node) => `${node.name} ${node.online ? 'online' : 'offline'}`).sort(), ['eu-traffic1 online', 'us-traffic1 online'], `cluster ${cluster.seed} formed`);
  }

  const infoA = await readClusterInfo(a.runDir);
  const infoB = await readClusterInfo(b.runDir);
  const addressesA = infoA.nodes.map((node) => node.address);
  const addressesB = infoB.nodes.map((node) => node.address);
  t.equal(addressesA.filter((address) => addressesB.includes(address)).length, 0, 'no address shared');
  t.equal(new Set(infoA.nodes.map((node) => node.address.split('.').slice(0, 3).join('.'))).size, 1, 'one /24 per cluster');
  t.same(infoA.nodes.map((node) => `${node.name} ${node.role}`), ['dns dns', 'stun stun', 'master1 master', 'us-traffic1 traffic', 'eu-traffic1 traffic'], 'cluster.json lists the nodes in order');
  t.same(infoB.nodes.map((node) => node.name), ['dns', 'master1', 'us-traffic1', 'eu-traffic1'], 'no STUN server unless publicStun');
  const stun = infoA.nodes.find((node) => node.role === 'stun');
  t.equal(stun?.address.split('.')[3], '3', 'STUN server at .3');
  t.ok((stun?.ports.stun ?? 0) > 0, 'STUN port recorded');
  t.equal(infoA.clients.length, 1, 'cluster.json lists the started client');
  t.equal(infoB.clients.length, 0, 'no clients when startClients is false');
  t.equal(infoA.site.host, 'support.example.test', 'site hostname');
  t.not(infoB.site.port, 443, 'fallback public port when standard ports are not requested');
  t.not(infoB.dns.port, 53, 'fallback DNS port when standard ports are not requested');
  t.match(b.ports?.fallbackReason ?? '', /were not requested/, 'fallback reason recorded');
  t.equal(infoA.nodes.find((node) => node.name === 'master1')?.hostname, 'master1.support.example.test', 'master hostname');

  const repStatus = (await a.request('rep-us', 'status')) as { connected: boolean; masterName: string };
  t.equal(repStatus.connected, true, 'client connected to the master');
  t.equal(repStatus.masterName, 'master1', 'client reached master1');

  for (const key of [join(a.runDir, 'psk.key'), join(a.runDir, 'session.key')]) {
    t.equal((await stat(key)).mode & 0o777, 0o600, `${key} is mode 0600`);
  }
  const masterConfig = await readFile(join(a.runDir, 'config', 'master1.json'), 'utf8');
  const psk = (await readFile(join(a.runDir, 'psk.key'), 'utf8')).trim();
  t.notOk(masterConfig.includes(psk), 'node config does not contain the key');

  const pids = [...infoA.nodes, ...infoA.clients, ...infoB.nodes].map((process) => process.pid);
  await a.close();
  await b.close({ removeRunDir: true });
  for (const pid of pids) t.notOk(isProcessRunning(pid), `pid ${pid} is gone`);
  t.same(readdirSync(b.runDir), [], 'removeRunDir empties the given run folder');
  t.ok(existsSync(join(a.runDir, 'logs', 'master1.log')), 'logs stay without removeRunDir');
});

void t.test('failed start leaves nothing', async (t) => {
  const runDir = await tempRunDir(t);
  let message = '';
  try {
    const cluster = await startCluster({ topology: SMALL_TOPOLOGY, runDir, readyTimeoutMs: 1 });
    await cluster.close();
  } catch (error) {
    message = (error as Error).message;
  }
  t.match(message, /^dns \(dns, pid \d+\) was not ready within 1 ms; last lines of /, 'error names the process and its log');

  const info = existsSync(join(runDir, 'cluster.json'));
  t.notOk(info, 'cluster.json not written');
  const launcherLog = await readFile(join(runDir, 'logs', 'launcher.log'), 'utf8');
  const pid = Number(/"process":"dns","role":"dns","childPid":(\d+)/.exec(launcherLog)?.[1]);
  t.ok(pid > 0, 'launcher log names the DNS pid');
  t.notOk(isProcessRunning(pid), 'DNS process is gone');
  const network = /"network":"([\d.]+)\.0\/24"/.exec(launcherLog)?.[1] ?? '';
  t.notOk(existsSync(join(tmpdir(), 'atlas-sim-blocks', `${network}.0.lock`)), 'address block released');
});

void t.test('invalid topology rejected before start', async (t) => {
  const runDir = await tempRunDir(t);
  await t.rejects(startCluster({ topology: { ...SMALL_TOPOLOGY, method: 'nearest' }, runDir }), /^invalid topology:\n {2}method: "nearest" is not a traffic node selection method/);
  t.notOk(existsSync(join(runDir, 'logs')), 'nothing written to the run folder');
});

void t.test('frame count option out of range', async (t) => {
  const runDir = await tempRunDir(t);
  await t.rejects(startCluster({ topology: SMALL_TOPOLOGY, runDir, frames: { count: 2_000_000 } }), /^invalid topology:\n {2}frames\.count: 2000000 is not an integer from 1 to 1000000/);
  t.notOk(existsSync(join(runDir, 'logs')), 'nothing written to the run folder');
});
