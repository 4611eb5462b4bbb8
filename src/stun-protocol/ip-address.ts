import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 'IPv4' | 'IPv6';

/** An IP address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
export interface IpAddressBytes {
  family: IpFamily;
  bytes: Buffer;
}

const IPV4_MAPPED_PREFIX = '::ffff:';

/** Parses a textual IPv4 or IPv6 address, or returns undefined when the text is neither. Zone ids are rejected. */
export function parseIpAddress(text: string): IpAddressBytes | undefined {
  if (isIPv4(text)) {
    return { family: 'IPv4', bytes: Buffer.from(text.split('.').map(Number)) };
  }
  if (!isIPv6(text) || text.includes('%')) {
    return undefined;
  }
  return { family: 'IPv6', bytes: parseIpv6(text) };
}

/** Converts validated IPv6 text, including the `::` shorthand and a dotted IPv4 tail, to 16 bytes. */
function parseIpv6(text: string): Buffer {
  let groupsText = text;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const ipv4 = text.slice(lastColon + 1).split('.').map(Number);
    tail.push(((ipv4[0] ?? 0) << 8) | (ipv4[1] ?? 0), ((ipv4[2] ?? 0) << 8) | (ipv4[3] ?? 0));
    groupsText = text.slice(0, lastColon + 1) + '0';
  }

  const [head = '', rest] = groupsText.split('::');
  const toGroups = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  let groups = toGroups(head);
  if (rest !== undefined) {
    const restGroups = toGroups(rest);
    const missing = 8 - groups.length - restGroups.length - (tail.length > 0 ? 1 : 0);
    groups = [...groups, ...new Array<number>(missing).fill(0), ...restGroups];
  }
  if (tail.length > 0) {
    groups = [...groups.slice(0, -1), ...tail];
  }

  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(group, index * 2));
  return bytes;
}

/** Formats 4 bytes as dotted decimal, or 16 bytes as the canonical IPv6 text of RFC 5952 section 4. */
export function formatIpAddress(bytes: Buffer): string {
  if (bytes.length === 4) {
    return Array.from(bytes).join('.');
  }
  if (bytes.length !== 16) {
    throw new RangeError(`IP address must be 4 or 16 bytes long, got ${bytes.length}`);
  }
  const groups: number[] = [];
  for (let offset = 0; offset < 16; offset += 2) {
    groups.push(bytes.readUInt16BE(offset));
  }
  if (groups.slice(0, 6).every((group, index) => group === (index === 5 ? 0xffff : 0))) {
    return IPV4_MAPPED_PREFIX + formatIpAddress(bytes.subarray(12));
  }

  // RFC 5952 section 4.2: "::" replaces the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) {
      length++;
    }
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) {
    return hex.join(':');
  }
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** Returns the IPv4 text inside an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), or the address unchanged. */
export function unmapIpv4Address(address: string): string {
  const lower = address.toLowerCase();
  if (lower.startsWith(IPV4_MAPPED_PREFIX) && isIPv4(lower.slice(IPV4_MAPPED_PREFIX.length))) {
    return lower.slice(IPV4_MAPPED_PREFIX.length);
  }
  return address;
}

/** Returns whether the text is an address in 127.0.0.0/8 or the IPv6 loopback address ::1. */
export function isLoopbackAddress(text: string): boolean {
  const parsed = parseIpAddress(text);
  if (parsed === undefined) {
    return false;
  }
  if (parsed.family === 'IPv4') {
    return parsed.bytes[0] === 127;
  }
  return parsed.bytes.subarray(0, 15).every((byte) => byte === 0) && parsed.bytes[15] === 1;
}
