import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../util/errors.js';

/** Length of the inter-appliance pre-shared key and of the cluster session key. */
export const SECRET_KEY_BYTES = 32;

const HEX_PATTERN = /^(?:[0-9a-f]{2})+$/i;

/**
 * Writes a new random key to `file` as one line of hex, readable by the owner
 * only (mode 0600), and returns nothing: callers pass the file path around,
 * never the key.
 */
export async function writeRandomSecretFile(file: string, bytes = SECRET_KEY_BYTES): Promise<void> {
  const key = randomBytes(bytes).toString('hex');
  await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
}

/**
 * Reads a key written by writeRandomSecretFile. `field` names the config field
 * that pointed at the file, so the error names where the path came from. The
 * error never contains the file's content.
 */
export async function readSecretFile(file: string, field: string): Promise<Buffer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`${field}: cannot read key file ${file} (${code}); start the cluster with the launcher, which writes it`);
  }
  const hex = text.trim();
  if (!HEX_PATTERN.test(hex)) {
    throw new ConfigError(`${field}: key file ${file} does not contain one line of hex digits; delete it and let the launcher write a new one`);
  }
  return Buffer.from(hex, 'hex');
}
