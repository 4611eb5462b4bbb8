import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { silentLogger } from '../src/logging/logger.js';
import { StatusHistory } from '../src/master/status-history.js';
import { readJsonWithBackup, removeStaleTemporaryFiles, replaceDamagedFile, writeFileAtomic } from '../src/storage/atomic-file.js';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-atomic-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const parseArray = (value: unknown): unknown[] => {
  if (!Array.isArray(value)) throw new Error('expected an array');
  return value;
};

void t.test('damaged file replaced, backup kept', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'state.json');
  await writeFileAtomic(file, '[1]');
  await writeFileAtomic(file, '[1,2]');
  await writeFile(file, '{"torn');

  const movedTo = await replaceDamagedFile(file, '[1,2,3]');
  t.match(movedTo, /state\.json\.damaged-\d+$/, 'damaged copy moved aside');
  t.equal(await readFile(movedTo ?? '', 'utf8'), '{"torn', 'damaged copy kept for inspection');
  t.equal(await readFile(`${file}.bak`, 'utf8'), '[1]', 'good backup not overwritten');
  t.equal(await readFile(file, 'utf8'), '[1,2,3]');
});

void t.test('stale temporary files removed', async (t) => {
  const dir = await tempDir(t);
  const deadPid = 2 ** 22 + 12345;
  await writeFile(join(dir, `.state.json.${deadPid}.0a1b2c3d.tmp`), 'partial');
  await writeFile(join(dir, `state.json.bak.${deadPid}.tmp`), 'partial');
  await writeFile(join(dir, `.state.json.${process.pid}.0a1b2c3d.tmp`), 'mine');
  await writeFile(join(dir, 'notes.tmp'), 'not ours');

  const removed = await removeStaleTemporaryFiles(dir);
  t.same(removed.sort(), [`.state.json.${deadPid}.0a1b2c3d.tmp`, `state.json.bak.${deadPid}.tmp`]);
  t.same((await readdir(dir)).sort(), [`.state.json.${process.pid}.0a1b2c3d.tmp`, 'notes.tmp'], 'files of live processes and others stay');
});

void t.test('status history restored from backup', async (t) => {
  const dir = await tempDir(t);
  const first = await StatusHistory.open({ logger: silentLogger() }, dir);
  first.record(0, 'Data Sync: Started configuration data sync with traffic nodes.');
  await first.flush();
  first.record(0, 'Data Sync: Finished data sync with traffic nodes.');
  await first.flush();
  await writeFile(join(dir, 'status-history.json'), '');

  const reopened = await StatusHistory.open({ logger: silentLogger() }, dir);
  await reopened.flush();
  const messages = reopened.list().map((entry) => entry.message);
  t.equal(messages[0], 'Data Sync: Started configuration data sync with traffic nodes.', 'entries of the backup kept');
  t.match(messages.at(-1), /^Storage: .*empty.*restored from its backup copy/, 'recovery recorded');
  const onDisk = await readJsonWithBackup(join(dir, 'status-history.json'), parseArray);
  t.equal(onDisk.status === 'ok' ? onDisk.source : onDisk.status, 'file', 'primary copy readable again');
  t.ok((await readdir(dir)).some((name) => name.startsWith('status-history.json.damaged-')), 'empty copy moved aside');
});
