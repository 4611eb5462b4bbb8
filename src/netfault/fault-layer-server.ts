import type { Logger } from '../logging/logger.js';
import { ConfigError } from '../util/errors.js';
import type { SocketAddress } from './address.js';
import { parseFaultRule, type FaultRule } from './fault-rule.js';
import { FaultTable } from './fault-table.js';
import type { ServerRule } from './link-fault.js';
import { TcpProxy, type TcpProxyCounters } from './tcp-proxy.js';
import { UdpProxy, type UdpProxyCounters } from './udp-proxy.js';

/** One listener of a server process, fronted by a proxy on the address and port clients dial. */
export interface FrontSpec {
  /** Name of the process that owns the listener; its fault table applies. */
  server: string;
  protocol: 'tcp' | 'udp';
  /** Address and port clients dial (the process's advertised endpoint). */
  listen: SocketAddress;
  /** Address and hidden port where the process itself listens. */
  target: SocketAddress;
  /** The listener is a STUN server (UDP only): the proxy keeps each client's reflexive address true. */
  stun?: boolean;
}

/** A fault as the fault layer holds it: the caller's id and the rules it added to each server's table. */
export interface InstalledFault {
  id: string;
  rules: { server: string; rule: FaultRule }[];
}

export interface ProxyReport {
  server: string;
  protocol: 'tcp' | 'udp';
  listen: SocketAddress;
  target: SocketAddress;
  counters: TcpProxyCounters | UdpProxyCounters;
}

interface FrontedListener {
  spec: FrontSpec;
  proxy: TcpProxy | UdpProxy;
}

/**
 * The proxies of one cluster's fault layer and the fault table of every
 * server process. Each proxy preserves the client's source address, so the
 * server sees the client's own IP. With no rule in a table, its proxies take
 * their fast path and copy bytes straight through.
 */
export class FaultLayerServer {
  private readonly tables = new Map<string, FaultTable>();
  private readonly listeners = new Map<string, FrontedListener>();
  private readonly faults = new Map<string, InstalledFault>();

  constructor(private readonly deps: { logger: Logger }, private readonly options: { seed: string }) {}

  /**
   * Starts a proxy for one listener, or points an existing proxy on the same
   * address, port and protocol at a new target. Resolves with the bound address.
   */
  async front(spec: FrontSpec): Promise<SocketAddress> {
    const key = `${spec.protocol} ${spec.listen.address}:${spec.listen.port}`;
    const existing = this.listeners.get(key);
    if (existing !== undefined) {
      if (existing.spec.server !== spec.server) {
        throw new ConfigError(`${key} is already fronted for ${existing.spec.server}; cannot front it for ${spec.server} too`);
      }
      existing.spec.target = spec.target;
      this.deps.logger.info({ server: spec.server, protocol: spec.protocol, listen: spec.listen, target: spec.target }, 'proxy retargeted');
      return spec.listen;
    }

    const entry: FrontedListener = { spec: { ...spec }, proxy: this.createProxy(spec, () => entry.spec.target, key) };
    this.listeners.set(key, entry);
    try {
      const bound = await entry.proxy.listen();
      this.deps.logger.info({ server: spec.server, protocol: spec.protocol, listen: bound, target: spec.target }, 'listener fronted');
      return bound;
    } catch (error) {
      this.listeners.delete(key);
      throw error;
    }
  }

  /**
   * Adds the rules of one fault to the tables of their servers. Every rule is
   * validated first, so an invalid rule adds nothing. Throws for a used id.
   */
  addFault(id: string, rules: readonly ServerRule[]): InstalledFault {
    if (this.faults.has(id)) throw new ConfigError(`fault id "${id}" is in use; heal that fault first or choose another id`);
    if (rules.length === 0) throw new ConfigError(`fault "${id}" has no rules`);
    const parsed = rules.map((entry, index) => ({ server: entry.server, rule: parseFaultRule(entry.rule, `${id}#${index}`) }));
    for (const entry of parsed) {
      const input = { ...entry.rule, from: entry.rule.from === undefined ? undefined : [...entry.rule.from] };
      this.table(entry.server).add(input);
    }
    const installed: InstalledFault = { id, rules: parsed };
    this.faults.set(id, installed);
    this.deps.logger.info({ fault: id, rules: parsed.map((entry) => describeRule(entry.server, entry.rule)) }, 'fault added');
    return installed;
  }

  /** Removes one fault's rules; returns false when no fault has that id. */
  removeFault(id: string): boolean {
    const installed = this.faults.get(id);
    if (installed === undefined) return false;
    for (const entry of installed.rules) this.tables.get(entry.server)?.remove(entry.rule.id);
    this.faults.delete(id);
    this.deps.logger.info({ fault: id }, 'fault healed');
    return true;
  }

  /** Removes every fault; returns how many there were. */
  healAll(): number {
    const count = this.faults.size;
    for (const table of this.tables.values()) table.healAll();
    this.faults.clear();
    if (count > 0) this.deps.logger.info({ faults: count }, 'every fault healed');
    return count;
  }

  listFaults(): InstalledFault[] {
    return [...this.faults.values()];
  }

  proxies(): ProxyReport[] {
    return [...this.listeners.values()].map(({ spec, proxy }) => ({ server: spec.server, protocol: spec.protocol, listen: spec.listen, target: spec.target, counters: proxy.counters() }));
  }

  /** Closes every proxy and its connections. */
  async close(): Promise<void> {
    await Promise.all([...this.listeners.values()].map(({ proxy }) => proxy.close()));
    this.listeners.clear();
  }

  private table(server: string): FaultTable {
    let table = this.tables.get(server);
    if (table === undefined) {
      table = new FaultTable();
      this.tables.set(server, table);
    }
    return table;
  }

  private createProxy(spec: FrontSpec, target: () => SocketAddress, key: string): TcpProxy | UdpProxy {
    const logger = this.deps.logger.child({ server: spec.server });
    const common = { listen: spec.listen, resolveTarget: target, preserveSource: true, faults: this.table(spec.server), seed: `${this.options.seed}/${key}` };
    return spec.protocol === 'tcp' ? new TcpProxy({ logger }, common) : new UdpProxy({ logger }, { ...common, stun: spec.stun === true });
  }
}

function describeRule(server: string, rule: FaultRule): string {
  const from = rule.from === undefined ? 'every client' : [...rule.from].join(',');
  return `${server}: ${rule.kind} ${rule.direction} from ${from} ${JSON.stringify(rule.params)}`;
}
