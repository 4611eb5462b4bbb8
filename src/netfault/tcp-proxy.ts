import { createServer, type Server, type Socket } from 'node:net';

import type { Logger } from '../logging/logger.js';
import { createRng, type Rng } from '../routing/rng.js';
import { errorMessage } from '../util/errors.js';
import { normalizeIp, type SocketAddress } from './address.js';
import type { FaultTable } from './fault-table.js';
import { chooseTarget, DEFAULT_FAULT_SEED, validateProxyOptions } from './proxy-options.js';
import { ProxiedConnection, resetSocket } from './tcp-connection.js';
import type { DirectionCounters } from './tcp-pipe.js';

/** Bytes held back per direction of one connection (delay, bandwidth cap) above which the sender is paused. */
export const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** Time allowed for the upstream connection to be established before the client is reset. */
export const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS = 10_000;

export interface TcpProxyDeps {
  logger: Logger;
}

export interface TcpProxyOptions {
  /** Loopback address and port to listen on; port 0 picks a free port. */
  listen: SocketAddress;
  /** Fixed upstream; give this or resolveTarget. */
  target?: SocketAddress;
  /** Chooses the upstream for each connection from the client's normalised IP. Throwing resets the client. */
  resolveTarget?: (clientIp: string) => SocketAddress;
  /** Binds each upstream socket to the client's IP (ephemeral port), so that the server's remoteAddress is the client's IP. */
  preserveSource: boolean;
  faults: FaultTable;
  seed?: string | number;
  maxQueuedBytes?: number;
  connectTimeoutMs?: number;
}

export interface TcpProxyCounters {
  /** Connections accepted since start. */
  connections: number;
  openConnections: number;
  /** Connections whose upstream connection failed or whose target could not be resolved. */
  failedConnections: number;
  /** Connections closed by a reset fault, at accept time or later. */
  resets: number;
  /** Bytes forwarded client to server. */
  bytesUp: number;
  /** Bytes forwarded server to client. */
  bytesDown: number;
  /** Bytes dropped by a blackhole, both directions. */
  droppedBytes: number;
  droppedBytesUp: number;
  droppedBytesDown: number;
  /** Bytes held back now by delay and bandwidth faults, over all open connections. */
  heldBytes: number;
}

/**
 * TCP proxy that listens on one address, forwards each connection to its target
 * (optionally with the client's source IP preserved) and applies the faults of a
 * FaultTable per client and direction. Fault changes apply to open connections.
 */
export class TcpProxy {
  private readonly logger: Logger;
  private readonly server: Server;
  private readonly connections = new Set<ProxiedConnection>();
  private readonly random: Rng;
  private readonly up: DirectionCounters = { bytes: 0, droppedBytes: 0 };
  private readonly down: DirectionCounters = { bytes: 0, droppedBytes: 0 };
  private readonly tally = { connections: 0, failedConnections: 0, resets: 0 };
  private consecutiveFailures = 0;
  private nextConnectionId = 1;
  private unsubscribe: (() => void) | undefined;

  constructor(deps: TcpProxyDeps, private readonly options: TcpProxyOptions) {
    validateProxyOptions('TCP proxy', options);
    this.logger = deps.logger.child({ component: 'tcp-proxy', listen: `${options.listen.address}:${options.listen.port}` });
    this.random = createRng(options.seed ?? DEFAULT_FAULT_SEED);
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (error) => this.logger.error({ err: errorMessage(error) }, 'TCP proxy listener error'));
  }

  /** Starts listening; resolves with the bound address and port. */
  async listen(): Promise<SocketAddress> {
    const { address, port } = this.options.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(new Error(`TCP proxy failed to listen on ${address}:${port}: ${error.message}`));
      this.server.once('error', onError);
      this.server.listen({ host: address, port }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.unsubscribe = this.options.faults.onChange(() => this.applyFaultChange());
    const bound = this.address();
    this.logger.info({ address: bound.address, port: bound.port, preserveSource: this.options.preserveSource }, 'TCP proxy listening');
    return bound;
  }

  /** Bound address and port; throws before listen() has resolved. */
  address(): SocketAddress {
    const bound = this.server.address();
    if (bound === null || typeof bound === 'string') throw new Error('TCP proxy is not listening; call listen() first');
    return { address: bound.address, port: bound.port };
  }

  counters(): TcpProxyCounters {
    return {
      ...this.tally,
      openConnections: this.connections.size,
      bytesUp: this.up.bytes,
      bytesDown: this.down.bytes,
      droppedBytes: this.up.droppedBytes + this.down.droppedBytes,
      droppedBytesUp: this.up.droppedBytes,
      droppedBytesDown: this.down.droppedBytes,
      heldBytes: [...this.connections].reduce((sum, connection) => sum + connection.heldBytes, 0),
    };
  }

  /** Stops listening and destroys every open connection. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const connection of this.connections) connection.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.logger.info({ counters: this.counters() }, 'TCP proxy stopped');
  }

  private accept(client: Socket): void {
    this.tally.connections += 1;
    const id = this.nextConnectionId++;
    if (client.remoteAddress === undefined) {
      // The client closed before the connection was handed over.
      client.destroy();
      return;
    }
    const clientIp = normalizeIp(client.remoteAddress);
    const logger = this.logger.child({ connection: id, peer: `${clientIp}:${client.remotePort}` });

    if (this.isResetInForce(clientIp)) {
      this.tally.resets += 1;
      logger.debug('reset fault in force, resetting new connection');
      client.on('error', () => undefined);
      resetSocket(client);
      return;
    }

    let target: SocketAddress;
    try {
      target = chooseTarget(this.options, clientIp);
    } catch (error) {
      this.tally.failedConnections += 1;
      logger.warn({ err: errorMessage(error) }, 'no upstream target for connection, resetting it');
      client.on('error', () => undefined);
      resetSocket(client);
      return;
    }

    const connection = new ProxiedConnection(
      logger,
      {
        id,
        client,
        clientIp,
        target,
        preserveSource: this.options.preserveSource,
        faults: this.options.faults,
        random: this.random,
        counters: { up: this.up, down: this.down },
        maxQueuedBytes: this.options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
        connectTimeoutMs: this.options.connectTimeoutMs ?? DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS,
      },
      {
        onConnected: () => {
          this.consecutiveFailures = 0;
          logger.debug({ target: `${target.address}:${target.port}` }, 'connection forwarded');
        },
        onConnectFailed: (_connection, error) => this.recordConnectFailure(logger, target, error),
        onResetFault: (faulty) => this.resetConnection(faulty),
        onClosed: (closed) => {
          this.connections.delete(closed);
          logger.debug('connection closed');
        },
      },
    );
    this.connections.add(connection);
  }

  /** Logs the first failure after a success at warn and repeats at debug, so a dead target does not flood the log. */
  private recordConnectFailure(logger: Logger, target: SocketAddress, error: Error): void {
    this.tally.failedConnections += 1;
    this.consecutiveFailures += 1;
    const level = this.consecutiveFailures === 1 ? 'warn' : 'debug';
    logger[level]({ target: `${target.address}:${target.port}`, consecutiveFailures: this.consecutiveFailures, err: errorMessage(error) }, 'upstream connection failed, resetting client');
  }

  private isResetInForce(clientIp: string): boolean {
    const { faults } = this.options;
    return faults.faultsFor(clientIp, 'up')?.reset === true || faults.faultsFor(clientIp, 'down')?.reset === true;
  }

  private applyFaultChange(): void {
    for (const connection of this.connections) {
      if (this.isResetInForce(connection.clientIp)) {
        this.resetConnection(connection);
      } else {
        connection.refresh();
      }
    }
  }

  private resetConnection(connection: ProxiedConnection): void {
    if (connection.reset()) {
      this.tally.resets += 1;
      this.logger.debug({ connection: connection.id, peer: connection.clientIp }, 'reset fault in force, resetting open connection');
    }
  }
}
