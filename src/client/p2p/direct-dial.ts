import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import type { Logger } from '../../logging/logger.js';
import { Channel, type ChannelOptions } from '../../net/channel.js';
import { WS_HARD_MAX_PAYLOAD_BYTES } from '../../net/ws-server.js';
import { isLoopbackAddress } from '../../stun-protocol/ip-address.js';
import { DIRECT_PATH } from './direct-listener.js';
import type { Endpoint } from './connectivity-checks.js';

export interface DirectDialOptions {
  target: Endpoint;
  /** Fingerprint the peer signalled; the certificate it presents must match. */
  fingerprint: string;
  localAddress: string;
  timeoutMs: number;
  channel: ChannelOptions;
}

/**
 * Opens the direct TLS WebSocket to a peer's listener. The peer's
 * certificate is self-signed, so it is verified by pinning: the connection
 * is dropped before anything is sent unless the certificate's SHA-256
 * fingerprint equals the one the peer signalled through the master.
 */
export async function dialDirect(deps: { logger: Logger }, options: DirectDialOptions): Promise<Channel> {
  const { target } = options;
  if (!isLoopbackAddress(target.address)) {
    throw new Error(`peer candidate ${target.address} is not a loopback address; atlas-sim connects only within 127.0.0.0/8 or ::1`);
  }
  const url = `wss://${target.address}:${target.port}${DIRECT_PATH}`;
  const ws = new WebSocket(url, {
    // The chain is not checked because the certificate is self-signed; the fingerprint check below replaces it.
    rejectUnauthorized: false,
    localAddress: options.localAddress,
    handshakeTimeout: options.timeoutMs,
    maxPayload: WS_HARD_MAX_PAYLOAD_BYTES,
    perMessageDeflate: false,
  });

  const startedAt = Date.now();
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.off('open', onOpen);
      ws.terminate();
      // ws reports its own handshake timeout as the socket error of the aborted request, so the elapsed time identifies a timeout.
      const elapsedMs = Date.now() - startedAt;
      const detail = elapsedMs >= options.timeoutMs ? `no answer within ${elapsedMs} ms, so the peer's NAT or firewall dropped it` : error.message;
      reject(new Error(`direct connection to ${target.address}:${target.port} failed: ${detail}`, { cause: error }));
    };
    const onOpen = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.off('error', fail);
      resolve();
    };
    // ws measures handshakeTimeout as socket inactivity, which can run past the deadline, so the deadline has its own timer.
    const timer = setTimeout(() => fail(new Error('timed out')), options.timeoutMs);
    ws.on('upgrade', (response: IncomingMessage) => {
      const presented = (response.socket as TLSSocket).getPeerCertificate().fingerprint256;
      if (presented !== options.fingerprint) {
        fail(new Error(`the peer presented certificate ${presented ?? '(none)'}, not the signalled ${options.fingerprint}`));
      }
    });
    ws.once('error', fail);
    ws.once('open', onOpen);
  });
  return new Channel(ws, deps, options.channel);
}
