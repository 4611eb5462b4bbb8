import { open, readdir, rename, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isProcessRunning } from '../util/process-state.js';

/**
 * Writes a file so that a crash at any moment leaves either the old or the
 * new content: temporary file in the same folder, fsync, rename, fsync of the
 * folder. The previous content is kept as `<file>.bak` for recovery.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const folder = dirname(file);
  await mkdir(folder, { recursive: true });
  const temporary = join(folder, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temporary, 'w', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }

  try {
    await copyToBackup(file);
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncFolder(folder);
}

/** Result of reading a JSON state file that may be missing, empty or damaged. */
export type JsonReadResult<T> =
  | { status: 'ok'; value: T; source: 'file' | 'backup'; problem?: string }
  | { status: 'missing' }
  | { status: 'unreadable'; problem: string };

/**
 * Reads a JSON file written by writeFileAtomic. A zero-byte or corrupt file is
 * reported and the backup copy used; the caller decides what to log.
 */
export async function readJsonWithBackup<T>(file: string, validate: (value: unknown) => T): Promise<JsonReadResult<T>> {
  const primary = await readJson(file, validate);
  if (primary.status === 'ok') return { status: 'ok', value: primary.value, source: 'file' };

  const backup = await readJson(`${file}.bak`, validate);
  if (primary.status === 'missing' && backup.status === 'missing') return { status: 'missing' };
  const problem = primary.status === 'missing' ? `${file} is missing` : `${file}: ${primary.problem}`;
  if (backup.status === 'ok') return { status: 'ok', value: backup.value, source: 'backup', problem };
  const backupProblem = backup.status === 'missing' ? 'no backup copy exists' : `backup: ${backup.problem}`;
  return { status: 'unreadable', problem: `${problem}; ${backupProblem}` };
}

type SingleRead<T> = { status: 'ok'; value: T } | { status: 'missing' } | { status: 'bad'; problem: string };

async function readJson<T>(file: string, validate: (value: unknown) => T): Promise<SingleRead<T>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    throw error;
  }
  if (text.length === 0) return { status: 'bad', problem: 'file is empty (zero bytes)' };
  try {
    return { status: 'ok', value: validate(JSON.parse(text)) };
  } catch (error) {
    return { status: 'bad', problem: `not valid: ${error instanceof Error ? error.message : String(error)}` };
  }
}

async function copyToBackup(file: string): Promise<void> {
  let current: Buffer;
  try {
    current = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (current.length === 0) return;
  const backup = `${file}.bak`;
  const temporary = `${backup}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(current);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, backup);
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces a damaged file with `data` while keeping its good backup: the
 * damaged copy is first moved aside as `<file>.damaged-<ms>`, so the write
 * has no current file to copy over `<file>.bak`. Writing straight over the
 * damaged file would overwrite the good backup with the damaged copy, and a
 * crash before the rename would then leave no readable copy at all. Returns
 * the path the damaged copy was moved to, or undefined when there was none.
 */
export async function replaceDamagedFile(file: string, data: string | Uint8Array, mode = 0o600): Promise<string | undefined> {
  const movedTo = `${file}.damaged-${Date.now()}`;
  let moved: string | undefined = movedTo;
  try {
    await rename(file, movedTo);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    moved = undefined;
  }
  await writeFileAtomic(file, data, mode);
  return moved;
}

/** Temporary files of writeFileAtomic: `.<name>.<pid>.<hex>.tmp` and `<name>.bak.<pid>.tmp`. */
const TEMPORARY_FILE_PATTERNS = [/^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/, /^.+\.bak\.(\d+)\.tmp$/];

/**
 * Deletes the temporary files a process killed in the middle of
 * writeFileAtomic left in `folder`, when the PID in their name no longer
 * runs. Returns the names deleted, for the caller to log.
 */
export async function removeStaleTemporaryFiles(folder: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = TEMPORARY_FILE_PATTERNS.map((pattern) => pattern.exec(name)?.[1]).find((match) => match !== undefined);
    if (pid === undefined || Number(pid) === process.pid || isProcessRunning(Number(pid))) continue;
    await unlink(join(folder, name)).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}
