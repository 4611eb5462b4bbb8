import { join } from 'node:path';
import type { ApiAccountSeed } from '../../config/node-config.js';
import type { Logger } from '../../logging/logger.js';
import { readJsonWithBackup, replaceDamagedFile, writeFileAtomic } from '../../storage/atomic-file.js';
import { ConfigError } from '../../util/errors.js';
import { hashSecret, parseSecretHash, verifySecret } from '../../util/scrypt-hash.js';

/** File in the master's data folder that stores the API accounts, secrets as scrypt hashes only. */
export const API_ACCOUNTS_FILE = 'api-accounts.json';

export type ApiAccount = ApiAccountSeed;

/** OAuth client ids the master accepts: 8 to 128 characters of A-Z, a-z, 0-9, ".", "_" or "-". */
const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{8,128}$/;
const PERMISSIONS = ['read_only', 'full'] as const;

/** Checks a list of API accounts (seed or stored file); throws naming the entry, field and fix. */
export function validateApiAccounts(value: unknown, source: string): ApiAccount[] {
  if (!Array.isArray(value)) throw new ConfigError(`${source} is ${typeof value}; expected an array of API accounts`);
  const seen = new Set<string>();
  return value.map((entry: Partial<ApiAccount> | null, index) => {
    const where = `${source}[${index}]`;
    if (typeof entry?.name !== 'string' || entry.name.trim() === '') throw new ConfigError(`${where}.name is missing; give the account a name`);
    if (typeof entry.clientId !== 'string' || !CLIENT_ID_PATTERN.test(entry.clientId)) {
      throw new ConfigError(`${where}.clientId is ${JSON.stringify(entry.clientId)}; expected 8-128 characters of A-Z, a-z, 0-9, ".", "_" or "-"`);
    }
    if (seen.has(entry.clientId)) throw new ConfigError(`${where}.clientId ${entry.clientId} appears twice; client ids must be unique`);
    seen.add(entry.clientId);
    if (typeof entry.secretHash !== 'string') throw new ConfigError(`${where}.secretHash is missing; store the scrypt hash of the secret`);
    try {
      parseSecretHash(entry.secretHash);
    } catch (error) {
      throw new ConfigError(`${where}.secretHash is invalid: ${(error as Error).message}`);
    }
    if (!PERMISSIONS.includes(entry.commandApi as (typeof PERMISSIONS)[number])) {
      throw new ConfigError(`${where}.commandApi is ${JSON.stringify(entry.commandApi)}; expected one of ${PERMISSIONS.join(', ')}`);
    }
    return { name: entry.name, clientId: entry.clientId, secretHash: entry.secretHash, commandApi: entry.commandApi as ApiAccount['commandApi'] };
  });
}

/**
 * The API accounts of the master, kept in its data folder so that a restart
 * keeps them. Seeds from the node config are added, or replace the stored
 * account with the same client id. Client secrets exist only as scrypt
 * hashes, in memory and on disk.
 */
export class ApiAccountStore {
  /** Hash checked for unknown client ids, so an unknown id takes as long to reject as a wrong secret. */
  private decoyHash: Promise<string> | undefined;

  private constructor(private readonly accounts: Map<string, ApiAccount>) {}

  /**
   * Loads the stored accounts and merges `seeds`. A damaged file is reported
   * and its backup used. When neither copy can be read this throws, because
   * starting without the accounts would lock every integration out.
   */
  static async open(deps: { logger: Logger }, options: { dataDir: string; seeds?: ApiAccountSeed[] }): Promise<ApiAccountStore> {
    const file = join(options.dataDir, API_ACCOUNTS_FILE);
    const read = await readJsonWithBackup(file, (value) => validateApiAccounts(value, file));
    if (read.status === 'unreadable') {
      throw new Error(`API accounts ${file} cannot be read (${read.problem}); restore the file or its .bak copy, or delete both to keep only the accounts of the node config`);
    }

    const accounts = new Map((read.status === 'ok' ? read.value : []).map((account) => [account.clientId, account]));
    const seeds = validateApiAccounts(options.seeds ?? [], 'apiAccounts');
    for (const seed of seeds) accounts.set(seed.clientId, seed);

    const store = new ApiAccountStore(accounts);
    const content = `${JSON.stringify([...accounts.values()], null, 2)}\n`;
    if (read.status === 'ok' && read.source === 'backup') {
      const movedTo = await replaceDamagedFile(file, content);
      deps.logger.error({ file, problem: read.problem, movedTo }, 'API accounts file is damaged; using its backup copy');
    } else if (seeds.length > 0) {
      await writeFileAtomic(file, content);
    }
    deps.logger.info({ accounts: [...accounts.values()].map((account) => ({ name: account.name, clientId: account.clientId, commandApi: account.commandApi })) }, 'API accounts loaded');
    return store;
  }

  get size(): number {
    return this.accounts.size;
  }

  find(clientId: string): ApiAccount | undefined {
    return this.accounts.get(clientId);
  }

  /** Returns the account when `secret` is its client secret, or undefined. */
  async verify(clientId: string, secret: string): Promise<ApiAccount | undefined> {
    const account = this.accounts.get(clientId);
    if (account === undefined) {
      this.decoyHash ??= hashSecret('decoy secret for unknown client ids');
      await verifySecret(secret, await this.decoyHash);
      return undefined;
    }
    return (await verifySecret(secret, account.secretHash)) ? account : undefined;
  }
}
