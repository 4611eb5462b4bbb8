import { randomInt } from 'node:crypto';
import type { atlas } from '../protocol/messages.js';

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
 * Session keys of the session generation API, kept by the primary master and
 * replicated to its backup. A key admits one customer client until it
 * expires; the same client may reconnect with it.
 */
export class SessionKeyStore {
  private readonly keys = new Map<string, SessionKey>();
  private changes = 0;

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
    this.changes++;
    return key;
  }

  /** Counter that rises with every change to the keys, so replication can tell when to send them again. */
  get revision(): number {
    return this.changes;
  }

  /** Keys that have not expired, for replication to the backup master. */
  list(nowMs = Date.now()): SessionKey[] {
    return [...this.keys.values()].filter((key) => nowMs < key.expiresAtMs);
  }

  /** Adds keys that the former primary generated (after a takeover). */
  restore(keys: readonly SessionKey[]): void {
    for (const key of keys) this.keys.set(key.shortKey, { ...key });
    if (keys.length > 0) this.changes++;
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
    if (key.redeemedBy === undefined) this.changes++;
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

/** Converts a key to its replication message. */
export function toReplicatedSessionKey(key: SessionKey): atlas.IReplicatedSessionKey {
  return {
    shortKey: key.shortKey,
    keyUrl: key.keyUrl,
    queueId: key.queueId,
    externalKey: key.externalKey,
    createdAtMs: key.createdAtMs,
    expiresAtMs: key.expiresAtMs,
    redeemedBy: key.redeemedBy ?? '',
  };
}

/** Converts a replicated key back; an empty `redeemedBy` means unused. */
export function fromReplicatedSessionKey(message: atlas.IReplicatedSessionKey): SessionKey {
  const key: SessionKey = {
    shortKey: message.shortKey ?? '',
    keyUrl: message.keyUrl ?? '',
    queueId: message.queueId ?? '',
    externalKey: message.externalKey ?? '',
    createdAtMs: Number(message.createdAtMs ?? 0),
    expiresAtMs: Number(message.expiresAtMs ?? 0),
  };
  if (message.redeemedBy) key.redeemedBy = message.redeemedBy;
  return key;
}
