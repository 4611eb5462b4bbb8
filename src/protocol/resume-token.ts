import { createHmac, timingSafeEqual } from 'node:crypto';

const DOMAIN = 'atlas-resume-v1|';

/**
 * Returns the token a master hands a client in ClientWelcome. Client ids are
 * visible to other clients (queue entries, session peers), so taking over an
 * online client's id needs this token. Any master holding the cluster session
 * key can compute it, so it stays valid across a master failover.
 */
export function resumeToken(sessionKey: Uint8Array, clientId: string): Buffer {
  return createHmac('sha256', sessionKey).update(DOMAIN).update(clientId).digest();
}

/** Checks a presented token in constant time. */
export function verifyResumeToken(sessionKey: Uint8Array, clientId: string, token: Uint8Array | null | undefined): boolean {
  if (token == null) return false;
  const expected = resumeToken(sessionKey, clientId);
  return token.length === expected.length && timingSafeEqual(token, expected);
}
