import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { readSecretFile } from '../config/secret-file.js';
import type { Logger } from '../logging/logger.js';
import { readJsonWithBackup, writeFileAtomic } from './atomic-file.js';

/** File in an appliance's data folder holding the pre-shared key set through the Security page (mode 0600). */
export const PRE_SHARED_KEY_FILE = 'pre-shared-key.json';
/** Shortest and longest key the Security page accepts, in characters. */
export const MIN_PRE_SHARED_KEY_CHARS = 8;
export const MAX_PRE_SHARED_KEY_CHARS = 1024;

interface StoredKey {
  keyHex: string;
  changedAtMs: number;
}

/** Origin of the key in use, never the key itself. */
export interface PreSharedKeyState {
  source: 'admin' | 'launcher';
  changedAtMs?: number;
}

/**
 * Returns why `value` cannot be a pre-shared key, or undefined when it can.
 * The reason never repeats the value.
 */
export function describeInvalidPreSharedKey(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'is not a string; send the key as a JSON string';
  if (value.length < MIN_PRE_SHARED_KEY_CHARS) return `is shorter than ${MIN_PRE_SHARED_KEY_CHARS} characters; use a long random password`;
  if (value.length > MAX_PRE_SHARED_KEY_CHARS) return `is longer than ${MAX_PRE_SHARED_KEY_CHARS} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'contains control characters such as a line break; use printable characters only';
  return undefined;
}

function validateStoredKey(value: unknown): StoredKey {
  const stored = value as Partial<StoredKey> | null;
  if (typeof stored?.keyHex !== 'string' || !/^(?:[0-9a-f]{2})+$/.test(stored.keyHex) || typeof stored.changedAtMs !== 'number') {
    throw new Error('expected { keyHex: hex string, changedAtMs: number }');
  }
  return stored as StoredKey;
}

/**
 * The inter-appliance pre-shared key of one appliance. The key the launcher
 * wrote (`launcherKeyFile`) is used until an administrator sets one through
 * the Security page. That key is kept in the data folder and wins from then
 * on, across restarts. Emits 'change' after a new key is in use. The key
 * never appears in logs, errors or API replies.
 */
export class PreSharedKeyStore extends EventEmitter<{ change: [] }> {
  private constructor(
    private readonly deps: { logger: Logger },
    private readonly file: string,
    private current: Buffer,
    private state: PreSharedKeyState,
  ) {
    super();
  }

  static async open(deps: { logger: Logger }, options: { dataDir: string; launcherKeyFile: string }): Promise<PreSharedKeyStore> {
    const file = join(options.dataDir, PRE_SHARED_KEY_FILE);
    const read = await readJsonWithBackup(file, validateStoredKey);
    if (read.status === 'ok') {
      if (read.source === 'backup') deps.logger.error({ file, problem: read.problem }, 'pre-shared key file damaged; using its backup copy');
      deps.logger.info({ source: 'admin', changedAtMs: read.value.changedAtMs }, 'pre-shared key loaded');
      return new PreSharedKeyStore(deps, file, Buffer.from(read.value.keyHex, 'hex'), { source: 'admin', changedAtMs: read.value.changedAtMs });
    }
    if (read.status === 'unreadable') {
      throw new Error(`pre-shared key file ${file} cannot be read (${read.problem}); set the key again after deleting the file, or restore it from a copy`);
    }
    const key = await readSecretFile(options.launcherKeyFile, 'pskFile');
    return new PreSharedKeyStore(deps, file, key, { source: 'launcher' });
  }

  /** The key in use. */
  get key(): Buffer {
    return this.current;
  }

  get info(): PreSharedKeyState {
    return { ...this.state };
  }

  /**
   * Validates and stores a new key (its UTF-8 bytes), writes it atomically
   * with mode 0600, then makes it the key in use. Throws a RangeError with
   * the reason (never the key) for an invalid one.
   */
  async set(passphrase: string, nowMs = Date.now()): Promise<void> {
    const problem = describeInvalidPreSharedKey(passphrase);
    if (problem !== undefined) throw new RangeError(`preSharedKey ${problem}`);
    const key = Buffer.from(passphrase, 'utf8');
    const stored: StoredKey = { keyHex: key.toString('hex'), changedAtMs: nowMs };
    // NOTE: writeFileAtomic keeps the previous key as <file>.bak (also mode 0600) for recovery.
    await writeFileAtomic(this.file, `${JSON.stringify(stored)}\n`, 0o600);
    this.current = key;
    this.state = { source: 'admin', changedAtMs: nowMs };
    this.deps.logger.info({ changedAtMs: nowMs }, 'pre-shared key changed through the Security page');
    this.emit('change');
  }
}
