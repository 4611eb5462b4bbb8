/**
 * Network address prefixes of traffic nodes: one line per prefix, `a.b.c.d[/mask]`,
 * where the mask is an integer 0-32 or a contiguous dotted-decimal mask such as
 * 255.255.240.0, and a line without a mask is a single address (/32).
 *
 * Parsing is strict, and an error names the node, the 1-based line number, the
 * value and the reason. Rejected: empty lines, whitespace, IPv6, octets above 255,
 * octets with a leading zero (010 reads as octal to some tools and as decimal to
 * others), masks above 32, non-contiguous dotted masks, and host bits set
 * (10.1.2.3/8). Host bits are rejected, not masked, because such a line is usually
 * a typing error. The message gives the network address to write instead.
 */
import { isIPv4, isIPv6 } from 'node:net';

import { ConfigError } from '../util/errors.js';

/** An IPv4 prefix in canonical form. */
export interface Ipv4Prefix {
  /** Network address as an unsigned 32-bit integer, host bits zero. */
  network: number;
  /** Mask length in bits, 0-32. */
  length: number;
  /** Canonical text `a.b.c.d/length`. */
  text: string;
}

/** Location of a prefix line in the cluster configuration. */
export interface PrefixLocation {
  /** Traffic node name. */
  nodeName: string;
  /** 1-based line number within the node's prefix list. */
  line: number;
  /** Configuration field, `prefixes` unless given. */
  field?: string;
}

export const PREFIX_FIELD = 'prefixes';

const MASK_RULE = 'the mask must be 0-32 or a contiguous dotted mask';

/** Error for an invalid prefix line; the message names node, field, line, value and reason. */
export class PrefixError extends ConfigError {
  override name = 'PrefixError';
  readonly nodeName: string;
  readonly field: string;
  readonly line: number;
  readonly value: unknown;
  readonly reason: string;

  constructor(location: PrefixLocation, value: unknown, reason: string) {
    const field = location.field ?? PREFIX_FIELD;
    super(
      `trafficNodes[${location.nodeName}].${field} line ${location.line}: ` +
        `${formatValue(value)} is not a valid prefix; ${reason}`,
    );
    this.nodeName = location.nodeName;
    this.field = field;
    this.line = location.line;
    this.value = value;
    this.reason = reason;
  }
}

/** Parses one prefix line. Throws PrefixError naming the location when the line is invalid. */
export function parsePrefix(value: unknown, location: PrefixLocation): Ipv4Prefix {
  const result = parsePrefixText(value);
  if (typeof result === 'string') {
    throw new PrefixError(location, value, result);
  }
  return result;
}

/**
 * Parses a node's prefix lines in order; line numbers in errors start at 1.
 * An empty list is valid (the node serves no prefix). Throws PrefixError for the first invalid line.
 */
export function parsePrefixList(lines: readonly unknown[], nodeName: string, field = PREFIX_FIELD): Ipv4Prefix[] {
  return lines.map((value, index) => parsePrefix(value, { nodeName, field, line: index + 1 }));
}

/** Parses one prefix line, returning the prefix or the reason it is invalid. */
export function parsePrefixText(value: unknown): Ipv4Prefix | string {
  if (typeof value !== 'string') {
    return 'expected a string such as 10.0.0.0/8';
  }
  if (value === '') {
    return 'the line is empty; remove it or write a.b.c.d[/mask]';
  }
  if (/\s/.test(value)) {
    return 'it contains whitespace; write the prefix without spaces';
  }
  if (value.includes(':')) {
    return 'IPv6 prefixes are not supported; write an IPv4 prefix a.b.c.d[/mask]';
  }

  const parts = value.split('/');
  if (parts.length > 2) {
    return 'it contains more than one "/"; write a.b.c.d[/mask]';
  }
  const [addressText = '', maskText] = parts;

  const network = parseDottedQuad(addressText, 'address');
  if (typeof network === 'string') {
    return network;
  }

  const length = maskText === undefined ? 32 : parseMask(maskText);
  if (typeof length === 'string') {
    return length;
  }

  const maskedNetwork = (network & maskOfLength(length)) >>> 0;
  if (maskedNetwork !== network) {
    return `host bits are set for a /${length} mask; write the network address ${formatIpv4(maskedNetwork)}/${length}`;
  }
  return { network, length, text: `${formatIpv4(network)}/${length}` };
}

/** Returns the mask length of an integer or dotted mask, or the reason it is invalid. */
function parseMask(text: string): number | string {
  if (text === '') {
    return `the mask after "/" is empty; ${MASK_RULE}`;
  }
  if (text.includes('.')) {
    const mask = parseDottedQuad(text, 'mask');
    if (typeof mask === 'string') {
      return mask;
    }
    const hostBits = ~mask >>> 0;
    if ((hostBits & (hostBits + 1)) !== 0) {
      return `mask ${text} is not contiguous; ${MASK_RULE}`;
    }
    return 32 - countBits(hostBits);
  }
  if (!/^\d+$/.test(text)) {
    return MASK_RULE;
  }
  if (text.length > 1 && text.startsWith('0')) {
    return `mask "${text}" has a leading zero; write ${Number(text)}`;
  }
  const length = Number(text);
  if (length > 32) {
    return MASK_RULE;
  }
  return length;
}

/** Parses `a.b.c.d` into an unsigned 32-bit integer, or returns the reason it is invalid. */
function parseDottedQuad(text: string, part: 'address' | 'mask'): number | string {
  const octets = text.split('.');
  if (octets.length !== 4) {
    return `the ${part} must be 4 dot-separated decimal octets`;
  }
  let result = 0;
  for (const octet of octets) {
    if (!/^\d+$/.test(octet)) {
      return `the ${part} must be 4 dot-separated decimal octets, and "${octet}" is not a decimal number`;
    }
    if (octet.length > 1 && octet.startsWith('0')) {
      return `${part} octet "${octet}" has a leading zero, which is ambiguous (octal or decimal); write ${Number(octet)}`;
    }
    const number = Number(octet);
    if (number > 255) {
      return `${part} octet ${octet} is out of range 0-255`;
    }
    result = result * 256 + number;
  }
  return result;
}

/** Mask of `length` leading one bits as an unsigned 32-bit integer. */
export function maskOfLength(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** Formats an unsigned 32-bit integer as `a.b.c.d`. */
export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}

/** Checks whether `prefix` contains `address` (an unsigned 32-bit integer). */
export function prefixContains(prefix: Ipv4Prefix, address: number): boolean {
  return ((address & maskOfLength(prefix.length)) >>> 0) === prefix.network;
}

/**
 * Converts a client address as a socket reports it to an unsigned 32-bit IPv4 address.
 * IPv4-mapped IPv6 (`::ffff:127.20.0.5`, `::ffff:7f14:5`) is unwrapped. Returns null for
 * any other IPv6 address, which matches no prefix. Throws TypeError for text that is not an IP address.
 */
export function parseClientAddress(ip: string): number | null {
  if (isIPv4(ip)) {
    return parseIpv4Strict(ip);
  }
  if (!isIPv6(ip)) {
    throw new TypeError(`client IP ${formatValue(ip)} is not an IPv4 or IPv6 address`);
  }
  const dottedTail = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (dottedTail?.[1] !== undefined && isIPv4(dottedTail[1])) {
    return parseIpv4Strict(dottedTail[1]);
  }
  // The WHATWG URL parser writes IPv6 in canonical compressed form, so every
  // spelling of a mapped address becomes `[::ffff:hhhh:hhhh]`.
  const canonical = new URL(`http://[${ip.replace(/%.*$/, '')}]/`).hostname;
  const hexTail = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(canonical);
  if (hexTail?.[1] === undefined || hexTail[2] === undefined) {
    return null;
  }
  return (parseInt(hexTail[1], 16) * 0x10000 + parseInt(hexTail[2], 16)) >>> 0;
}

/** Parses dotted-decimal text that `isIPv4` accepted. */
function parseIpv4Strict(text: string): number {
  const result = parseDottedQuad(text, 'address');
  if (typeof result === 'string') {
    throw new TypeError(`client IP "${text}" is not a valid IPv4 address; ${result}`);
  }
  return result;
}

function countBits(value: number): number {
  let count = 0;
  for (let rest = value >>> 0; rest !== 0; rest >>>= 1) {
    count += rest & 1;
  }
  return count;
}

function formatValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
