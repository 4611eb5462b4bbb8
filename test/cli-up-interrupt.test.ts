// Ctrl-C while `atlas-sim up` is still starting the cluster: every process
// that started is stopped and the address block's lock file is released.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isProcessRunning } from '../src/launcher/address-block.js';
import { CLI } from './fixtures/master-harness.js';

const TOPOLOGY = {
  clusterName: 'interrupted',
  masters: [{ name: 'master1' }],
  trafficNodes: [{ name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' }],
  clients: [],
};
const EXIT_WAIT_MS = 180_000;

/** Returns every PID named in the JSON log lines under `dir`. */
async function loggedPids(dir: string): Promise<Set<number>> {
  const pids = new Set<number>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.log')) continue;
    const text = await readFile(join(entry.parentPath, entry.name), 'utf8');
    for (const line of text.split('\n')) {
      const match = /"pid":(\d+)/.exec(line);
      if (match !== null) pids.add(Number(match[1]));
    }
  }
  return pids;
}

void t.test('Ctrl-C during start-up stops everything', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-up-interrupt-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const privateTmp = join(dir, 'tmp');
  await mkdir(privateTmp);
  const topologyFile = join(dir, 'topology.json');
  await writeFile(topologyFile, JSON.stringify(TOPOLOGY));
  const runDir = join(dir, 'run');

  const child = spawn(process.execPath, [CLI, 'up', '--topology', topologyFile, '--run-dir', runDir], {
    env: { ...process.env, TMPDIR: privateTmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    if (stdout === '' && chunk.includes('starting cluster')) child.kill('SIGINT');
    stdout += chunk;
  });
  child.stderr.resume();

  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`atlas-sim up did not exit within ${EXIT_WAIT_MS} ms of SIGINT; output so far:\n${stdout}`)), EXIT_WAIT_MS);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });

  t.ok(code === 0 || code === 130, `exits 0 or 130 (got ${String(code)})`);
  // Whether SIGINT lands before or after the last process starts depends on the machine's load; both paths must clean up.
  if (code === 130) t.match(stdout, /stopping once the processes that are starting have started/, 'says it stops after start-up');

  const pids = await loggedPids(runDir);
  t.ok(pids.size > 0, 'the processes that started logged their PIDs');
  const running = [...pids].filter((pid) => isProcessRunning(pid));
  t.same(running, [], 'no process of the cluster is left running');

  const locks = await readdir(join(privateTmp, 'atlas-sim-blocks')).catch(() => []);
  t.same(locks.filter((name) => name.endsWith('.lock')), [], 'the address block lock file is released');
});
