import {
  FINGERPRINT_LENGTH,
  MESSAGE_INTEGRITY_LENGTH,
  STUN_ATTRIBUTE_HEADER_LENGTH,
  STUN_HEADER_LENGTH,
  STUN_MAGIC_COOKIE,
  STUN_TRANSACTION_ID_LENGTH,
  StunAttributeType,
  type StunClass,
} from './constants.js';
import { computeFingerprintValue, computeMessageIntegrity } from './integrity.js';

/** One attribute as type and value, without padding. */
export interface StunAttribute {
  type: number;
  value: Buffer;
}

/** An attribute of a received message, with the offset of its type field in the raw bytes. */
export interface DecodedStunAttribute extends StunAttribute {
  offset: number;
}

/** A STUN message to encode. MESSAGE-INTEGRITY and FINGERPRINT are added by the encoder, not listed here. */
export interface StunMessage {
  method: number;
  messageClass: StunClass;
  transactionId: Buffer;
  attributes: StunAttribute[];
}

/**
 * A received message. `attributes` lists the attributes in wire order except those that
 * RFC 5389 section 15.4 requires receivers to ignore: everything after MESSAGE-INTEGRITY other than
 * FINGERPRINT. `raw` is the received datagram, which integrity and fingerprint checks use.
 */
export interface DecodedStunMessage extends StunMessage {
  attributes: DecodedStunAttribute[];
  raw: Buffer;
  messageIntegrity?: DecodedStunAttribute;
  fingerprint?: DecodedStunAttribute;
}

/** Error thrown for bytes that are not a well-formed STUN message. `reason` is a short stable code for counters and logs. */
export class StunDecodeError extends Error {
  override name = 'StunDecodeError';

  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Options of {@link encodeStunMessage}. */
export interface StunEncodeOptions {
  /** HMAC-SHA1 key: appends MESSAGE-INTEGRITY (RFC 5389 section 15.4). */
  integrityKey?: Buffer;
  /** Appends FINGERPRINT as the last attribute (RFC 5389 section 15.5). */
  fingerprint?: boolean;
}

/** Returns the number of padding bytes that align a value of this length to 4 bytes. */
export function paddingLength(valueLength: number): number {
  return (4 - (valueLength % 4)) % 4;
}

/**
 * Computes the 14-bit message type from method and class: the class bits C1 and C0 sit at
 * bits 8 and 4 between the method bits (RFC 5389 section 6, figure 3).
 */
export function encodeMessageType(method: number, messageClass: StunClass): number {
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) {
    throw new RangeError(`STUN method must be an integer 0x000-0xFFF, got ${method}`);
  }
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((messageClass & 0b01) << 4) |
    ((messageClass & 0b10) << 7)
  );
}

/** Splits a 14-bit message type into method and class (the inverse of {@link encodeMessageType}). */
export function decodeMessageType(messageType: number): { method: number; messageClass: StunClass } {
  const method = (messageType & 0x000f) | ((messageType & 0x00e0) >> 1) | ((messageType & 0x3e00) >> 2);
  const messageClass = (((messageType >> 4) & 0b01) | ((messageType >> 7) & 0b10)) as StunClass;
  return { method, messageClass };
}

/**
 * Decodes one STUN message from a received UDP datagram. Checks the header as RFC 5389
 * sections 6 and 7.3 describe (top two bits zero, magic cookie, a length that is a multiple
 * of 4) and that every attribute fits in the message. The length must also equal the datagram
 * length minus the header, because a UDP datagram carries exactly one message.
 * Padding bytes are skipped without looking at them.
 * Throws StunDecodeError on any violation. Integrity and fingerprint are checked
 * separately by verifyMessageIntegrity and verifyFingerprint.
 */
export function decodeStunMessage(datagram: Buffer): DecodedStunMessage {
  const header = decodeHeader(datagram);
  const message: DecodedStunMessage = { ...header, attributes: [], raw: datagram };

  let offset = STUN_HEADER_LENGTH;
  while (offset < datagram.length) {
    const attribute = decodeAttributeAt(datagram, offset);
    offset += STUN_ATTRIBUTE_HEADER_LENGTH + attribute.value.length + paddingLength(attribute.value.length);
    addAttribute(message, attribute);
  }
  return message;
}

function decodeHeader(datagram: Buffer): Omit<StunMessage, 'attributes'> {
  if (datagram.length < STUN_HEADER_LENGTH) {
    throw new StunDecodeError('short-header', `STUN message is ${datagram.length} bytes, shorter than the ${STUN_HEADER_LENGTH}-byte header`);
  }
  const messageType = datagram.readUInt16BE(0);
  if ((messageType & 0xc000) !== 0) {
    throw new StunDecodeError('not-stun', `first two bits of the message type 0x${messageType.toString(16)} must be zero`);
  }
  const cookie = datagram.readUInt32BE(4);
  if (cookie !== STUN_MAGIC_COOKIE) {
    throw new StunDecodeError('bad-cookie', `magic cookie is 0x${cookie.toString(16)}, expected 0x${STUN_MAGIC_COOKIE.toString(16)}`);
  }
  const length = datagram.readUInt16BE(2);
  if (length % 4 !== 0) {
    throw new StunDecodeError('bad-length', `message length ${length} is not a multiple of 4`);
  }
  if (length !== datagram.length - STUN_HEADER_LENGTH) {
    throw new StunDecodeError(
      length > datagram.length - STUN_HEADER_LENGTH ? 'truncated' : 'trailing-bytes',
      `message length field is ${length} but the datagram carries ${datagram.length - STUN_HEADER_LENGTH} bytes after the header`,
    );
  }
  const transactionId = Buffer.from(datagram.subarray(8, 8 + STUN_TRANSACTION_ID_LENGTH));
  return { ...decodeMessageType(messageType), transactionId };
}

function decodeAttributeAt(datagram: Buffer, offset: number): DecodedStunAttribute {
  if (offset + STUN_ATTRIBUTE_HEADER_LENGTH > datagram.length) {
    throw new StunDecodeError('attribute-overrun', `attribute header at offset ${offset} runs past the end of the message`);
  }
  const type = datagram.readUInt16BE(offset);
  const valueLength = datagram.readUInt16BE(offset + 2);
  const valueStart = offset + STUN_ATTRIBUTE_HEADER_LENGTH;
  if (valueStart + valueLength + paddingLength(valueLength) > datagram.length) {
    throw new StunDecodeError(
      'attribute-overrun',
      `attribute 0x${type.toString(16).padStart(4, '0')} at offset ${offset} with length ${valueLength} runs past the end of the message`,
    );
  }
  return { type, value: datagram.subarray(valueStart, valueStart + valueLength), offset };
}

/** Applies the ordering rules of RFC 5389 sections 15.4 and 15.5 while collecting attributes. */
function addAttribute(message: DecodedStunMessage, attribute: DecodedStunAttribute): void {
  const hexType = `0x${attribute.type.toString(16).padStart(4, '0')}`;
  if (message.fingerprint !== undefined) {
    throw new StunDecodeError('after-fingerprint', `attribute ${hexType} follows FINGERPRINT, which must be the last attribute`);
  }
  if (attribute.type === StunAttributeType.fingerprint) {
    if (attribute.value.length !== FINGERPRINT_LENGTH) {
      throw new StunDecodeError('bad-fingerprint-length', `FINGERPRINT is ${attribute.value.length} bytes long, expected ${FINGERPRINT_LENGTH}`);
    }
    message.fingerprint = attribute;
    message.attributes.push(attribute);
    return;
  }
  if (message.messageIntegrity !== undefined) {
    return;
  }
  if (attribute.type === StunAttributeType.messageIntegrity) {
    if (attribute.value.length !== MESSAGE_INTEGRITY_LENGTH) {
      throw new StunDecodeError(
        'bad-integrity-length',
        `MESSAGE-INTEGRITY is ${attribute.value.length} bytes long, expected ${MESSAGE_INTEGRITY_LENGTH}`,
      );
    }
    message.messageIntegrity = attribute;
  }
  message.attributes.push(attribute);
}

/** Returns the value of the first attribute of this type, or undefined. */
export function findAttribute(message: { attributes: StunAttribute[] }, type: number): Buffer | undefined {
  return message.attributes.find((attribute) => attribute.type === type)?.value;
}

/**
 * Encodes a message with zero padding. With `integrityKey` it appends MESSAGE-INTEGRITY and
 * with `fingerprint` it appends FINGERPRINT last, each computed as RFC 5389 sections 15.4
 * and 15.5 describe.
 */
export function encodeStunMessage(message: StunMessage, options: StunEncodeOptions = {}): Buffer {
  if (message.transactionId.length !== STUN_TRANSACTION_ID_LENGTH) {
    throw new RangeError(`STUN transaction ID must be ${STUN_TRANSACTION_ID_LENGTH} bytes, got ${message.transactionId.length}`);
  }
  const header = Buffer.alloc(STUN_HEADER_LENGTH);
  header.writeUInt16BE(encodeMessageType(message.method, message.messageClass), 0);
  header.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  message.transactionId.copy(header, 8);

  let encoded: Buffer = Buffer.concat([header, ...message.attributes.map(encodeAttribute)]);
  encoded.writeUInt16BE(encoded.length - STUN_HEADER_LENGTH, 2);
  const integrityKey = options.integrityKey;
  if (integrityKey !== undefined) {
    encoded = appendTrailer(encoded, StunAttributeType.messageIntegrity, (bytes) => computeMessageIntegrity(bytes, integrityKey));
  }
  if (options.fingerprint === true) {
    encoded = appendTrailer(encoded, StunAttributeType.fingerprint, computeFingerprintValue);
  }
  return encoded;
}

/** Encodes one attribute with its zero padding. */
export function encodeAttribute(attribute: StunAttribute): Buffer {
  if (attribute.value.length > 0xffff) {
    throw new RangeError(`STUN attribute 0x${attribute.type.toString(16)} value is ${attribute.value.length} bytes, maximum 65535`);
  }
  const encoded = Buffer.alloc(STUN_ATTRIBUTE_HEADER_LENGTH + attribute.value.length + paddingLength(attribute.value.length));
  encoded.writeUInt16BE(attribute.type, 0);
  encoded.writeUInt16BE(attribute.value.length, 2);
  attribute.value.copy(encoded, STUN_ATTRIBUTE_HEADER_LENGTH);
  return encoded;
}

/**
 * Appends an attribute whose value is computed over the bytes before it, with the header length
 * already covering the new attribute, which is how both MESSAGE-INTEGRITY and FINGERPRINT are defined.
 */
function appendTrailer(encoded: Buffer, type: number, computeValue: (prefix: Buffer) => Buffer): Buffer {
  const prefix = Buffer.from(encoded);
  const placeholderLength = type === StunAttributeType.messageIntegrity ? MESSAGE_INTEGRITY_LENGTH : FINGERPRINT_LENGTH;
  prefix.writeUInt16BE(encoded.length - STUN_HEADER_LENGTH + STUN_ATTRIBUTE_HEADER_LENGTH + placeholderLength, 2);
  return Buffer.concat([prefix, encodeAttribute({ type, value: computeValue(prefix) })]);
}
