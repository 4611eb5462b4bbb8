import type { LookupAddress, LookupOptions, SrvRecord } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { isIP, isIPv6, type LookupFunction } from 'node:net';
import type { Logger } from '../logging/logger.js';

/** Time one lookup may take in total, retries included. */
export const DEFAULT_DNS_TIMEOUT_MS = 3000;
/** Queries c-ares sends before it gives up. The first waits a quarter of the total timeout, and c-ares lengthens the wait on retry. */
const DNS_TRIES = 2;
const MIN_TRY_TIMEOUT_MS = 50;

export interface ClusterDnsClientOptions {
  /** The cluster DNS server, the only server that queries go to. */
  server: { address: string; port: number };
  /** Source address of the queries, which selects the server's view (split horizon). */
  localAddress?: string;
  /** Total time for one lookup, DEFAULT_DNS_TIMEOUT_MS when absent. */
  timeoutMs?: number;
  logger: Logger;
}

/** A failed cluster DNS lookup. `code` is the c-ares code (ENOTFOUND, ENODATA, EREFUSED, ETIMEOUT, ECONNREFUSED, ...). */
export class ClusterDnsError extends Error {
  override name = 'ClusterDnsError';
  readonly syscall: string;

  constructor(
    message: string,
    readonly code: string,
    readonly hostname: string,
    readonly dnsServer: string,
    rrtype: string,
  ) {
    super(message);
    this.syscall = `query${rrtype}`;
  }
}

function serverText(server: { address: string; port: number }): string {
  return isIPv6(server.address) ? `[${server.address}]:${server.port}` : `${server.address}:${server.port}`;
}

function describeFailure(code: string, hostname: string, rrtype: string, server: string, timeoutMs: number): string {
  const prefix = `DNS lookup of ${rrtype} records for "${hostname}" at the cluster DNS server ${server} failed`;
  switch (code) {
    case 'ENOTFOUND':
      return `${prefix}: no such name (NXDOMAIN); check the hostname against the cluster zone`;
    case 'ENODATA':
      return `${prefix}: the name exists but has no ${rrtype} records`;
    case 'EREFUSED':
      return `${prefix}: the server refused the query (REFUSED); it answers only names inside the cluster zone and never forwards`;
    case 'ETIMEOUT':
      return `${prefix}: no answer within ${timeoutMs} ms; check that the DNS process is running and listening on ${server}`;
    case 'ECONNREFUSED':
      return `${prefix}: nothing listens there (connection refused); start the DNS process or fix the server address`;
    default:
      return `${prefix}: ${code}`;
  }
}

/**
 * Runs one query through a fresh c-ares resolver bound to the cluster DNS
 * server (c-ares never reads /etc/hosts). The resolver is cancelled when the
 * total timeout passes, so the caller waits at most `timeoutMs`.
 */
async function query<T>(options: ClusterDnsClientOptions, hostname: string, rrtype: string, run: (resolver: Resolver) => Promise<T>): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS;
  const server = serverText(options.server);
  const resolver = new Resolver({ timeout: Math.max(MIN_TRY_TIMEOUT_MS, Math.floor(timeoutMs / (2 * DNS_TRIES))), tries: DNS_TRIES });
  resolver.setServers([server]);
  if (options.localAddress !== undefined) {
    if (isIPv6(options.localAddress)) resolver.setLocalAddress('0.0.0.0', options.localAddress);
    else resolver.setLocalAddress(options.localAddress);
  }

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    resolver.cancel();
  }, timeoutMs);
  try {
    return await run(resolver);
  } catch (error) {
    const code = timedOut ? 'ETIMEOUT' : ((error as NodeJS.ErrnoException).code ?? 'EUNKNOWN');
    const failure = new ClusterDnsError(describeFailure(code, hostname, rrtype, server, timeoutMs), code, hostname, server, rrtype);
    options.logger.debug({ hostname, rrtype, dnsServer: server, code }, 'cluster DNS lookup failed');
    throw failure;
  } finally {
    clearTimeout(timer);
  }
}

function requestedFamily(options: LookupOptions | number | undefined): 0 | 4 | 6 {
  const family = typeof options === 'number' ? options : options?.family;
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

/** An address with the TTL its record carried, so answers can be cached as long as the server allows. */
type TimedAddress = LookupAddress & { ttlSeconds: number };

async function resolveAddresses(options: ClusterDnsClientOptions, hostname: string, family: 0 | 4 | 6): Promise<TimedAddress[]> {
  if (family === 6) {
    const records = await query(options, hostname, 'AAAA', (resolver) => resolver.resolve6(hostname, { ttl: true }));
    return records.map((record) => ({ address: record.address, family: 6, ttlSeconds: record.ttl }));
  }
  try {
    const records = await query(options, hostname, 'A', (resolver) => resolver.resolve4(hostname, { ttl: true }));
    return records.map((record) => ({ address: record.address, family: 4, ttlSeconds: record.ttl }));
  } catch (error) {
    // With no family requested, a name without A records may still have AAAA records.
    if (family === 4 || !(error instanceof ClusterDnsError) || error.code !== 'ENODATA') throw error;
    const records = await query(options, hostname, 'AAAA', (resolver) => resolver.resolve6(hostname, { ttl: true }));
    return records.map((record) => ({ address: record.address, family: 6, ttlSeconds: record.ttl }));
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * Creates a `lookup` function for net, tls, https and ws connects that
 * resolves every hostname through the cluster DNS server, with the argument
 * and callback shapes of `dns.lookup` (including `all`). IP literals are
 * returned without a query.
 */
export function createClusterLookup(options: ClusterDnsClientOptions): LookupFunction {
  const cache = new AnswerCache();
  const lookup = (hostname: string, lookupOptions: LookupOptions | number | LookupCallback, maybeCallback?: LookupCallback): void => {
    const callback = typeof lookupOptions === 'function' ? lookupOptions : maybeCallback;
    if (callback === undefined) throw new TypeError('lookup: the callback argument is missing');
    const settings = typeof lookupOptions === 'function' ? undefined : lookupOptions;
    const all = typeof settings === 'object' && settings.all === true;

    const deliver = (addresses: LookupAddress[]): void => {
      const first = addresses[0];
      if (all) callback(null, addresses);
      else if (first !== undefined) callback(null, first.address, first.family);
      else callback(new ClusterDnsError(`DNS lookup of "${hostname}" returned no addresses`, 'ENODATA', hostname, serverText(options.server), 'A'), '');
    };

    const literalFamily = isIP(hostname);
    if (literalFamily !== 0) {
      process.nextTick(() => deliver([{ address: hostname, family: literalFamily }]));
      return;
    }
    const family = requestedFamily(settings);
    const cached = cache.get(hostname, family);
    if (cached !== undefined) {
      process.nextTick(() => deliver(cached));
      return;
    }
    resolveAddresses(options, hostname, family).then(
      (addresses) => {
        options.logger.debug({ hostname, addresses: addresses.map((entry) => entry.address) }, 'cluster DNS lookup');
        cache.set(hostname, family, addresses);
        deliver(addresses);
      },
      (error: ClusterDnsError) => callback(error, all ? [] : ''),
    );
  };
  return lookup;
}

/**
 * Positive answers kept for the lowest TTL of their records, as a stub
 * resolver's cache would. The cluster zone uses a TTL of 1 s, so a moved
 * record (a master failover) is seen within a second.
 */
class AnswerCache {
  private readonly entries = new Map<string, { addresses: LookupAddress[]; expiresAtMs: number }>();

  get(hostname: string, family: number): LookupAddress[] | undefined {
    const key = `${family}/${hostname.toLowerCase()}`;
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs > Date.now()) return entry.addresses;
    this.entries.delete(key);
    return undefined;
  }

  set(hostname: string, family: number, addresses: TimedAddress[]): void {
    const ttlSeconds = Math.min(...addresses.map((entry) => entry.ttlSeconds));
    if (!(ttlSeconds > 0)) return;
    const plain = addresses.map(({ address, family: addressFamily }) => ({ address, family: addressFamily }));
    this.entries.set(`${family}/${hostname.toLowerCase()}`, { addresses: plain, expiresAtMs: Date.now() + ttlSeconds * 1000 });
  }
}

/** Resolves one hostname to its IPv4 addresses through the cluster DNS server. */
export async function resolveClusterAddresses(options: ClusterDnsClientOptions, hostname: string): Promise<string[]> {
  const addresses = await resolveAddresses(options, hostname, 4);
  return addresses.map((entry) => entry.address);
}

/**
 * Resolves SRV records (RFC 2782) through the cluster DNS server, for example
 * `_atlas._tcp.support.example.test`. The records come back as the server
 * sent them, and the caller chooses by priority and weight.
 */
export async function resolveSrv(options: ClusterDnsClientOptions, name: string): Promise<SrvRecord[]> {
  const records = await query(options, name, 'SRV', (resolver) => resolver.resolveSrv(name));
  options.logger.debug({ name, records }, 'cluster DNS SRV lookup');
  return records;
}
