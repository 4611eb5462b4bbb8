import type { Logger } from '../logging/logger.js';
import type { SocketAddress } from '../netfault/address.js';
import { FaultTable } from '../netfault/fault-table.js';
import { TcpProxy, type TcpProxyCounters } from '../netfault/tcp-proxy.js';
import type { RouteDecision, RouteTable } from './route-table.js';

export interface AnycastRouterDeps {
  logger: Logger;
}

export interface AnycastRouterOptions {
  /** The shared anycast address and port; port 0 picks a free port. */
  listen: SocketAddress;
  table: RouteTable;
  /** Faults applied on the client's hop through the router; an empty table when absent. */
  faults?: FaultTable;
}

export interface AnycastRouterStatus {
  listen: SocketAddress;
  /** Connections routed to each traffic node since start, by node name. */
  connectionsByNode: Record<string, number>;
  /** Connections that matched a prefix and connections sent to the default node. */
  connectionsByReason: { prefix: number; default: number };
  counters: TcpProxyCounters;
}

/**
 * Forwards each TCP connection on the anycast address to the traffic node
 * nearest to the client's source address, as the routing table decides. The
 * upstream connection is bound to the client's IP, so the traffic node gets the
 * real client address as remoteAddress, as it would behind a real anycast network.
 */
export class AnycastRouter {
  private readonly logger: Logger;
  private readonly proxy: TcpProxy;
  private readonly connectionsByNode: Record<string, number> = {};
  private readonly connectionsByReason = { prefix: 0, default: 0 };
  private bound: SocketAddress | undefined;

  constructor(deps: AnycastRouterDeps, private readonly options: AnycastRouterOptions) {
    this.logger = deps.logger.child({ component: 'anycast-router' });
    this.proxy = new TcpProxy(
      { logger: deps.logger },
      { listen: options.listen, resolveTarget: (clientIp) => this.route(clientIp).target, preserveSource: true, faults: options.faults ?? new FaultTable() },
    );
  }

  async listen(): Promise<SocketAddress> {
    this.bound = await this.proxy.listen();
    this.logger.info({ address: this.bound.address, port: this.bound.port, routes: this.options.table.routes.length, defaultNode: this.options.table.defaultTarget.node }, 'anycast router listening');
    return this.bound;
  }

  status(): AnycastRouterStatus {
    return {
      listen: this.bound ?? this.options.listen,
      connectionsByNode: { ...this.connectionsByNode },
      connectionsByReason: { ...this.connectionsByReason },
      counters: this.proxy.counters(),
    };
  }

  async close(): Promise<void> {
    await this.proxy.close();
  }

  private route(clientIp: string): RouteDecision {
    const decision = this.options.table.choose(clientIp);
    this.connectionsByNode[decision.node] = (this.connectionsByNode[decision.node] ?? 0) + 1;
    this.connectionsByReason[decision.reason] += 1;
    const explanation = decision.reason === 'prefix' ? `prefix ${decision.prefix} matched` : 'no prefix matched, default node';
    this.logger.debug({ client: clientIp, trafficNode: decision.node, target: `${decision.target.address}:${decision.target.port}`, reason: decision.reason, prefix: decision.prefix }, `routed connection: ${explanation}`);
    return decision;
  }
}
