import type { LookupFunction } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import type { Logger } from '../logging/logger.js';
import { Channel, type ChannelOptions } from './channel.js';
import { WS_HARD_MAX_PAYLOAD_BYTES } from './ws-server.js';

/** Time allowed for TCP, TLS and the WebSocket handshake together. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export interface ConnectOptions extends ChannelOptions {
  host: string;
  port: number;
  path: string;
  /** Cluster CA that signs every server certificate. */
  ca: Buffer | string;
  /** Name verified in the server certificate; defaults to `host`. */
  tlsName?: string;
  /** Resolves hostnames through the cluster DNS server. */
  lookup: LookupFunction;
  /** Source address to bind, so the server sees this client's own address. */
  localAddress?: string;
  connectTimeoutMs?: number;
}

/** Failure to open a channel, with the URL and the cause in the message. */
export class ConnectError extends Error {
  override name = 'ConnectError';

  constructor(readonly url: string, override readonly cause: Error) {
    super(`connecting to ${url} failed: ${cause.message}`);
  }
}

/**
 * Opens a TLS WebSocket verified against the cluster CA and wraps it in a
 * Channel. The certificate must cover `tlsName` (or `host`).
 */
export async function connectChannel(deps: { logger: Logger }, options: ConnectOptions): Promise<Channel> {
  const url = `wss://${formatHost(options.host)}:${options.port}${options.path}`;
  const settings: ClientOptions & ConnectionOptions = {
    ca: options.ca,
    servername: options.tlsName ?? options.host,
    lookup: options.lookup,
    localAddress: options.localAddress,
    handshakeTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxPayload: WS_HARD_MAX_PAYLOAD_BYTES,
    perMessageDeflate: false,
  };
  const ws = new WebSocket(url, settings);

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      ws.off('open', onOpen);
      ws.terminate();
      reject(new ConnectError(url, error));
    };
    const onOpen = (): void => {
      ws.off('error', onError);
      resolve();
    };
    ws.once('error', onError);
    ws.once('open', onOpen);
  });
  return new Channel(ws, deps, options);
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
