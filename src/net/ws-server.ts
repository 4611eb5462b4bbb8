import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../logging/logger.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/envelope.js';
import { errorMessage } from '../util/errors.js';
import { normaliseAddress } from './channel.js';

/**
 * Hard cap enforced by ws itself. Messages between the channel limit and this
 * cap get an Error envelope before the close; ws closes larger ones with 1009
 * before any application code sees them.
 */
export const WS_HARD_MAX_PAYLOAD_BYTES = 16 * DEFAULT_MAX_MESSAGE_BYTES;

export type UpgradeHandler = (ws: WebSocket, request: IncomingMessage) => void;
export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

export interface TlsServerCredentials {
  cert: Buffer | string;
  key: Buffer | string;
}

export interface WsServerOptions {
  host: string;
  port: number;
  tls: TlsServerCredentials;
  /** WebSocket endpoints by URL path, such as `/control` or `/session`. */
  paths: Record<string, UpgradeHandler>;
  /** Plain HTTPS requests (the admin API); 404 when absent. */
  onRequest?: RequestHandler;
}

/** An HTTPS server on one address that accepts WebSocket upgrades on known paths. */
export class WsServer {
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<Duplex>();

  constructor(private readonly deps: { logger: Logger }, private readonly options: WsServerOptions) {
    this.server = createServer({ cert: options.tls.cert, key: options.tls.key });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: WS_HARD_MAX_PAYLOAD_BYTES, perMessageDeflate: false });
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head));
    this.server.on('request', (request: IncomingMessage, response: ServerResponse) => this.request(request, response));
    this.server.on('connection', (socket: Duplex) => this.track(socket));
    this.server.on('secureConnection', (socket: Duplex) => this.track(socket));
    this.server.on('tlsClientError', (error, socket) => {
      this.deps.logger.debug({ err: errorMessage(error), peer: normaliseAddress(socket.remoteAddress ?? '') }, 'TLS handshake failed');
    });
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.options.host, port: this.options.port, exclusive: true }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.options.port;
  }

  /** Stops accepting and drops every open connection. */
  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(request.url ?? '/', 'https://localhost').pathname;
    const handler = this.options.paths[path];
    if (handler === undefined) {
      this.deps.logger.debug({ path }, 'upgrade on unknown path rejected');
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      try {
        handler(ws, request);
      } catch (error) {
        this.deps.logger.error({ err: errorMessage(error), path }, 'upgrade handler failed');
        ws.terminate();
      }
    });
  }

  private request(request: IncomingMessage, response: ServerResponse): void {
    if (this.options.onRequest === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    this.options.onRequest(request, response);
  }
}
