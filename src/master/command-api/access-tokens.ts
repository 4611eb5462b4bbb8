import { createHash, randomBytes } from 'node:crypto';

/** Lifetime of an OAuth access token, as the token endpoint reports it in `expires_in`. */
export const DEFAULT_ACCESS_TOKEN_TTL_MS = 3_600_000;
/** Live tokens kept per API account; issuing one more drops the oldest. */
export const MAX_TOKENS_PER_ACCOUNT = 100;
const TOKEN_BYTES = 32;

export interface IssuedToken {
  accessToken: string;
  expiresInSeconds: number;
}

interface TokenRecord {
  clientId: string;
  expiresAtMs: number;
}

/**
 * Bearer tokens issued by the token endpoint, in memory only, so a master
 * restart ends every token. The map is keyed by the SHA-256 of the token,
 * so the tokens themselves are not kept.
 */
export class AccessTokenStore {
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_ACCESS_TOKEN_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /** Issues a new token for `clientId`. */
  issue(clientId: string): IssuedToken {
    this.dropExpired();
    const accessToken = randomBytes(TOKEN_BYTES).toString('base64url');
    this.tokens.set(digest(accessToken), { clientId, expiresAtMs: this.now() + this.ttlMs });

    const owned = [...this.tokens.entries()].filter(([, record]) => record.clientId === clientId);
    for (const [key] of owned.slice(0, Math.max(0, owned.length - MAX_TOKENS_PER_ACCOUNT))) this.tokens.delete(key);
    return { accessToken, expiresInSeconds: Math.floor(this.ttlMs / 1000) };
  }

  /** Returns the client id the token belongs to, or undefined when it is unknown or expired. */
  verify(accessToken: string): string | undefined {
    const key = digest(accessToken);
    const record = this.tokens.get(key);
    if (record === undefined) return undefined;
    if (record.expiresAtMs <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return record.clientId;
  }

  /** Number of tokens still valid. */
  get size(): number {
    this.dropExpired();
    return this.tokens.size;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [key, record] of this.tokens) if (record.expiresAtMs <= now) this.tokens.delete(key);
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
