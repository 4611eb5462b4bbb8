import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { ApiAccountSeed } from '../config/node-config.js';
import { ConfigError } from '../util/errors.js';
import { hashSecret } from '../util/scrypt-hash.js';

/** Name of the launcher's API account, as the master's log and account list show it. */
export const LAUNCHER_API_ACCOUNT_NAME = 'atlas-sim launcher';

/** Contents of the run folder's api-account.json (mode 0600): what an integration needs to get a token. */
export interface ApiAccountFile {
  name: string;
  clientId: string;
  clientSecret: string;
  commandApi: ApiAccountSeed['commandApi'];
}

/**
 * Makes a new API account with full command API access: writes its client
 * id and secret to `file`, readable by the owner only, and returns the seed
 * for the master, which holds only the scrypt hash of the secret.
 */
export async function writeApiAccountFile(file: string): Promise<ApiAccountSeed> {
  const account: ApiAccountFile = {
    name: LAUNCHER_API_ACCOUNT_NAME,
    clientId: randomBytes(20).toString('hex'),
    clientSecret: randomBytes(32).toString('base64url'),
    commandApi: 'full',
  };
  await writeFile(file, `${JSON.stringify(account, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return { name: account.name, clientId: account.clientId, secretHash: await hashSecret(account.clientSecret), commandApi: account.commandApi };
}

/** Reads api-account.json; the error names the file and the fix, never the secret. */
export async function readApiAccountFile(file: string): Promise<ApiAccountFile> {
  let parsed: Partial<ApiAccountFile> | null;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<ApiAccountFile> | null;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'not valid JSON';
    throw new ConfigError(`cannot read API account ${file} (${reason}); clusters started by this version of \`atlas-sim up\` write it into the run folder`);
  }
  if (typeof parsed?.clientId !== 'string' || typeof parsed.clientSecret !== 'string') {
    throw new ConfigError(`API account ${file} lacks clientId or clientSecret; start a new cluster to get a new account`);
  }
  return { name: parsed.name ?? LAUNCHER_API_ACCOUNT_NAME, clientId: parsed.clientId, clientSecret: parsed.clientSecret, commandApi: parsed.commandApi ?? 'full' };
}
