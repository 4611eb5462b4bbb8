import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../logging/logger.js';
import { Channel, normaliseAddress, type ChannelOptions } from '../../net/channel.js';
import { WS_HARD_MAX_PAYLOAD_BYTES } from '../../net/ws-server.js';
import type { DirectCertificate } from './direct-certificate.js';

/** URL path of the direct TLS WebSocket between two clients. */
export const DIRECT_PATH = '/direct';

export interface DirectListenerOptions {
  /** The client's own address. */
  address: string;
  certificate: DirectCertificate;
  /** Firewall in front of the client: every inbound connection is dropped. */
  blockInbound: boolean;
  channel: ChannelOptions;
}

/**
 * A client's listener for the direct connection of one session. In front of
 * it sits the simulated NAT and firewall: a TCP connection is handed to TLS
 * only when it comes from an address whose connectivity checks passed the
 * client's NAT and no firewall blocks inbound connections. Any other
 * connection is held open without a byte in reply and destroyed when the
 * listener stops, so the dialer's connection times out as a dropped one
 * does, instead of being refused.
 */
export class DirectListener {
  private readonly tcp: TcpServer;
  private readonly https: HttpsServer;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Socket | Duplex>();
  private readonly held = new Set<Socket>();
  private readonly admitted = new Set<string>();
  private admits: (address: string) => boolean = () => false;
  private onChannel: ((channel: Channel) => void) | undefined;
  /** Channels that completed the handshakes before accept() set a handler. */
  private readonly waiting: Channel[] = [];
  dropped = 0;

  constructor(private readonly deps: { logger: Logger }, private readonly options: DirectListenerOptions) {
    this.https = createHttpsServer({ cert: options.certificate.cert, key: options.certificate.key });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: WS_HARD_MAX_PAYLOAD_BYTES, perMessageDeflate: false });
    this.https.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head));
    this.https.on('request', (_request, response) => response.writeHead(404).end());
    this.https.on('tlsClientError', (error) => this.deps.logger.debug({ err: error.message }, 'direct TLS handshake failed'));
    this.tcp = createTcpServer((socket) => this.gate(socket));
  }

  /** Lets connections from `address` through the NAT, because its connectivity checks did. */
  admit(address: string): void {
    this.admitted.add(address);
  }

  /** Lets connections through the NAT from every address `test` accepts at the time they arrive. */
  admitWhen(test: (address: string) => boolean): void {
    this.admits = test;
  }

  /** Sets the function that receives each direct channel after the TLS and WebSocket handshakes, starting with those already waiting. */
  accept(handler: (channel: Channel) => void): void {
    this.onChannel = handler;
    for (const channel of this.waiting.splice(0)) handler(channel);
  }

  /** Listens on a free port of the client's address; resolves with the port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen({ host: this.options.address, port: 0, exclusive: true }, () => {
        this.tcp.off('error', reject);
        resolve();
      });
    });
    const address = this.tcp.address();
    if (address === null || typeof address === 'string') throw new Error(`direct listener on ${this.options.address} reports no TCP port`);
    return address.port;
  }

  /** Stops listening and destroys the dropped connections; connections handed over to a channel stay open. */
  async stopListening(): Promise<void> {
    for (const socket of this.held) socket.destroy();
    for (const channel of this.waiting.splice(0)) channel.close(1000, 'direct attempt over');
    if (!this.tcp.listening) return;
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }

  /** Stops listening and destroys every connection, held or handed over. */
  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    for (const socket of this.sockets) socket.destroy();
    await this.stopListening();
  }

  private gate(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', (error) => this.deps.logger.debug({ err: error.message }, 'direct listener socket error'));
    const peer = normaliseAddress(socket.remoteAddress ?? '');
    const dropReason = this.options.blockInbound ? 'the firewall blocks inbound connections' : this.admitted.has(peer) || this.admits(peer) ? undefined : 'no connectivity check from this address passed the NAT';
    if (dropReason !== undefined) {
      this.dropped++;
      this.held.add(socket);
      socket.once('close', () => this.held.delete(socket));
      // Dropped, as a firewall drops a SYN: nothing is read or written until the listener stops.
      socket.pause();
      this.deps.logger.info({ peer, reason: dropReason }, 'inbound direct connection dropped');
      return;
    }
    this.https.emit('connection', socket);
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(request.url ?? '/', 'https://localhost').pathname;
    if (path !== DIRECT_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      const channel = new Channel(ws, { logger: this.deps.logger }, this.options.channel);
      if (this.onChannel === undefined) this.waiting.push(channel);
      else this.onChannel(channel);
    });
  }
}
