import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../../util/errors.js';
import { parseSecretHash } from '../../util/scrypt-hash.js';

/** Length of a password the launcher generates, in characters of base64url. */
export const GENERATED_PASSWORD_CHARS = 24;

/** Returns a random password of GENERATED_PASSWORD_CHARS base64url characters (144 bits). */
export function generatePassword(): string {
  return randomBytes((GENERATED_PASSWORD_CHARS * 3) / 4).toString('base64url');
}

/** Writes text to a new file readable by the owner only (mode 0600); fails if the file exists. */
export async function writeOwnerOnlyFile(file: string, text: string): Promise<void> {
  await writeFile(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600, flag: 'wx' });
}

/**
 * Reads a password hash file (one `scrypt$N$r$p$salt$key` line, as
 * hashSecret() makes it) and checks its form. `field` names the config
 * field that pointed at the file. Errors never contain the hash.
 */
export async function readPasswordHashFile(file: string, field: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`${field}: cannot read password hash file ${file} (${code}); start the cluster with the launcher, which writes it`);
  }
  const encoded = text.trim();
  try {
    parseSecretHash(encoded);
  } catch (error) {
    throw new ConfigError(`${field}: ${file}: ${(error as Error).message}`);
  }
  return encoded;
}
