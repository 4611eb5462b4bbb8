import { StunDecodeError, type StunAttribute } from './codec.js';
import {
  MAX_REASON_PHRASE_BYTES,
  MAX_SOFTWARE_BYTES,
  MAX_USERNAME_BYTES,
  STUN_MAGIC_COOKIE,
  STUN_TRANSACTION_ID_LENGTH,
  StunAttributeType,
} from './constants.js';
import { formatIpAddress, parseIpAddress, type IpFamily } from './ip-address.js';

/** An IP address and UDP port, as MAPPED-ADDRESS and XOR-MAPPED-ADDRESS carry them. */
export interface TransportAddress {
  family: IpFamily;
  address: string;
  port: number;
}

/** Address family codes in the address attributes (RFC 5389 section 15.1). */
const FAMILY_CODES: Record<IpFamily, number> = { IPv4: 0x01, IPv6: 0x02 };

/** Length of the family and port fields in front of the address bytes. */
const ADDRESS_FIELDS_LENGTH = 4;

/** Error-code values must be 300-699: the hundreds digit is 3-6 (RFC 5389 section 15.6). */
const MIN_ERROR_CODE = 300;
const MAX_ERROR_CODE = 699;

/** Maximum SOFTWARE and reason phrase length in characters: fewer than 128 (RFC 5389 sections 15.6 and 15.10). */
const MAX_TEXT_CHARACTERS = 127;

function encodeAddressValue(transportAddress: TransportAddress): Buffer {
  const parsed = parseIpAddress(transportAddress.address);
  if (parsed === undefined) {
    throw new TypeError(`address "${transportAddress.address}" is not an IPv4 or IPv6 address`);
  }
  if (!Number.isInteger(transportAddress.port) || transportAddress.port < 0 || transportAddress.port > 0xffff) {
    throw new RangeError(`port must be an integer 0-65535, got ${transportAddress.port}`);
  }
  const value = Buffer.alloc(ADDRESS_FIELDS_LENGTH + parsed.bytes.length);
  value.writeUInt8(FAMILY_CODES[parsed.family], 1);
  value.writeUInt16BE(transportAddress.port, 2);
  parsed.bytes.copy(value, ADDRESS_FIELDS_LENGTH);
  return value;
}

function decodeAddressValue(value: Buffer, attributeName: string): TransportAddress {
  if (value.length < ADDRESS_FIELDS_LENGTH) {
    throw new StunDecodeError('bad-address', `${attributeName} is ${value.length} bytes long, too short for family and port`);
  }
  const familyCode = value.readUInt8(1);
  let family: IpFamily;
  if (familyCode === FAMILY_CODES.IPv4) {
    family = 'IPv4';
  } else if (familyCode === FAMILY_CODES.IPv6) {
    family = 'IPv6';
  } else {
    throw new StunDecodeError('bad-address', `${attributeName} has address family 0x${familyCode.toString(16)}, expected 0x01 or 0x02`);
  }
  const addressLength = family === 'IPv4' ? 4 : 16;
  if (value.length !== ADDRESS_FIELDS_LENGTH + addressLength) {
    throw new StunDecodeError('bad-address', `${attributeName} for ${family} is ${value.length} bytes long, expected ${ADDRESS_FIELDS_LENGTH + addressLength}`);
  }
  return { family, port: value.readUInt16BE(2), address: formatIpAddress(value.subarray(ADDRESS_FIELDS_LENGTH)) };
}

/**
 * Returns a copy of an address value with the port XORed with the top 16 bits of the magic
 * cookie and the address XORed with the magic cookie followed by the transaction ID (RFC 5389 section 15.2).
 */
function xorAddressValue(value: Buffer, transactionId: Buffer): Buffer {
  if (transactionId.length !== STUN_TRANSACTION_ID_LENGTH) {
    throw new RangeError(`transaction ID must be ${STUN_TRANSACTION_ID_LENGTH} bytes, got ${transactionId.length}`);
  }
  const mask = Buffer.alloc(4 + STUN_TRANSACTION_ID_LENGTH);
  mask.writeUInt32BE(STUN_MAGIC_COOKIE, 0);
  transactionId.copy(mask, 4);
  const result = Buffer.from(value);
  result.writeUInt16BE(result.readUInt16BE(2) ^ (STUN_MAGIC_COOKIE >>> 16), 2);
  for (let index = ADDRESS_FIELDS_LENGTH; index < result.length; index++) {
    result[index] = (result[index] ?? 0) ^ (mask[index - ADDRESS_FIELDS_LENGTH] ?? 0);
  }
  return result;
}

/** Builds MAPPED-ADDRESS (RFC 5389 section 15.1). */
export function mappedAddressAttribute(transportAddress: TransportAddress): StunAttribute {
  return { type: StunAttributeType.mappedAddress, value: encodeAddressValue(transportAddress) };
}

/** Decodes a MAPPED-ADDRESS value. Throws StunDecodeError on a bad family or length. */
export function decodeMappedAddress(value: Buffer): TransportAddress {
  return decodeAddressValue(value, 'MAPPED-ADDRESS');
}

/** Builds XOR-MAPPED-ADDRESS for the message with this transaction ID (RFC 5389 section 15.2). */
export function xorMappedAddressAttribute(transportAddress: TransportAddress, transactionId: Buffer): StunAttribute {
  return { type: StunAttributeType.xorMappedAddress, value: xorAddressValue(encodeAddressValue(transportAddress), transactionId) };
}

/** Decodes an XOR-MAPPED-ADDRESS value of the message with this transaction ID. Throws StunDecodeError on a bad family or length. */
export function decodeXorMappedAddress(value: Buffer, transactionId: Buffer): TransportAddress {
  decodeAddressValue(value, 'XOR-MAPPED-ADDRESS');
  return decodeAddressValue(xorAddressValue(value, transactionId), 'XOR-MAPPED-ADDRESS');
}

/** Error code and reason phrase of an ERROR-CODE attribute. */
export interface StunErrorCodeValue {
  code: number;
  reason: string;
}

/** Builds ERROR-CODE: the hundreds digit as "Class", the rest as "Number", then the reason phrase (RFC 5389 section 15.6). */
export function errorCodeAttribute(error: StunErrorCodeValue): StunAttribute {
  if (!Number.isInteger(error.code) || error.code < MIN_ERROR_CODE || error.code > MAX_ERROR_CODE) {
    throw new RangeError(`STUN error code must be an integer ${MIN_ERROR_CODE}-${MAX_ERROR_CODE}, got ${error.code}`);
  }
  const reason = encodeText(error.reason, 'ERROR-CODE reason phrase', MAX_REASON_PHRASE_BYTES, MAX_TEXT_CHARACTERS);
  const value = Buffer.alloc(4 + reason.length);
  value.writeUInt8(Math.floor(error.code / 100), 2);
  value.writeUInt8(error.code % 100, 3);
  reason.copy(value, 4);
  return { type: StunAttributeType.errorCode, value };
}

/** Decodes an ERROR-CODE value. Throws StunDecodeError when it is too short or the code is outside 300-699. */
export function decodeErrorCode(value: Buffer): StunErrorCodeValue {
  if (value.length < 4) {
    throw new StunDecodeError('bad-error-code', `ERROR-CODE is ${value.length} bytes long, expected at least 4`);
  }
  const errorClass = value.readUInt8(2) & 0x07;
  const errorNumber = value.readUInt8(3);
  const code = errorClass * 100 + errorNumber;
  if (errorNumber > 99 || code < MIN_ERROR_CODE || code > MAX_ERROR_CODE) {
    throw new StunDecodeError('bad-error-code', `ERROR-CODE class ${errorClass} and number ${errorNumber} do not form a code ${MIN_ERROR_CODE}-${MAX_ERROR_CODE}`);
  }
  return { code, reason: value.subarray(4).toString('utf8') };
}

/** Builds UNKNOWN-ATTRIBUTES listing 16-bit attribute types (RFC 5389 section 15.9). */
export function unknownAttributesAttribute(attributeTypes: readonly number[]): StunAttribute {
  const value = Buffer.alloc(attributeTypes.length * 2);
  attributeTypes.forEach((attributeType, index) => value.writeUInt16BE(attributeType, index * 2));
  return { type: StunAttributeType.unknownAttributes, value };
}

/** Decodes an UNKNOWN-ATTRIBUTES value. Throws StunDecodeError when its length is odd. */
export function decodeUnknownAttributes(value: Buffer): number[] {
  if (value.length % 2 !== 0) {
    throw new StunDecodeError('bad-unknown-attributes', `UNKNOWN-ATTRIBUTES is ${value.length} bytes long, expected a multiple of 2`);
  }
  const attributeTypes: number[] = [];
  for (let offset = 0; offset < value.length; offset += 2) {
    attributeTypes.push(value.readUInt16BE(offset));
  }
  return attributeTypes;
}

/** Builds SOFTWARE (RFC 5389 section 15.10): fewer than 128 characters of UTF-8 text. */
export function softwareAttribute(software: string): StunAttribute {
  return { type: StunAttributeType.software, value: encodeText(software, 'SOFTWARE', MAX_SOFTWARE_BYTES, MAX_TEXT_CHARACTERS) };
}

/** Builds USERNAME (RFC 5389 section 15.3): UTF-8 text of less than 513 bytes. */
export function usernameAttribute(username: string): StunAttribute {
  return { type: StunAttributeType.username, value: encodeText(username, 'USERNAME', MAX_USERNAME_BYTES) };
}

/** Decodes a UTF-8 text attribute such as SOFTWARE, USERNAME, REALM or NONCE. */
export function decodeText(value: Buffer): string {
  return value.toString('utf8');
}

function encodeText(text: string, attributeName: string, maxBytes: number, maxCharacters = Infinity): Buffer {
  const encoded = Buffer.from(text, 'utf8');
  const characters = [...text].length;
  if (encoded.length > maxBytes || characters > maxCharacters) {
    const limit = Number.isFinite(maxCharacters) ? `${maxCharacters} characters and ${maxBytes} bytes` : `${maxBytes} bytes`;
    throw new RangeError(`${attributeName} is ${characters} characters and ${encoded.length} bytes long, maximum ${limit}`);
  }
  return encoded;
}
