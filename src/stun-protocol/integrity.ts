import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { DecodedStunAttribute, DecodedStunMessage } from './codec.js';
import {
  FINGERPRINT_LENGTH,
  MESSAGE_INTEGRITY_LENGTH,
  STUN_ATTRIBUTE_HEADER_LENGTH,
  STUN_FINGERPRINT_XOR,
  STUN_HEADER_LENGTH,
} from './constants.js';
import { saslprep } from './saslprep.js';

/** Computes the MESSAGE-INTEGRITY value: HMAC-SHA1 over `prefix`, whose length field the caller has already adjusted. */
export function computeMessageIntegrity(prefix: Buffer, key: Buffer): Buffer {
  return createHmac('sha1', key).update(prefix).digest();
}

/** Computes the FINGERPRINT value: CRC-32 of `prefix` XOR 0x5354554e, as 4 bytes in network order. */
export function computeFingerprintValue(prefix: Buffer): Buffer {
  const value = Buffer.alloc(FINGERPRINT_LENGTH);
  value.writeUInt32BE((crc32(prefix) ^ STUN_FINGERPRINT_XOR) >>> 0, 0);
  return value;
}

/**
 * Copies the received bytes in front of `attribute` and sets the header length as if the
 * message ended right after that attribute. RFC 5389 sections 15.4 and 15.5 define
 * MESSAGE-INTEGRITY and FINGERPRINT over exactly these bytes, so a receiver works on what
 * arrived (including non-zero padding) and never re-encodes.
 */
function prefixBefore(message: DecodedStunMessage, attribute: DecodedStunAttribute, valueLength: number): Buffer {
  const prefix = Buffer.from(message.raw.subarray(0, attribute.offset));
  prefix.writeUInt16BE(attribute.offset - STUN_HEADER_LENGTH + STUN_ATTRIBUTE_HEADER_LENGTH + valueLength, 2);
  return prefix;
}

/**
 * Verifies MESSAGE-INTEGRITY of a received message over its raw bytes (RFC 5389 section 15.4).
 * Returns false when the attribute is absent or the HMAC differs.
 */
export function verifyMessageIntegrity(message: DecodedStunMessage, key: Buffer): boolean {
  const attribute = message.messageIntegrity;
  if (attribute === undefined) {
    return false;
  }
  const expected = computeMessageIntegrity(prefixBefore(message, attribute, MESSAGE_INTEGRITY_LENGTH), key);
  return timingSafeEqual(expected, attribute.value);
}

/**
 * Verifies FINGERPRINT of a received message over its raw bytes (RFC 5389 section 15.5).
 * Returns false when the attribute is absent or the CRC differs.
 */
export function verifyFingerprint(message: DecodedStunMessage): boolean {
  const attribute = message.fingerprint;
  if (attribute === undefined) {
    return false;
  }
  return computeFingerprintValue(prefixBefore(message, attribute, FINGERPRINT_LENGTH)).equals(attribute.value);
}

/** Derives the short-term credential key: the SASLprep-processed password in UTF-8 (RFC 5389 section 15.4). */
export function shortTermKey(password: string): Buffer {
  return Buffer.from(saslprep(password), 'utf8');
}

/**
 * Derives the long-term credential key MD5(username ":" realm ":" SASLprep(password))
 * (RFC 5389 section 15.4). Username and realm are used as given, in UTF-8.
 */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${saslprep(password)}`, 'utf8').digest();
}
