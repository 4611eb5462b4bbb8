// End to end through the CLI: without --run-dir, status, clients, chaos and
// down all act on the newest running cluster, even when a newer run folder of
// a dead cluster (such as a failed demo that kept its folder) exists.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CLUSTER_INFO_FILE, readClusterInfo, type ClusterInfo } from '../src/config/cluster-info.js';
import { isProcessRunning } from '../src/launcher/address-block.js';
import { readSupervisorRecord } from '../src/launcher/supervisor.js';
import { CLI } from './fixtures/master-harness.js';

const TOPOLOGY = {
  clusterName: 'lookup',
  masters: [{ name: 'master1' }],
  trafficNodes: [{ name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' }],
  clients: [],
};

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with ATLAS_RUNS_DIR set, so that default run folders go to the test's own folder. */
function runCli(runsRoot: string, args: string[], timeoutMs = 240_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, env: { ...process.env, ATLAS_RUNS_DIR: runsRoot } }, (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function runPids(runDir: string, info: ClusterInfo): Promise<number[]> {
  const record = await readSupervisorRecord(runDir);
  return [...(record === undefined ? [] : [record.pid]), ...info.nodes.map((node) => node.pid), ...info.clients.map((client) => client.pid)];
}

/** Makes a runs folder and a topology file; teardown stops every cluster left in the runs folder. */
async function prepareRunsRoot(t: Test): Promise<{ runsRoot: string; topologyFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-lookup-'));
  const runsRoot = join(dir, 'runs');
  const topologyFile = join(dir, 'topology.json');
  await writeFile(topologyFile, JSON.stringify(TOPOLOGY));
  t.teardown(async () => {
    for (const name of await readdir(runsRoot).catch(() => [] as string[])) {
      const runDir = join(runsRoot, name);
      const info = await readClusterInfo(runDir).catch(() => undefined);
      if (info === undefined) continue;
      await runCli(runsRoot, ['down', '--run-dir', runDir]);
      for (const pid of await runPids(runDir, info)) if (isProcessRunning(pid)) process.kill(pid, 'SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  });
  return { runsRoot, topologyFile };
}

/** Leaves a newer run folder of a dead cluster: cluster.json names a control socket nothing listens on. */
async function writeDeadRun(runsRoot: string, liveRunDir: string): Promise<string> {
  const deadRunDir = join(runsRoot, 'zz-failed-demo');
  await mkdir(deadRunDir);
  const info = await readClusterInfo(liveRunDir);
  await writeFile(join(deadRunDir, CLUSTER_INFO_FILE), JSON.stringify({ ...info, clusterName: 'dead', runDir: deadRunDir, controlSocket: join(deadRunDir, 'control.sock') }));
  await writeFile(join(deadRunDir, 'control.sock'), '');
  const future = Date.now() / 1000 + 60;
  await utimes(join(deadRunDir, CLUSTER_INFO_FILE), future, future);
  return deadRunDir;
}

void t.test('commands find the running cluster, not a newer dead one', async (t) => {
  const { runsRoot, topologyFile } = await prepareRunsRoot(t);

  const up = await runCli(runsRoot, ['up', '--detach', '--topology', topologyFile]);
  t.equal(up.code, 0, `up exits 0: ${up.stderr}`);
  const [liveName] = await readdir(runsRoot);
  if (liveName === undefined) throw new Error(`up --detach made no run folder under ${runsRoot}`);
  const liveRunDir = join(runsRoot, liveName);
  await writeDeadRun(runsRoot, liveRunDir);

  const status = await runCli(runsRoot, ['status']);
  t.equal(status.code, 0, `status exits 0: ${status.stderr}`);
  t.match(status.stdout, /cluster lookup is running/);
  t.match(status.stdout, `run folder: ${liveRunDir}`);

  const clients = await runCli(runsRoot, ['clients', '--json']);
  t.equal(clients.code, 0, `clients exits 0: ${clients.stderr}`);
  t.match(clients.stdout, /"name": "master1"/);

  const cluster = await runCli(runsRoot, ['cluster', 'show']);
  t.equal(cluster.code, 0, `cluster show exits 0: ${cluster.stderr}`);

  const faults = await runCli(runsRoot, ['chaos', 'faults']);
  t.equal(faults.code, 0, `chaos faults exits 0: ${faults.stderr}`);
  t.match(faults.stdout, /no link faults/);

  const record = await readSupervisorRecord(liveRunDir);
  const down = await runCli(runsRoot, ['down']);
  t.equal(down.code, 0, `down exits 0: ${down.stderr}`);
  t.match(down.stdout, `stopped cluster lookup (run folder ${liveRunDir})`);
  t.ok(record !== undefined && !isProcessRunning(record.pid), 'the supervisor of the running cluster exited');

  const statusAfter = await runCli(runsRoot, ['status']);
  t.equal(statusAfter.code, 3, 'status without a running cluster exits 3');
  t.match(statusAfter.stderr, /no running cluster under /);
  const downAfter = await runCli(runsRoot, ['down']);
  t.equal(downAfter.code, 0, 'down without a running cluster exits 0');
  t.match(downAfter.stdout, /no running cluster under .*nothing to stop/);
  const chaosAfter = await runCli(runsRoot, ['chaos', 'faults']);
  t.equal(chaosAfter.code, 1, 'chaos without a running cluster exits 1');
  t.match(chaosAfter.stderr, /no running cluster under /);
});
