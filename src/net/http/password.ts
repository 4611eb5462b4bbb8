import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '../../util/errors.js';

/**
 * scrypt cost parameters of new hashes: Node.js's defaults (N 16384, r 8,
 * p 1), which need 16 MiB and stay within scrypt's default memory limit.
 * The parameters are stored in each hash, so older hashes keep verifying
 * when these change.
 */
export const SCRYPT_COST = { N: 16_384, r: 8, p: 1 } as const;
export const SCRYPT_SALT_BYTES = 16;
export const SCRYPT_KEY_BYTES = 32;
/** Length of a password the launcher generates, in characters of base64url. */
export const GENERATED_PASSWORD_CHARS = 24;

const HASH_PATTERN = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
/** Upper bounds on stored parameters, so a tampered hash file cannot make one check take minutes. */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

function deriveKey(password: string, salt: Buffer, keyBytes: number, cost: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, { ...cost, maxmem: 256 * (cost.N ?? SCRYPT_COST.N) * (cost.r ?? SCRYPT_COST.r) }, (error, key) => {
      if (error === null) resolve(key);
      else reject(error);
    });
  });
}

/** Hashes a password as `scrypt$N=..,r=..,p=..$<salt base64>$<key base64>` with a random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = await deriveKey(password, salt, SCRYPT_KEY_BYTES, SCRYPT_COST);
  return `scrypt$N=${SCRYPT_COST.N},r=${SCRYPT_COST.r},p=${SCRYPT_COST.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A parsed password hash. */
export interface PasswordHash {
  cost: { N: number; r: number; p: number };
  salt: Buffer;
  key: Buffer;
}

/** Parses a stored hash; throws naming the expected form (never echoing the hash). */
export function parsePasswordHash(text: string): PasswordHash {
  const match = HASH_PATTERN.exec(text.trim());
  if (match === null) throw new ConfigError('password hash is not in the form scrypt$N=<n>,r=<r>,p=<p>$<salt base64>$<key base64>');
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0 || r < 1 || r > MAX_R || p < 1 || p > MAX_P) {
    throw new ConfigError(`password hash parameters N=${N}, r=${r}, p=${p} are out of range; expected N a power of two up to ${MAX_N}, r 1-${MAX_R}, p 1-${MAX_P}`);
  }
  const salt = Buffer.from(match[4]!, 'base64');
  const key = Buffer.from(match[5]!, 'base64');
  if (key.length < 16) throw new ConfigError(`password hash key has ${key.length} bytes; expected at least 16`);
  return { cost: { N, r, p }, salt, key };
}

/** Returns true when `password` matches the hash; the comparison takes the same time for every wrong password. */
export async function verifyPassword(password: string, hash: PasswordHash): Promise<boolean> {
  const key = await deriveKey(password, hash.salt, hash.key.length, hash.cost);
  return timingSafeEqual(key, hash.key);
}

/** Returns a random password of GENERATED_PASSWORD_CHARS base64url characters (144 bits). */
export function generatePassword(): string {
  return randomBytes((GENERATED_PASSWORD_CHARS * 3) / 4).toString('base64url');
}

/** Writes text to a new file readable by the owner only (mode 0600); fails if the file exists. */
export async function writeOwnerOnlyFile(file: string, text: string): Promise<void> {
  await writeFile(file, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600, flag: 'wx' });
}

/** Reads a password hash file; `field` names the config field that pointed at it. */
export async function readPasswordHashFile(file: string, field: string): Promise<PasswordHash> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`${field}: cannot read password hash file ${file} (${code}); start the cluster with the launcher, which writes it`);
  }
  try {
    return parsePasswordHash(text);
  } catch (error) {
    throw new ConfigError(`${field}: ${file}: ${(error as Error).message}`);
  }
}
