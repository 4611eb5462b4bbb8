import { DEFAULT_PEER_TO_PEER } from '../config/peer-to-peer.js';
import type { Logger } from '../logging/logger.js';
import type { ClusterConfig } from '../protocol/messages.js';
import { StunServer, type StunServerCounters } from '../stun-protocol/server.js';
import { errorMessage } from '../util/errors.js';

/** SOFTWARE attribute of the master's STUN responses. */
export const MASTER_STUN_SOFTWARE = 'atlas-sim master STUN role';

export interface MasterStunRoleOptions {
  /** The master's public address and hostname; the STUN server binds the address. */
  address: string;
  host: string;
  /** UDP port from the node config; 0 picks a free port. Absent: this master has no STUN role. */
  port: number | undefined;
}

/** True when the configuration gives the primary master the STUN role. */
export function wantsMasterStun(config: ClusterConfig): boolean {
  return config.p2pEnabled && (config.stunRole || DEFAULT_PEER_TO_PEER.stunRole) === 'master';
}

/**
 * The master's STUN role: the same RFC 5389 Binding server as the public
 * STUN process, on the master's public address. It runs while the synced
 * configuration has peer to peer enabled with STUN role "master".
 */
export class MasterStunRole {
  private server: StunServer | undefined;
  private boundPort: number | undefined;
  /** Serialises start and stop, because a sync may change the setting while a bind is in flight. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly deps: { logger: Logger }, private readonly options: MasterStunRoleOptions) {}

  /** `host:port` clients query while the role runs; undefined while it does not. */
  get endpoint(): string | undefined {
    return this.boundPort === undefined ? undefined : `${this.options.host}:${this.boundPort}`;
  }

  get counters(): StunServerCounters | undefined {
    return this.server?.counters;
  }

  /** Starts or stops the STUN server to match a synced configuration; resolves once it has. */
  apply(config: ClusterConfig): Promise<void> {
    const wanted = wantsMasterStun(config);
    this.queue = this.queue.then(() => (wanted ? this.start() : this.stop('the synced configuration does not give the master the STUN role')));
    return this.queue;
  }

  /** Stops the STUN server, if it runs. */
  close(): Promise<void> {
    this.queue = this.queue.then(() => this.stop('master stopping its primary services'));
    return this.queue;
  }

  private async start(): Promise<void> {
    if (this.server !== undefined) return;
    if (this.options.port === undefined) {
      this.deps.logger.warn('the configuration gives the master the STUN role, but its node config has no stun.port; clients get no STUN server and take the traffic-node path');
      return;
    }
    const logger = this.deps.logger.child({ component: 'stun' });
    const server = new StunServer({ logger }, { address: this.options.address, port: this.options.port, software: MASTER_STUN_SOFTWARE });
    try {
      const bound = await server.listen();
      this.server = server;
      this.boundPort = bound.port;
      this.deps.logger.info({ address: bound.address, port: bound.port }, 'STUN role started');
    } catch (error) {
      this.deps.logger.error({ err: errorMessage(error), address: this.options.address, port: this.options.port }, 'STUN role failed to start; clients take the traffic-node path');
    }
  }

  private async stop(reason: string): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    this.boundPort = undefined;
    await server.close();
    this.deps.logger.info({ reason }, 'STUN role stopped');
  }
}
