import { isIP, isIPv4 } from 'node:net';

/** Host and port of a socket endpoint. */
export interface SocketAddress {
  address: string;
  port: number;
}

const MAPPED_DOTTED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/**
 * Converts an address as a socket reports it to the form a client would bind:
 * IPv4-mapped IPv6 (`::ffff:127.20.0.5` or `::ffff:7f14:5`) becomes dotted IPv4,
 * and IPv6 is lower-cased. Throws TypeError for text that is not an IP address.
 */
export function normalizeIp(address: string): string {
  const family = isIP(address);
  if (family === 0) {
    throw new TypeError(`address ${JSON.stringify(address)} is not an IP address`);
  }
  if (family === 4) return address;

  const dotted = MAPPED_DOTTED.exec(address);
  if (dotted?.[1] !== undefined && isIPv4(dotted[1])) return dotted[1];

  const hex = MAPPED_HEX.exec(address);
  if (hex?.[1] !== undefined && hex[2] !== undefined) {
    const high = parseInt(hex[1], 16);
    const low = parseInt(hex[2], 16);
    return `${high >>> 8}.${high & 0xff}.${low >>> 8}.${low & 0xff}`;
  }
  return address.toLowerCase();
}
