import { connect, type Socket } from 'node:net';

import type { Logger } from '../logging/logger.js';
import type { Rng } from '../routing/rng.js';
import { errorMessage } from '../util/errors.js';
import type { SocketAddress } from './address.js';
import type { FaultTable } from './fault-table.js';
import { TcpPipe, type DirectionCounters } from './tcp-pipe.js';

export interface ProxiedConnectionOptions {
  id: number;
  client: Socket;
  clientIp: string;
  target: SocketAddress;
  /** Binds the upstream socket to the client's IP, so that the server's remoteAddress is the client's IP. */
  preserveSource: boolean;
  faults: FaultTable;
  random: Rng;
  counters: { up: DirectionCounters; down: DirectionCounters };
  maxQueuedBytes: number;
  connectTimeoutMs: number;
}

export interface ProxiedConnectionEvents {
  /** The upstream connection failed or timed out; the client socket has been reset. */
  onConnectFailed(connection: ProxiedConnection, error: Error): void;
  onConnected(connection: ProxiedConnection): void;
  /** A pipe met a reset fault; the owner calls reset(). */
  onResetFault(connection: ProxiedConnection): void;
  /** Both sockets are closed. */
  onClosed(connection: ProxiedConnection): void;
}

/**
 * One client connection and its upstream connection. An error on either socket
 * (for example ECONNRESET) resets the other one, so an RST crosses the proxy
 * as an RST; a FIN crosses as a FIN after the bytes before it.
 */
export class ProxiedConnection {
  readonly id: number;
  readonly clientIp: string;
  readonly target: SocketAddress;
  private readonly client: Socket;
  private readonly upstream: Socket;
  private readonly pipes: TcpPipe[] = [];
  private readonly connectTimer: NodeJS.Timeout;
  private connected = false;
  private closedSockets = 0;

  constructor(
    private readonly logger: Logger,
    private readonly options: ProxiedConnectionOptions,
    private readonly events: ProxiedConnectionEvents,
  ) {
    this.id = options.id;
    this.clientIp = options.clientIp;
    this.target = options.target;
    this.client = options.client;
    this.upstream = connect({
      host: options.target.address,
      port: options.target.port,
      ...(options.preserveSource ? { localAddress: options.clientIp } : {}),
      allowHalfOpen: true,
      noDelay: true,
    });
    this.connectTimer = setTimeout(() => this.upstream.destroy(new Error(`connect timed out after ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
    this.watch();
  }

  /** Closes both sockets with RST, as a reset fault requires. Returns false when the connection was already reset or closed. */
  reset(): boolean {
    if (this.client.destroyed && this.upstream.destroyed) return false;
    this.stopPipes();
    resetSocket(this.client);
    resetSocket(this.upstream);
    return true;
  }

  /** Closes both sockets without RST, for proxy shutdown. */
  destroy(): void {
    this.stopPipes();
    this.client.destroy();
    this.upstream.destroy();
  }

  /** Bytes held back in both directions by delay or bandwidth faults. */
  get heldBytes(): number {
    return this.pipes.reduce((sum, pipe) => sum + pipe.heldBytes, 0);
  }

  /** Re-evaluates held data after a fault table change. */
  refresh(): void {
    for (const pipe of this.pipes) pipe.refresh();
  }

  private watch(): void {
    const { client, upstream } = this;
    upstream.once('connect', () => {
      clearTimeout(this.connectTimer);
      this.connected = true;
      this.startPipes();
      this.events.onConnected(this);
    });
    upstream.on('error', (error) => {
      clearTimeout(this.connectTimer);
      if (!this.connected) {
        this.events.onConnectFailed(this, error);
      } else {
        this.logger.debug({ err: errorMessage(error) }, 'upstream socket error, resetting client');
      }
      this.stopPipes();
      resetSocket(client);
    });
    client.on('error', (error) => {
      this.logger.debug({ err: errorMessage(error) }, 'client socket error, resetting upstream');
      this.stopPipes();
      resetSocket(upstream);
    });
    const onSocketClosed = (): void => {
      this.closedSockets += 1;
      if (this.closedSockets === 2) {
        clearTimeout(this.connectTimer);
        this.stopPipes();
        this.events.onClosed(this);
      }
    };
    client.once('close', () => {
      // A client that leaves before the upstream connection is up leaves nothing to forward.
      if (!this.connected) upstream.destroy();
      onSocketClosed();
    });
    upstream.once('close', onSocketClosed);
  }

  private startPipes(): void {
    const { client, upstream, options } = this;
    const shared = { random: options.random, maxQueuedBytes: options.maxQueuedBytes, onReset: () => this.events.onResetFault(this) };
    this.pipes.push(
      new TcpPipe({ ...shared, source: client, sink: upstream, counters: options.counters.up, lookupFaults: () => options.faults.faultsFor(this.clientIp, 'up') }),
      new TcpPipe({ ...shared, source: upstream, sink: client, counters: options.counters.down, lookupFaults: () => options.faults.faultsFor(this.clientIp, 'down') }),
    );
    for (const pipe of this.pipes) pipe.start();
  }

  private stopPipes(): void {
    for (const pipe of this.pipes) pipe.stop();
  }
}

/** Sends RST and destroys the socket; a socket already destroyed is left alone. */
export function resetSocket(socket: Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}
