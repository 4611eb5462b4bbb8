/**
 * Routing table of the anycast router: source prefix to traffic node, with a
 * default node. The longest prefix containing the client's IPv4 address wins;
 * a client that no prefix contains, or whose address is IPv6, goes to the default.
 */
import { isLoopback } from '../config/node-config.js';
import type { SocketAddress } from '../netfault/address.js';
import { parseClientAddress, parsePrefixText, prefixContains, type Ipv4Prefix } from '../routing/prefix.js';
import { ConfigError } from '../util/errors.js';

/** A traffic node that the router forwards to. */
export interface AnycastTarget {
  /** Traffic node name, for logs and status. */
  node: string;
  address: string;
  port: number;
}

export interface AnycastRoute extends AnycastTarget {
  prefix: Ipv4Prefix;
  /** 1-based position in the `routes` list. */
  line: number;
}

export interface RouteDecision {
  node: string;
  target: SocketAddress;
  /** `prefix` when a route matched, `default` otherwise. */
  reason: 'prefix' | 'default';
  /** Matched prefix in canonical form, for reason `prefix`. */
  prefix?: string;
}

/** Error for an invalid routing table entry; the message names the line, the field and the value. */
export class RouteTableError extends ConfigError {
  override name = 'RouteTableError';
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, problem: string) {
    super(`${field} is ${formatValue(value)}; ${problem}`);
    this.field = field;
    this.value = value;
  }
}

export class RouteTable {
  /** Routes ordered by prefix length, longest first, so the first match is the longest. */
  private readonly byLength: readonly AnycastRoute[];

  constructor(
    readonly routes: readonly AnycastRoute[],
    readonly defaultTarget: AnycastTarget,
  ) {
    this.byLength = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** Chooses the traffic node for a client IP (IPv4, IPv4-mapped IPv6 or IPv6). */
  choose(clientIp: string): RouteDecision {
    const address = parseClientAddress(clientIp);
    if (address !== null) {
      const route = this.byLength.find((candidate) => prefixContains(candidate.prefix, address));
      if (route !== undefined) {
        return { node: route.node, target: { address: route.address, port: route.port }, reason: 'prefix', prefix: route.prefix.text };
      }
    }
    const fallback = this.defaultTarget;
    return { node: fallback.node, target: { address: fallback.address, port: fallback.port }, reason: 'default' };
  }
}

/**
 * Validates the `routes` list and the `default` target of an anycast
 * configuration. Throws RouteTableError naming the first invalid line
 * (`routes line 2 (routes[1]).prefix`), its value and what is expected.
 */
export function parseRouteTable(routes: unknown, defaultTarget: unknown): RouteTable {
  if (!Array.isArray(routes)) {
    throw new RouteTableError('routes', routes, 'expected a list of { prefix, target: { address, port }, node }, possibly empty');
  }
  const parsed = routes.map((entry: unknown, index) => parseRoute(entry, index));
  rejectDuplicatePrefixes(parsed);
  return new RouteTable(parsed, parseDefault(defaultTarget));
}

function parseRoute(entry: unknown, index: number): AnycastRoute {
  const line = index + 1;
  const label = `routes line ${line} (routes[${index}])`;
  if (!isRecord(entry)) {
    throw new RouteTableError(label, entry, 'expected an object { prefix, target: { address, port }, node }');
  }
  rejectUnknownFields(entry, ['prefix', 'target', 'node'], label);
  const prefix = parsePrefixText(entry.prefix);
  if (typeof prefix === 'string') {
    throw new RouteTableError(`${label}.prefix`, entry.prefix, `not a valid prefix: ${prefix}`);
  }
  const target = parseEndpoint(entry.target, `${label}.target`, ['address', 'port']);
  const node = parseNodeName(entry.node, `${label}.node`);
  return { node, ...target, prefix, line };
}

function parseDefault(value: unknown): AnycastTarget {
  const target = parseEndpoint(value, 'default', ['address', 'port', 'node']);
  const node = parseNodeName((value as Record<string, unknown>).node, 'default.node');
  return { node, ...target };
}

function parseEndpoint(value: unknown, field: string, known: readonly string[]): SocketAddress {
  if (!isRecord(value)) {
    throw new RouteTableError(field, value, `expected an object { ${known.join(', ')} }`);
  }
  rejectUnknownFields(value, known, field);
  if (!isLoopback(value.address)) {
    throw new RouteTableError(`${field}.address`, value.address, 'expected a loopback IP address in 127.0.0.0/8 or ::1 where the traffic node listens');
  }
  const port = value.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RouteTableError(`${field}.port`, port, 'expected an integer 1-65535');
  }
  return { address: value.address, port };
}

function parseNodeName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new RouteTableError(field, value, 'expected the traffic node name, such as "eu-traffic1"');
  }
  return value;
}

function rejectDuplicatePrefixes(routes: readonly AnycastRoute[]): void {
  const seen = new Map<string, AnycastRoute>();
  for (const route of routes) {
    const earlier = seen.get(route.prefix.text);
    if (earlier !== undefined) {
      throw new RouteTableError(
        `routes line ${route.line} (routes[${route.line - 1}]).prefix`,
        route.prefix.text,
        `line ${earlier.line} has the same prefix; keep one of the two lines`,
      );
    }
    seen.set(route.prefix.text, route);
  }
}

function rejectUnknownFields(record: Record<string, unknown>, known: readonly string[], field: string): void {
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) {
      throw new RouteTableError(`${field}.${key}`, record[key], `unknown field; expected only ${known.join(', ')}`);
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? `a ${typeof value}`;
  } catch {
    return `a ${typeof value} that cannot be shown as JSON`;
  }
}
