import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generatePassword, writeOwnerOnlyFile } from '../net/http/password.js';
import { hashSecret } from '../util/scrypt-hash.js';
import { ConfigError } from '../util/errors.js';

/** User name of the admin account every appliance of a run accepts. */
export const ADMIN_USERNAME = 'admin';
/** Files in the run folder: the admin password in clear text for the CLI, and its scrypt hash for the appliances. Both mode 0600. */
export const ADMIN_PASSWORD_FILE = 'admin-password';
export const ADMIN_PASSWORD_HASH_FILE = 'admin-password.scrypt';

/** User name and password the CLI and the launcher send to the admin API. */
export interface AdminCredentials {
  username: string;
  password: string;
}

/**
 * Generates the admin password of a run and writes it and its scrypt hash
 * into the run folder, readable by the owner only. Returns the credentials
 * for the launcher's own requests.
 */
export async function createAdminCredentials(runDir: string): Promise<AdminCredentials> {
  const password = generatePassword();
  await writeOwnerOnlyFile(join(runDir, ADMIN_PASSWORD_FILE), password);
  await writeOwnerOnlyFile(join(runDir, ADMIN_PASSWORD_HASH_FILE), await hashSecret(password));
  return { username: ADMIN_USERNAME, password };
}

/** Reads the admin password of a run; the error names the file and never its content. */
export async function readAdminCredentials(runDir: string): Promise<AdminCredentials> {
  const file = join(runDir, ADMIN_PASSWORD_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`cannot read the admin password file ${file} (${code}); pass the run folder of a cluster started by this version of the launcher`);
  }
  const password = text.trim();
  if (password === '') throw new ConfigError(`admin password file ${file} is empty; start a new cluster to get a new password`);
  return { username: ADMIN_USERNAME, password };
}
