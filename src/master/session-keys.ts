import { randomInt } from 'node:crypto';

/** Digits of a short key, as customers type it. */
export const SHORT_KEY_DIGITS = 7;
/** Lifetime of a session key when the request gives no `ttl`, in seconds. */
export const DEFAULT_SESSION_KEY_TTL_SECONDS = 24 * 60 * 60;
/** Maximum lifetime a request may give, in seconds (one week). */
export const MAX_SESSION_KEY_TTL_SECONDS = 7 * 24 * 60 * 60;
/** Path of the key URL under the site hostname; the short key follows it. */
export const KEY_URL_PATH = '/ks/';
/** Queue every session key places its customer in; the simulator has only the general queue. */
export const GENERAL_QUEUE = 'general';

/** A session key from the session generation API. */
export interface SessionKey {
  shortKey: string;
  keyUrl: string;
  queueId: string;
  /** Text the integration attached, shown as the customer's issue in the queue; empty for none. */
  externalKey: string;
  createdAtMs: number;
  expiresAtMs: number;
  /** Client that joined with the key; the key admits only that client afterwards, so it can reconnect. */
  redeemedBy?: string;
}

export type RedeemResult = { ok: true; key: SessionKey } | { ok: false; reason: string };

/**
 * Session keys of the session generation API, kept by the primary master.
 * A key admits one customer client until it expires; the same client may
 * reconnect with it.
 * NOTE: keys live in the primary's memory only, so a backup master that takes
 * over rejects keys generated before the takeover.
 */
export class SessionKeyStore {
  private readonly keys = new Map<string, SessionKey>();

  constructor(private readonly siteUrl: () => string) {}

  /** Creates a key with a short key unique among the keys not yet expired. */
  generate(options: { queueId: string; ttlSeconds: number; externalKey: string }, nowMs = Date.now()): SessionKey {
    this.prune(nowMs);
    let shortKey: string;
    do {
      shortKey = String(randomInt(10 ** (SHORT_KEY_DIGITS - 1), 10 ** SHORT_KEY_DIGITS));
    } while (this.keys.has(shortKey));
    const key: SessionKey = {
      shortKey,
      keyUrl: `${this.siteUrl()}${KEY_URL_PATH}${shortKey}`,
      queueId: options.queueId,
      externalKey: options.externalKey,
      createdAtMs: nowMs,
      expiresAtMs: nowMs + options.ttlSeconds * 1000,
    };
    this.keys.set(shortKey, key);
    return key;
  }

  /**
   * Admits `clientId` with a short key or key URL. Fails with the reason for
   * an unknown or expired key, or a key another client already used.
   */
  redeem(presented: string, clientId: string, nowMs = Date.now()): RedeemResult {
    const shortKey = shortKeyOf(presented);
    const key = this.keys.get(shortKey);
    if (key === undefined) return { ok: false, reason: `the session key is unknown; generate a new one with the command API action generate_session_key` };
    if (nowMs >= key.expiresAtMs) {
      return { ok: false, reason: `the session key expired at ${new Date(key.expiresAtMs).toISOString()}; generate a new one with generate_session_key` };
    }
    if (key.redeemedBy !== undefined && key.redeemedBy !== clientId) {
      return { ok: false, reason: `the session key was already used by another customer client; each key admits one customer` };
    }
    key.redeemedBy = clientId;
    return { ok: true, key };
  }

  private prune(nowMs: number): void {
    for (const [shortKey, key] of this.keys) if (nowMs >= key.expiresAtMs) this.keys.delete(shortKey);
  }
}

/** Takes the short key from a key URL (`https://site/ks/1234567`), or returns the text itself. */
export function shortKeyOf(presented: string): string {
  const text = presented.trim();
  const index = text.lastIndexOf(KEY_URL_PATH);
  return index >= 0 ? text.slice(index + KEY_URL_PATH.length) : text;
}
