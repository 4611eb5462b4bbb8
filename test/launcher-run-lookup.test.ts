import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CLUSTER_INFO_FILE } from '../src/config/cluster-info.js';
import { findRun, latestRunDir } from '../src/launcher/run-lookup.js';
import { ConfigError } from '../src/util/errors.js';

async function makeRunsRoot(t: Test): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'atlas-run-lookup-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** Writes a minimal cluster.json into `<root>/<name>` with the given modification time. */
async function writeRun(root: string, name: string, modifiedSeconds: number): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const file = join(dir, CLUSTER_INFO_FILE);
  const info = { clusterName: name, site: { host: 'support.example.test', port: 443 }, dns: { address: '127.100.0.53', port: 53 }, certsDir: '/certs', nodes: [], clients: [] };
  await writeFile(file, JSON.stringify(info));
  await utimes(file, modifiedSeconds, modifiedSeconds);
  return dir;
}

void t.test('run lookup prefers the newest cluster.json', async (t) => {
  const root = await makeRunsRoot(t);
  await writeRun(root, '20260101-000000-aaaaaa', 1_700_000_000);
  const newest = await writeRun(root, 'custom-name', 1_700_000_500);
  await writeRun(root, '20270101-000000-bbbbbb', 1_700_000_100);

  const found = await findRun({ runsRoot: root });
  t.equal(found.dir, newest);
  t.equal(found.source, 'latest');
  t.equal(found.info.clusterName, 'custom-name');
  t.equal(found.paths.clusterInfoFile, join(newest, CLUSTER_INFO_FILE));
});

void t.test('run lookup skips folders without cluster.json', async (t) => {
  const root = await makeRunsRoot(t);
  const only = await writeRun(root, 'with-info', 1_700_000_000);
  await mkdir(join(root, 'empty-run'));
  await writeFile(join(root, 'stray-file'), 'not a folder');

  t.equal(await latestRunDir(root), only);
});

void t.test('run lookup uses --run-dir as given', async (t) => {
  const root = await makeRunsRoot(t);
  await writeRun(root, 'newer', 1_700_000_900);
  const older = await writeRun(root, 'older', 1_700_000_000);

  const found = await findRun({ runDir: older, runsRoot: root });
  t.equal(found.dir, older);
  t.equal(found.source, 'option');
  t.equal(found.paths.dataDir('master1'), join(older, 'data', 'master1'));
});

void t.test('run lookup without runs names the fix', async (t) => {
  const root = await makeRunsRoot(t);
  const error = await findRun({ runsRoot: join(root, 'missing') }).catch((caught: unknown) => caught);
  t.type(error, ConfigError);
  t.match((error as Error).message, /no run folder with cluster\.json under .*missing/);
  t.match((error as Error).message, /--run-dir DIR/);
});

void t.test('run lookup names a --run-dir without cluster.json', async (t) => {
  const root = await makeRunsRoot(t);
  const error = await findRun({ runDir: root }).catch((caught: unknown) => caught);
  t.type(error, ConfigError);
  t.match((error as Error).message, /cannot read .*cluster\.json/);
});
