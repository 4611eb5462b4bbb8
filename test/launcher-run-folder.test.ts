import { mkdtemp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { prepareRunFolder, removeRunFolder } from '../src/launcher/run-folder.js';

async function tempRoot(t: Test): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'atlas-run-folder-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

void t.test('run folder made by the launcher is removed whole', async (t) => {
  const root = await tempRoot(t);
  const folder = await prepareRunFolder(join(root, 'fresh'));
  t.equal(folder.created, true, 'launcher created it');
  t.same((await readdir(folder.dir)).sort(), ['config', 'data', 'logs'], 'subfolders made');

  await removeRunFolder(folder);
  await t.rejects(stat(folder.dir), { code: 'ENOENT' }, 'folder gone');
});

void t.test('given empty run folder keeps the folder', async (t) => {
  const root = await tempRoot(t);
  const given = join(root, 'given');
  await mkdir(given);
  const folder = await prepareRunFolder(given);
  t.equal(folder.created, false, 'caller created it');
  await writeFile(folder.pskFile, 'aa\n');

  await removeRunFolder(folder);
  t.same(await readdir(given), [], 'contents removed');
  t.ok((await stat(given)).isDirectory(), 'folder kept');
});

void t.test('non-empty run folder rejected', async (t) => {
  const root = await tempRoot(t);
  const given = join(root, 'mystuff');
  await mkdir(given);
  await writeFile(join(given, 'precious.txt'), 'important\n');

  await t.rejects(prepareRunFolder(given), /run folder .*mystuff is not empty \(it contains precious\.txt\); pass a new or empty folder/, 'names the folder and a file in it');
  t.same(await readdir(given), ['precious.txt'], 'file untouched');
});

void t.test('run folder that is a file rejected', async (t) => {
  const root = await tempRoot(t);
  const file = join(root, 'plain.txt');
  await writeFile(file, 'x');
  await t.rejects(prepareRunFolder(file), /run folder .*plain\.txt is a file, not a folder/, 'says it is a file');
});

void t.test('run folder under /proc rejected', async (t) => {
  await t.rejects(prepareRunFolder('/proc/atlas-nope'), /run folder \/proc\/atlas-nope is inside a kernel file system/, 'rejected before mkdir');
});
