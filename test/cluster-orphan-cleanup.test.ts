import { fork } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import { isProcessRunning } from '../src/launcher/address-block.js';
import { canBindTcp } from '../src/launcher/ports.js';

/** What the launcher script reports once its cluster runs. */
interface LauncherReport {
  runDir: string;
  lockFile: string;
  endpoints: { address: string; port: number }[];
}

const DIST_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/**
 * A test process stand-in: starts a cluster with removeRunDir, pauses a
 * traffic node (a paused process cannot notice anything by itself), reports
 * what it started, then waits to be killed.
 */
const LAUNCHER_SCRIPT = `
import { startCluster } from ${JSON.stringify(DIST_INDEX)};
const cluster = await startCluster({
  runDir: process.argv[2],
  removeRunDir: true,
  seed: 'orphan',
  topology: {
    masters: [{ name: 'master1' }],
    trafficNodes: [{ name: 'traffic1', timezone: '+01:00' }],
    clients: [{ name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'Europe/Berlin' }],
  },
});
await cluster.pause('traffic1');
const endpoints = [];
for (const node of [cluster.plan.master, ...cluster.plan.trafficNodes]) {
  for (const endpoint of [node.config.public, node.config.internal]) {
    endpoints.push({ address: endpoint.address, port: endpoint.port });
    if (endpoint.listenPort !== undefined) endpoints.push({ address: endpoint.address, port: endpoint.listenPort });
  }
}
const lockFile = cluster.addressBlock.lockFile;
process.send({ runDir: cluster.runDir, lockFile, endpoints });
setInterval(() => undefined, 60_000);
`;

/** PIDs of the processes whose parent is `pid`, read from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // The process exited while the folder was read.
    }
  }
  return children;
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return check();
}

void t.test('killed launcher leaves nothing', async (t) => {
  const workDir = await mkdtemp(join(tmpdir(), 'atlas-orphan-'));
  t.teardown(() => rm(workDir, { recursive: true, force: true }));
  const script = join(workDir, 'launcher.mjs');
  await writeFile(script, LAUNCHER_SCRIPT);
  const runDir = join(workDir, 'run');

  const launcher = fork(script, [runDir], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => {
    if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
  });
  const report = await new Promise<LauncherReport>((resolve, reject) => {
    launcher.once('message', (message) => resolve(message as LauncherReport));
    launcher.once('exit', (code) => reject(new Error(`launcher script exited with ${String(code)} before its cluster ran`)));
  });
  const processes = childrenOf(launcher.pid ?? 0);
  t.ok(processes.length >= 6, `launcher started ${processes.length} processes`);
  t.ok(existsSync(report.runDir), 'run folder exists while the cluster runs');
  t.ok(existsSync(report.lockFile), 'address block lock exists while the cluster runs');

  launcher.kill('SIGKILL');
  const allGone = await waitUntil(() => processes.every((pid) => !isProcessRunning(pid)), 20_000);
  t.ok(allGone, `every cluster process exited; still running: ${processes.filter(isProcessRunning).join(', ') || 'none'}`);
  t.ok(await waitUntil(() => !existsSync(report.runDir), 10_000), 'run folder removed');
  t.ok(await waitUntil(() => !existsSync(report.lockFile), 10_000), 'address block lock removed');
  const busy: string[] = [];
  for (const endpoint of report.endpoints) {
    if (!(await canBindTcp(endpoint.address, endpoint.port))) busy.push(`${endpoint.address}:${endpoint.port}`);
  }
  t.same(busy, [], 'every port of the cluster is free');
});
