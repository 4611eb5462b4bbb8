import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

import type { Logger } from '../logging/logger.js';
import { createRng, type Rng } from '../routing/rng.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { normalizeIp, type SocketAddress } from './address.js';
import { DelayLine } from './delay-line.js';
import type { FaultTable, FlowDirection, LinkFaults } from './fault-table.js';
import { chooseTarget, DEFAULT_FAULT_SEED, validateProxyOptions } from './proxy-options.js';
import { rewriteMappedAddress } from './stun-mapping.js';

/** A session without datagrams in either direction for this long is closed with its upstream socket. */
export const DEFAULT_UDP_SESSION_IDLE_MS = 60_000;

export interface UdpProxyDeps {
  logger: Logger;
}

export interface UdpProxyOptions {
  /** Loopback address and port to listen on; port 0 picks a free port. */
  listen: SocketAddress;
  /** Fixed upstream; give this or resolveTarget. */
  target?: SocketAddress;
  /** Chooses the upstream for each new session from the client's normalised IP. */
  resolveTarget?: (clientIp: string) => SocketAddress;
  /** Binds each session's upstream socket to the client's IP (ephemeral port), so that datagrams reach the server from the client's IP. */
  preserveSource: boolean;
  faults: FaultTable;
  /** Seed of the loss and jitter draws. */
  seed?: string | number;
  sessionIdleMs?: number;
  /**
   * The upstream is a STUN server: write the client's own ip:port into each
   * Binding success response, because the server saw the session's upstream
   * port instead (see stun-mapping.ts).
   */
  stun?: boolean;
}

export interface UdpProxyCounters {
  /** Sessions (client ip:port pairs) opened since start. */
  sessions: number;
  openSessions: number;
  /** Datagrams forwarded client to server. */
  datagramsUp: number;
  /** Datagrams forwarded server to client. */
  datagramsDown: number;
  bytesUp: number;
  bytesDown: number;
  /** Datagrams dropped by a loss fault. */
  lostDatagrams: number;
  /** Datagrams dropped by a blackhole fault. */
  blackholedDatagrams: number;
  /** STUN Binding responses whose mapped address was set to the client's own port (stun option). */
  stunMappingsRewritten: number;
}

interface UdpSession {
  key: string;
  clientIp: string;
  /** Client address and port as the listening socket reported them, for replies. */
  replyTo: RemoteInfo;
  target: SocketAddress;
  upstream: Socket;
  bound: boolean;
  /** Datagrams due before the upstream socket was bound. */
  unsent: Buffer[];
  upLine: DelayLine<Buffer>;
  downLine: DelayLine<Buffer>;
  lastActiveMs: number;
  /** True once a signed STUN response, which cannot be rewritten, was logged for this session. */
  signedStunLogged: boolean;
}

/**
 * UDP proxy with one session per client ip:port. Each session has its own
 * upstream socket, bound to the client's IP when preserveSource is set, so that
 * datagrams reach the server from the client's IP and replies come back through
 * the listening socket. Per datagram and direction it applies blackhole, loss
 * and delay with jitter. Bandwidth and reset rules do not apply to UDP.
 */
export class UdpProxy {
  private readonly logger: Logger;
  private readonly listener: Socket;
  private readonly sessions = new Map<string, UdpSession>();
  private readonly random: Rng;
  private readonly idleMs: number;
  private readonly tally: Omit<UdpProxyCounters, 'openSessions'> = {
    sessions: 0,
    datagramsUp: 0,
    datagramsDown: 0,
    bytesUp: 0,
    bytesDown: 0,
    lostDatagrams: 0,
    blackholedDatagrams: 0,
    stunMappingsRewritten: 0,
  };
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(deps: UdpProxyDeps, private readonly options: UdpProxyOptions) {
    validateOptions(options);
    this.logger = deps.logger.child({ component: 'udp-proxy', listen: `${options.listen.address}:${options.listen.port}` });
    this.random = createRng(options.seed ?? DEFAULT_FAULT_SEED);
    this.idleMs = options.sessionIdleMs ?? DEFAULT_UDP_SESSION_IDLE_MS;
    this.listener = createSocket(isIPv6(options.listen.address) ? 'udp6' : 'udp4');
    this.listener.on('message', (datagram, from) => this.receiveFromClient(datagram, from));
  }

  /** Binds the listening socket; resolves with the bound address and port. */
  async listen(): Promise<SocketAddress> {
    const { address, port } = this.options.listen;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => reject(new Error(`UDP proxy failed to bind ${address}:${port}: ${error.message}`));
      this.listener.once('error', onError);
      this.listener.bind({ address, port }, () => {
        this.listener.off('error', onError);
        resolve();
      });
    });
    this.listener.on('error', (error) => this.logger.error({ err: errorMessage(error) }, 'UDP proxy socket error'));
    this.sweepTimer = setInterval(() => this.closeIdleSessions(), Math.max(1, Math.floor(this.idleMs / 2)));
    this.sweepTimer.unref();
    const bound = this.listener.address();
    this.logger.info({ address: bound.address, port: bound.port, preserveSource: this.options.preserveSource }, 'UDP proxy listening');
    return { address: bound.address, port: bound.port };
  }

  counters(): UdpProxyCounters {
    return { ...this.tally, openSessions: this.sessions.size };
  }

  /** Closes the listening socket and every session. */
  async close(): Promise<void> {
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    for (const session of [...this.sessions.values()]) this.closeSession(session);
    await new Promise<void>((resolve) => {
      try {
        this.listener.close(() => resolve());
      } catch {
        resolve(); // never bound or already closed
      }
    });
    this.logger.info({ counters: this.counters() }, 'UDP proxy stopped');
  }

  private receiveFromClient(datagram: Buffer, from: RemoteInfo): void {
    const clientIp = normalizeIp(from.address);
    const key = `${clientIp}:${from.port}`;
    const session = this.sessions.get(key) ?? this.openSession(key, clientIp, from);
    if (session === undefined) return;
    session.lastActiveMs = Date.now();
    const faults = this.options.faults.faultsFor(clientIp, 'up');
    if (this.dropOnReceipt(faults)) return;
    session.upLine.push(datagram, this.sampleDelay(faults));
  }

  private openSession(key: string, clientIp: string, replyTo: RemoteInfo): UdpSession | undefined {
    let target: SocketAddress;
    try {
      target = chooseTarget(this.options, clientIp);
    } catch (error) {
      this.logger.warn({ peer: key, err: errorMessage(error) }, 'no upstream target for UDP client, dropping datagram');
      return undefined;
    }
    const upstream = createSocket(isIPv6(target.address) ? 'udp6' : 'udp4');
    const session: UdpSession = {
      key,
      clientIp,
      replyTo,
      target,
      upstream,
      bound: false,
      unsent: [],
      upLine: new DelayLine((datagram) => this.sendUp(session, datagram)),
      downLine: new DelayLine((datagram) => this.sendDown(session, datagram)),
      lastActiveMs: Date.now(),
      signedStunLogged: false,
    };
    this.sessions.set(key, session);
    this.tally.sessions += 1;

    upstream.on('error', (error) => {
      this.logger.warn({ peer: key, target: `${target.address}:${target.port}`, err: errorMessage(error) }, 'UDP upstream socket error, closing session');
      this.closeSession(session);
    });
    upstream.on('message', (datagram) => this.receiveFromServer(session, datagram));
    upstream.bind({ port: 0, ...(this.options.preserveSource ? { address: clientIp } : {}) }, () => {
      session.bound = true;
      for (const datagram of session.unsent.splice(0)) this.sendUp(session, datagram);
    });
    this.logger.debug({ peer: key, target: `${target.address}:${target.port}` }, 'UDP session opened');
    return session;
  }

  private receiveFromServer(session: UdpSession, datagram: Buffer): void {
    session.lastActiveMs = Date.now();
    const faults = this.options.faults.faultsFor(session.clientIp, 'down');
    if (this.dropOnReceipt(faults)) return;
    session.downLine.push(datagram, this.sampleDelay(faults));
  }

  /** Applies blackhole and loss to a datagram just received; returns true when it was dropped. */
  private dropOnReceipt(faults: LinkFaults | undefined): boolean {
    if (faults === undefined) return false;
    if (faults.blackhole) {
      this.tally.blackholedDatagrams += 1;
      return true;
    }
    if (faults.lossProbability > 0 && this.random.next() < faults.lossProbability) {
      this.tally.lostDatagrams += 1;
      return true;
    }
    return false;
  }

  private sampleDelay(faults: LinkFaults | undefined): number {
    if (faults === undefined) return 0;
    if (faults.jitterMs === 0) return faults.delayMs;
    return Math.max(0, faults.delayMs + (this.random.next() * 2 - 1) * faults.jitterMs);
  }

  /** Returns true, and counts the drop, when a blackhole was added while the datagram waited in a delay line. */
  private blackholedNow(session: UdpSession, direction: FlowDirection): boolean {
    if (this.options.faults.faultsFor(session.clientIp, direction)?.blackhole !== true) return false;
    this.tally.blackholedDatagrams += 1;
    return true;
  }

  private sendUp(session: UdpSession, datagram: Buffer): void {
    if (this.blackholedNow(session, 'up')) return;
    if (!session.bound) {
      session.unsent.push(datagram);
      return;
    }
    this.tally.datagramsUp += 1;
    this.tally.bytesUp += datagram.length;
    session.upstream.send(datagram, session.target.port, session.target.address, (error) => {
      if (error) this.logger.debug({ peer: session.key, err: errorMessage(error) }, 'UDP send to upstream failed');
    });
  }

  private sendDown(session: UdpSession, received: Buffer): void {
    if (this.blackholedNow(session, 'down')) return;
    const datagram = this.options.stun === true ? this.rewriteStun(session, received) : received;
    this.tally.datagramsDown += 1;
    this.tally.bytesDown += datagram.length;
    this.listener.send(datagram, session.replyTo.port, session.replyTo.address, (error) => {
      if (error) this.logger.debug({ peer: session.key, err: errorMessage(error) }, 'UDP send to client failed');
    });
  }

  private rewriteStun(session: UdpSession, datagram: Buffer): Buffer {
    const client = { address: session.clientIp, port: session.replyTo.port };
    const result = rewriteMappedAddress(datagram, client);
    if (result.outcome === 'rewritten') this.tally.stunMappingsRewritten += 1;
    if (result.outcome === 'signed' && !session.signedStunLogged) {
      session.signedStunLogged = true;
      this.logger.warn({ peer: session.key }, 'STUN response carries MESSAGE-INTEGRITY, so its mapped address keeps the proxy session port');
    }
    return result.datagram;
  }

  private closeIdleSessions(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const session of [...this.sessions.values()]) {
      if (session.lastActiveMs < cutoff && session.upLine.length === 0 && session.downLine.length === 0) {
        this.logger.debug({ peer: session.key }, 'UDP session idle, closing it');
        this.closeSession(session);
      }
    }
  }

  private closeSession(session: UdpSession): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    session.upLine.clear();
    session.downLine.clear();
    try {
      session.upstream.close();
    } catch {
      // already closed after a bind error
    }
  }
}

function validateOptions(options: UdpProxyOptions): void {
  validateProxyOptions('UDP proxy', options);
  if (options.sessionIdleMs !== undefined && !(Number.isFinite(options.sessionIdleMs) && options.sessionIdleMs > 0)) {
    throw new ConfigError(`UDP proxy sessionIdleMs is ${JSON.stringify(options.sessionIdleMs)}; expected a positive number of milliseconds`);
  }
}
