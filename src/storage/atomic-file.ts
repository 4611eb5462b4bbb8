import { open, rename, readFile, unlink, mkdir } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

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
