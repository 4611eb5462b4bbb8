import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters for new hashes: N = 2^14, r = 8, p = 1, as RFC 7914 suggests for interactive logins. */
export const SCRYPT_COST = 16_384;
export const SCRYPT_BLOCK_SIZE = 8;
export const SCRYPT_PARALLELIZATION = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Largest cost a stored hash may ask for, so a tampered file cannot make one check take minutes. */
const MAX_SCRYPT_COST = 1 << 20;
const PREFIX = 'scrypt';

/** A parsed `scrypt$N$r$p$salt$key` string (salt and key in base64). */
interface ParsedHash {
  cost: number;
  blockSize: number;
  parallelization: number;
  salt: Buffer;
  key: Buffer;
}

function deriveKey(secret: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem must cover 128 * N * r bytes, or Node rejects the larger costs a stored hash may ask for.
    const maxmem = 256 * (options.N ?? SCRYPT_COST) * (options.r ?? SCRYPT_BLOCK_SIZE);
    scrypt(secret, salt, length, { ...options, maxmem }, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

/** Hashes a password or client secret with a fresh random salt; returns `scrypt$N$r$p$salt$key`. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await deriveKey(secret, salt, KEY_BYTES, { N: SCRYPT_COST, r: SCRYPT_BLOCK_SIZE, p: SCRYPT_PARALLELIZATION });
  return [PREFIX, SCRYPT_COST, SCRYPT_BLOCK_SIZE, SCRYPT_PARALLELIZATION, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Throws naming the part that is wrong when `encoded` is not a hash made by hashSecret. */
export function parseSecretHash(encoded: string): ParsedHash {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== PREFIX) {
    throw new Error('secret hash is not in the form scrypt$N$r$p$salt$key; make a new one with hashSecret()');
  }
  const [cost, blockSize, parallelization] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!Number.isInteger(cost) || cost < 2 || cost > MAX_SCRYPT_COST || (cost & (cost - 1)) !== 0) {
    throw new Error(`scrypt cost N is ${parts[1]}; expected a power of two from 2 to ${MAX_SCRYPT_COST}`);
  }
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 64 || !Number.isInteger(parallelization) || parallelization < 1 || parallelization > 16) {
    throw new Error(`scrypt r and p are ${parts[2]} and ${parts[3]}; expected r from 1 to 64 and p from 1 to 16`);
  }
  const salt = Buffer.from(parts[4] ?? '', 'base64');
  const key = Buffer.from(parts[5] ?? '', 'base64');
  if (salt.length < 8 || key.length < 16) {
    throw new Error(`scrypt salt has ${salt.length} bytes and key ${key.length} bytes; expected at least 8 and 16`);
  }
  return { cost, blockSize, parallelization, salt, key };
}

/** True when `secret` matches `encoded`; the comparison takes the same time wherever the keys differ. */
export async function verifySecret(secret: string, encoded: string): Promise<boolean> {
  const parsed = parseSecretHash(encoded);
  const key = await deriveKey(secret, parsed.salt, parsed.key.length, { N: parsed.cost, r: parsed.blockSize, p: parsed.parallelization });
  return timingSafeEqual(key, parsed.key);
}
