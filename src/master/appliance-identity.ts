import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../logging/logger.js';
import { readJsonWithBackup, replaceDamagedFile, writeFileAtomic } from '../storage/atomic-file.js';

/** File in the data folder that stores the appliance GUID. */
export const IDENTITY_FILE = 'identity.json';

const GUID_PATTERN = /^[0-9a-f]{32}$/;

export interface ApplianceIdentity {
  /** 32 lowercase hex digits, made once on first start and kept for the life of the data folder. */
  guid: string;
}

/** Checks a parsed identity file; throws naming the field and the expected form. */
export function validateIdentity(value: unknown): ApplianceIdentity {
  const guid = (value as { guid?: unknown } | null)?.guid;
  if (typeof guid !== 'string' || !GUID_PATTERN.test(guid)) {
    throw new Error(`guid is ${JSON.stringify(guid)}; expected 32 lowercase hex digits`);
  }
  return { guid };
}

/**
 * Loads the appliance GUID, or makes one when the data folder has none. A
 * damaged file is reported and replaced from its backup. When neither copy
 * can be read, this throws instead of making a new GUID, because a new GUID
 * would silently turn the appliance into a different one.
 */
export async function loadOrCreateIdentity(deps: { logger: Logger }, dataDir: string): Promise<ApplianceIdentity> {
  const file = join(dataDir, IDENTITY_FILE);
  const read = await readJsonWithBackup(file, validateIdentity);

  if (read.status === 'ok') {
    if (read.source === 'backup') {
      const movedTo = await replaceDamagedFile(file, JSON.stringify(read.value, null, 2));
      deps.logger.error({ file, problem: read.problem, movedTo }, 'identity file damaged, restored from backup');
    }
    return read.value;
  }
  if (read.status === 'unreadable') {
    throw new Error(`appliance identity ${file} cannot be read (${read.problem}); restore the file or delete the data folder ${dataDir} to start as a new appliance`);
  }

  const identity: ApplianceIdentity = { guid: randomBytes(16).toString('hex') };
  await writeFileAtomic(file, JSON.stringify(identity, null, 2));
  deps.logger.info({ file, guid: identity.guid }, 'appliance identity created');
  return identity;
}
