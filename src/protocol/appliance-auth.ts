import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Mutual challenge-response over the inter-appliance pre-shared key. The
 * accepting side sends a nonce; the connecting side answers with its own nonce
 * and a MAC; the accepting side answers with a MAC over the nonces in the
 * other order. The key itself never travels. Each MAC binds the role, both
 * nonces and both names, so a MAC cannot be reflected back to its sender.
 */
export const APPLIANCE_NONCE_BYTES = 32;

const DOMAIN = 'atlas-appliance-v1';

export type AuthSide = 'connector' | 'acceptor';

export interface AuthTranscript {
  /** Nonce sent by the accepting side in its challenge. */
  acceptorNonce: Uint8Array;
  /** Nonce sent by the connecting side with its proof. */
  connectorNonce: Uint8Array;
  acceptorName: string;
  connectorName: string;
}

export function createNonce(): Buffer {
  return randomBytes(APPLIANCE_NONCE_BYTES);
}

/** MAC that `side` sends to prove it holds the key. */
export function applianceMac(psk: Uint8Array, side: AuthSide, transcript: AuthTranscript): Buffer {
  const hmac = createHmac('sha256', psk);
  hmac.update(`${DOMAIN}|${side}|${transcript.connectorName}|${transcript.acceptorName}|`);
  if (side === 'connector') {
    hmac.update(transcript.acceptorNonce).update(transcript.connectorNonce);
  } else {
    hmac.update(transcript.connectorNonce).update(transcript.acceptorNonce);
  }
  return hmac.digest();
}

/** Checks a received MAC in constant time. */
export function verifyApplianceMac(psk: Uint8Array, side: AuthSide, transcript: AuthTranscript, mac: Uint8Array | null | undefined): boolean {
  if (mac == null) return false;
  const expected = applianceMac(psk, side, transcript);
  return mac.length === expected.length && timingSafeEqual(mac, expected);
}
