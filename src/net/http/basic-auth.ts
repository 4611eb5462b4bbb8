import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../logging/logger.js';
import { verifySecret } from '../../util/scrypt-hash.js';
import type { Authenticator } from './router.js';

/** Realm named in the WWW-Authenticate header of the admin API. */
export const ADMIN_REALM = 'atlas-sim admin';
/** Time a verified credential is remembered, so a burst of requests costs one scrypt run. */
export const DEFAULT_CREDENTIAL_CACHE_MS = 5 * 60_000;
const MAX_CACHED_CREDENTIALS = 16;

/** One account of the admin API. */
export interface AdminAccount {
  username: string;
  /** scrypt hash of the password, `scrypt$N$r$p$salt$key`. */
  passwordHash: string;
}

export interface BasicAuthOptions {
  realm?: string;
  cacheMs?: number;
}

/**
 * Creates an Authenticator for HTTP Basic authentication (RFC 7617) against
 * one account. Verified credentials are remembered for `cacheMs` as an HMAC
 * under a per-process random key, never as the password itself. Failures are
 * logged with the user name and the client address, never the password.
 * Without an account every request is rejected.
 */
export function createBasicAuthenticator(deps: { logger: Logger }, account: AdminAccount | undefined, options: BasicAuthOptions = {}): Authenticator {
  const realm = options.realm ?? ADMIN_REALM;
  const challenge = `Basic realm="${realm}", charset="UTF-8"`;
  const cacheMs = options.cacheMs ?? DEFAULT_CREDENTIAL_CACHE_MS;
  const cacheKey = randomBytes(32);
  const verified = new Map<string, number>();
  let failures = 0;

  const reject = (reason: string): { ok: false; challenge: string; reason: string } => ({ ok: false, challenge, reason });

  return async (request: IncomingMessage) => {
    if (account === undefined) return reject('no admin account is configured on this appliance');
    const credentials = parseBasicHeader(request.headers.authorization);
    if (credentials === undefined) return reject('send HTTP Basic credentials of the admin account');

    const digest = createHmac('sha256', cacheKey).update(credentials.username).update('\0').update(credentials.password).digest('base64');
    const nowMs = Date.now();
    if ((verified.get(digest) ?? 0) > nowMs) return { ok: true, principal: credentials.username };

    const userMatches = safeEqual(credentials.username, account.username);
    const passwordMatches = await verifySecret(credentials.password, account.passwordHash);
    if (!userMatches || !passwordMatches) {
      failures += 1;
      deps.logger.warn({ username: credentials.username, peer: request.socket.remoteAddress, failures }, 'admin authentication failed');
      return reject('user name or password is wrong');
    }

    if (verified.size >= MAX_CACHED_CREDENTIALS) verified.clear();
    verified.set(digest, nowMs + cacheMs);
    return { ok: true, principal: credentials.username };
  };
}

/** Parses `Authorization: Basic <base64 user:password>`; undefined when absent or malformed. */
export function parseBasicHeader(header: string | undefined): { username: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Builds the Authorization header value for HTTP Basic authentication. */
export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
