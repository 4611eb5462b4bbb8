import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** IPv4 network prefix in numeric form. */
export interface Ipv4Prefix {
  /** The prefix as written in the configuration. */
  text: string;
  /** Network address as an unsigned 32-bit integer, host bits cleared. */
  network: number;
  length: number;
}

/** Converts dotted-decimal IPv4 text to an unsigned 32-bit integer, or undefined when the text is no IPv4 address. */
export function ipv4ToNumber(address: string): number | undefined {
  if (!isIPv4(address)) return undefined;
  const octets = address.split('.').map(Number);
  return (((octets[0] ?? 0) << 24) | ((octets[1] ?? 0) << 16) | ((octets[2] ?? 0) << 8) | (octets[3] ?? 0)) >>> 0;
}

/** Strips the `::ffff:` prefix that a dual-stack socket puts before an IPv4 client address. */
export function unmapIpv4(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function maskOf(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/**
 * Parses `a.b.c.d/len` (len an integer 0-32) or a bare `a.b.c.d`, which means /32.
 * Returns an error text naming the value and the expected form instead of throwing.
 */
export function parseIpv4Prefix(text: string): Ipv4Prefix | string {
  const [address = '', lengthText, extra] = text.split('/');
  if (extra !== undefined) return `invalid prefix "${text}": expected a.b.c.d or a.b.c.d/len`;

  const numeric = ipv4ToNumber(address);
  if (numeric === undefined) return `invalid prefix "${text}": "${address}" is not an IPv4 address`;

  let length = 32;
  if (lengthText !== undefined) {
    if (!/^\d{1,2}$/.test(lengthText) || Number(lengthText) > 32) {
      return `invalid prefix "${text}": the length "${lengthText}" must be an integer from 0 to 32`;
    }
    length = Number(lengthText);
  }
  return { text, network: (numeric & maskOf(length)) >>> 0, length };
}

/** True when the numeric IPv4 address lies inside the prefix. */
export function prefixContains(prefix: Ipv4Prefix, address: number): boolean {
  return ((address & maskOf(prefix.length)) >>> 0) === prefix.network;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for an IPv4 address in 127.0.0.0/8 (plain or IPv4-mapped) or the IPv6 loopback ::1. */
export function isLoopbackAddress(address: string): boolean {
  if (isIPv4(address)) return LOOPBACK.check(address, 'ipv4');
  return isIPv6(address) && LOOPBACK.check(address, 'ipv6');
}
