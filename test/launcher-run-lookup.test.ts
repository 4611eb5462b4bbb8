import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CLUSTER_INFO_FILE } from '../src/config/cluster-info.js';
import { findRun, NoRunningClusterError, runDirsNewestFirst } from '../src/launcher/run-lookup.js';
import { ConfigError } from '../src/util/errors.js';

async function makeRunsRoot(t: Test): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'atlas-run-lookup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** Listens on a Unix socket until the test ends, as a running launcher does on its control socket. */
async function listenOnSocket(t: Test, path: string): Promise<void> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
}

/**
 * Writes a minimal cluster.json into `<root>/<name>` with the given
 * modification time. A running run gets a control socket that accepts
 * connections; a stopped one names a socket file that nothing listens on.
 */
async function writeRun(t: Test, root: string, name: string, modifiedSeconds: number, state: 'running' | 'stopped'): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const controlSocket = join(dir, 'control.sock');
  if (state === 'running') await listenOnSocket(t, controlSocket);
  else await writeFile(controlSocket, '');
  const file = join(dir, CLUSTER_INFO_FILE);
  const info = { clusterName: name, site: { host: 'support.example.test', port: 443 }, dns: { address: '127.100.0.53', port: 53 }, certsDir: '/certs', nodes: [], clients: [], controlSocket };
  await writeFile(file, JSON.stringify(info));
  await utimes(file, modifiedSeconds, modifiedSeconds);
  return dir;
}

void t.test('run lookup prefers the newest running cluster', async (t) => {
  const root = await makeRunsRoot(t);
  await writeRun(t, root, '20260101-000000-aaaaaa', 1_700_000_000, 'running');
  const newest = await writeRun(t, root, 'custom-name', 1_700_000_500, 'running');
  await writeRun(t, root, '20270101-000000-bbbbbb', 1_700_000_100, 'running');

  const found = await findRun({ runsRoot: root });
  t.equal(found.dir, newest);
  t.equal(found.source, 'running');
  t.equal(found.info.clusterName, 'custom-name');
  t.equal(found.paths.clusterInfoFile, join(newest, CLUSTER_INFO_FILE));
});

void t.test('run lookup skips a newer stopped run', async (t) => {
  const root = await makeRunsRoot(t);
  const running = await writeRun(t, root, 'a-running', 1_700_000_000, 'running');
  await writeRun(t, root, 'b-failed-demo', 1_700_000_900, 'stopped');

  const found = await findRun({ runsRoot: root });
  t.equal(found.dir, running);
});

void t.test('run lookup with only stopped runs', async (t) => {
  const root = await makeRunsRoot(t);
  await writeRun(t, root, 'stopped', 1_700_000_000, 'stopped');

  const error = await findRun({ runsRoot: root }).catch((caught: unknown) => caught);
  t.type(error, NoRunningClusterError);
  t.match((error as Error).message, /no running cluster under /);
});

void t.test('run lookup skips folders without cluster.json', async (t) => {
  const root = await makeRunsRoot(t);
  const only = await writeRun(t, root, 'with-info', 1_700_000_000, 'stopped');
  await mkdir(join(root, 'empty-run'));
  await writeFile(join(root, 'stray-file'), 'not a folder');

  t.same(await runDirsNewestFirst(root), [only]);
});

void t.test('run lookup uses --run-dir as given', async (t) => {
  const root = await makeRunsRoot(t);
  await writeRun(t, root, 'newer', 1_700_000_900, 'running');
  const older = await writeRun(t, root, 'older', 1_700_000_000, 'stopped');

  const found = await findRun({ runDir: older, runsRoot: root });
  t.equal(found.dir, older);
  t.equal(found.source, 'option');
  t.equal(found.paths.dataDir('master1'), join(older, 'data', 'master1'));
});

void t.test('run lookup without runs names the fix', async (t) => {
  const root = await makeRunsRoot(t);
  const error = await findRun({ runsRoot: join(root, 'missing') }).catch((caught: unknown) => caught);
  t.type(error, NoRunningClusterError);
  t.match((error as Error).message, /no running cluster under .*missing/);
  t.match((error as Error).message, /--run-dir DIR/);
});

void t.test('run lookup names a --run-dir without cluster.json', async (t) => {
  const root = await makeRunsRoot(t);
  const error = await findRun({ runDir: root }).catch((caught: unknown) => caught);
  t.type(error, ConfigError);
  t.match((error as Error).message, /cannot read .*cluster\.json/);
});
