/** STUN header length in bytes (RFC 5389 section 6). */
export const STUN_HEADER_LENGTH = 20;

/** Magic cookie in bytes 4-7 of every RFC 5389 message, which RFC 3489 messages lack. */
export const STUN_MAGIC_COOKIE = 0x2112a442;

/** Transaction ID length in bytes (RFC 5389 section 6). */
export const STUN_TRANSACTION_ID_LENGTH = 12;

/** Length of an attribute's type and length fields, before its value. */
export const STUN_ATTRIBUTE_HEADER_LENGTH = 4;

/** Well-known STUN port for UDP and TCP (RFC 5389 section 9). */
export const DEFAULT_STUN_PORT = 3478;

/** Message classes, the two C bits of the message type (RFC 5389 section 6). */
export const StunClass = {
  request: 0b00,
  indication: 0b01,
  successResponse: 0b10,
  errorResponse: 0b11,
} as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

/** Methods (RFC 5389 section 18.1). Only Binding is implemented. */
export const StunMethod = {
  binding: 0x001,
} as const;

/** Attribute types (RFC 5389 section 18.2, RFC 8489 section 18.3). */
export const StunAttributeType = {
  mappedAddress: 0x0001,
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  unknownAttributes: 0x000a,
  realm: 0x0014,
  nonce: 0x0015,
  messageIntegritySha256: 0x001c,
  passwordAlgorithm: 0x001d,
  userhash: 0x001e,
  xorMappedAddress: 0x0020,
  passwordAlgorithms: 0x8002,
  alternateDomain: 0x8003,
  software: 0x8022,
  alternateServer: 0x8023,
  fingerprint: 0x8028,
} as const;

/**
 * Comprehension-required attribute types (0x0000-0x7FFF) that this code
 * understands well enough not to reject a request for them. A server without
 * authentication ignores the credential attributes, which RFC 5389 section 10
 * allows because authentication is optional per usage.
 */
export const KNOWN_COMPREHENSION_REQUIRED_ATTRIBUTES: ReadonlySet<number> = new Set([
  StunAttributeType.mappedAddress,
  StunAttributeType.username,
  StunAttributeType.messageIntegrity,
  StunAttributeType.errorCode,
  StunAttributeType.unknownAttributes,
  StunAttributeType.realm,
  StunAttributeType.nonce,
  StunAttributeType.messageIntegritySha256,
  StunAttributeType.passwordAlgorithm,
  StunAttributeType.userhash,
  StunAttributeType.xorMappedAddress,
]);

/** Returns whether an attribute type is in the comprehension-required range 0x0000-0x7FFF (RFC 5389 section 15). */
export function isComprehensionRequired(attributeType: number): boolean {
  return attributeType < 0x8000;
}

/** Error codes with their reason phrases from RFC 5389 section 15.6. */
export const StunErrorCode = {
  tryAlternate: 300,
  badRequest: 400,
  unauthorized: 401,
  unknownAttribute: 420,
  staleNonce: 438,
  serverError: 500,
} as const;

/** XOR value of the FINGERPRINT CRC-32, the ASCII bytes "STUN" (RFC 5389 section 15.5). */
export const STUN_FINGERPRINT_XOR = 0x5354554e;

/** MESSAGE-INTEGRITY value length: one HMAC-SHA1 (RFC 5389 section 15.4). */
export const MESSAGE_INTEGRITY_LENGTH = 20;

/** FINGERPRINT value length: one CRC-32 (RFC 5389 section 15.5). */
export const FINGERPRINT_LENGTH = 4;

/** Maximum SOFTWARE length in UTF-8 bytes: fewer than 128 characters of up to 6 bytes (RFC 5389 section 15.10). */
export const MAX_SOFTWARE_BYTES = 763;

/** Maximum USERNAME length in UTF-8 bytes: less than 513 (RFC 5389 section 15.3). */
export const MAX_USERNAME_BYTES = 512;

/** Maximum ERROR-CODE reason phrase length in UTF-8 bytes (RFC 5389 section 15.6). */
export const MAX_REASON_PHRASE_BYTES = 763;
