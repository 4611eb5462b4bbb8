import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { decodeErrorCode, decodeMappedAddress, decodeXorMappedAddress, type TransportAddress } from './attributes.js';
import { decodeStunMessage, encodeStunMessage, findAttribute, type DecodedStunMessage } from './codec.js';
import {
  isComprehensionRequired,
  KNOWN_COMPREHENSION_REQUIRED_ATTRIBUTES,
  STUN_TRANSACTION_ID_LENGTH,
  StunAttributeType,
  StunClass,
  StunMethod,
} from './constants.js';
import { verifyFingerprint } from './integrity.js';
import { isLoopbackAddress, parseIpAddress, unmapIpv4Address } from './ip-address.js';

/** First retransmission timeout; RFC 5389 section 7.2.1 recommends at least 500 ms. */
export const DEFAULT_STUN_INITIAL_RTO_MS = 500;

/** Retransmissions after the first request: RFC 5389 section 7.2.1 sends Rc = 7 requests in total. */
export const DEFAULT_STUN_RETRIES = 6;

/**
 * Time for the whole transaction: with the defaults above RFC 5389 section 7.2.1 gives up
 * 39.5 s after the first request (sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s, then waits 16 x RTO).
 */
export const DEFAULT_STUN_TIMEOUT_MS = 39_500;

/** Settings of one Binding transaction: the server and the retransmission limits. */
export interface StunTransactionOptions {
  server: { address: string; port: number };
  /** Deadline for the whole transaction in ms, counted from the first request. */
  timeoutMs?: number;
  /** Retransmissions after the first request; each waits twice as long as the previous one. */
  retries?: number;
  /** Wait in ms before the first retransmission. */
  initialRtoMs?: number;
  /** Receives a warn line per retransmission and debug lines for discarded datagrams. */
  logger?: Logger;
  /** Aborts the transaction; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@link queryStunBinding}. */
export interface StunBindingQuery extends StunTransactionOptions {
  /** Local IP address to bind; it must have the server's address family. */
  localAddress: string;
  /** Local UDP port to bind; 0 or absent picks a free port. */
  localPort?: number;
}

/** Reflexive address reported by the server, and the local address the request left from. */
export interface StunBindingResult extends TransportAddress {
  local: { address: string; port: number };
}

/** Error raised when no valid response arrived before the transaction deadline. */
export class StunTimeoutError extends Error {
  override name = 'StunTimeoutError';
}

/** Error raised for a Binding error response, carrying its ERROR-CODE. */
export class StunErrorResponseError extends Error {
  override name = 'StunErrorResponseError';

  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Sends a Binding request from a fresh UDP socket bound to `localAddress` and returns the
 * reflexive transport address from the response. The socket is closed before the promise settles.
 * Rejects with StunTimeoutError when no response arrives in time, and StunErrorResponseError
 * when the server returns an error response.
 */
export async function queryStunBinding(query: StunBindingQuery): Promise<StunBindingResult> {
  const localFamily = parseIpAddress(query.localAddress)?.family;
  if (localFamily === undefined) {
    throw new TypeError(`localAddress "${query.localAddress}" is not an IPv4 or IPv6 address; pass the client's own loopback address`);
  }
  validateServer(query.server);
  if (parseIpAddress(query.server.address)?.family !== localFamily) {
    throw new TypeError(
      `localAddress ${query.localAddress} is ${localFamily} but the STUN server ${query.server.address} is not; use addresses of one family`,
    );
  }

  const socket = createSocket({ type: localFamily === 'IPv6' ? 'udp6' : 'udp4' });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: query.localAddress, port: query.localPort ?? 0, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const local = socket.address();
    const reflexive = await runBindingTransaction(socket, query);
    return { ...reflexive, local: { address: local.address, port: local.port } };
  } finally {
    await new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

function validateServer(server: { address: string; port: number }): void {
  if (!isLoopbackAddress(server.address)) {
    throw new TypeError(
      `STUN server address "${server.address}" is not a loopback address; atlas-sim sends traffic only to 127.0.0.0/8 or ::1`,
    );
  }
  if (!Number.isInteger(server.port) || server.port < 1 || server.port > 0xffff) {
    throw new RangeError(`STUN server port must be an integer 1-65535, got ${server.port}`);
  }
}

/**
 * Runs one Binding transaction on a bound socket that the caller owns, for example the socket
 * that later carries peer-to-peer traffic. Retransmits as RFC 5389 section 7.2.1 describes:
 * the wait doubles after each request, at most `retries` retransmissions are sent, and the
 * transaction fails at `timeoutMs` after the first request.
 */
export async function runBindingTransaction(socket: Socket, options: StunTransactionOptions): Promise<TransportAddress> {
  validateServer(options.server);
  const timeoutMs = options.timeoutMs ?? DEFAULT_STUN_TIMEOUT_MS;
  const retries = options.retries ?? DEFAULT_STUN_RETRIES;
  const initialRtoMs = options.initialRtoMs ?? DEFAULT_STUN_INITIAL_RTO_MS;
  requirePositiveInteger('timeoutMs', timeoutMs);
  requirePositiveInteger('initialRtoMs', initialRtoMs);
  if (!Number.isInteger(retries) || retries < 0) {
    throw new RangeError(`retries must be an integer >= 0, got ${retries}`);
  }
  options.signal?.throwIfAborted();

  const transactionId = randomBytes(STUN_TRANSACTION_ID_LENGTH);
  const request = encodeStunMessage(
    { method: StunMethod.binding, messageClass: StunClass.request, transactionId, attributes: [] },
    { fingerprint: true },
  );
  const server = `${options.server.address}:${options.server.port}`;
  const startedAt = performance.now();

  return new Promise<TransportAddress>((resolve, reject) => {
    let transmissions = 0;
    let rtoMs = initialRtoMs;
    let retransmitTimer: NodeJS.Timeout | undefined;

    const finish = (outcome: () => void): void => {
      clearTimeout(retransmitTimer);
      clearTimeout(deadlineTimer);
      socket.off('message', onMessage);
      socket.off('error', onSocketError);
      options.signal?.removeEventListener('abort', onAbort);
      outcome();
    };

    const transmit = (): void => {
      transmissions++;
      socket.send(request, options.server.port, options.server.address, (error) => {
        if (error !== null) {
          finish(() => reject(new Error(`failed to send STUN Binding request to ${server}: ${error.message}`, { cause: error })));
        }
      });
      if (transmissions <= retries) {
        retransmitTimer = setTimeout(() => {
          options.logger?.warn({ server, attempt: transmissions + 1, delayMs: rtoMs }, 'STUN Binding request unanswered, retransmitting');
          rtoMs *= 2;
          transmit();
        }, rtoMs);
      }
    };

    const onMessage = (datagram: Buffer, remote: RemoteInfo): void => {
      const outcome = evaluateResponse(datagram, remote, options, transactionId, server);
      if (outcome.kind === 'discard') {
        options.logger?.debug({ server, peer: `${remote.address}:${remote.port}`, reason: outcome.reason }, 'STUN client discarded a datagram');
      } else if (outcome.kind === 'mapped') {
        finish(() => resolve(outcome.address));
      } else {
        finish(() => reject(outcome.error));
      }
    };
    const onSocketError = (error: Error): void => {
      finish(() => reject(new Error(`STUN client socket failed while querying ${server}: ${error.message}`, { cause: error })));
    };
    const onAbort = (): void => {
      const reason: unknown = options.signal?.reason;
      finish(() => reject(reason instanceof Error ? reason : new Error(`STUN Binding request to ${server} aborted: ${String(reason)}`)));
    };
    const deadlineTimer = setTimeout(() => {
      const elapsedMs = Math.round(performance.now() - startedAt);
      finish(() =>
        reject(
          new StunTimeoutError(
            `STUN Binding request to ${server} timed out after ${elapsedMs} ms and ${transmissions} transmissions; check that a STUN server listens on that address and port`,
          ),
        ),
      );
    }, timeoutMs);

    socket.on('message', onMessage);
    socket.on('error', onSocketError);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    transmit();
  });
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer number of milliseconds, got ${value}`);
  }
}

type ResponseOutcome =
  | { kind: 'discard'; reason: string }
  | { kind: 'mapped'; address: TransportAddress }
  | { kind: 'failed'; error: Error };

/** Classifies a datagram received during a transaction (RFC 5389 sections 7.3 and 7.3.3-7.3.4). */
function evaluateResponse(
  datagram: Buffer,
  remote: RemoteInfo,
  options: StunTransactionOptions,
  transactionId: Buffer,
  server: string,
): ResponseOutcome {
  if (unmapIpv4Address(remote.address) !== unmapIpv4Address(options.server.address) || remote.port !== options.server.port) {
    return { kind: 'discard', reason: 'not from the STUN server' };
  }
  let response: DecodedStunMessage;
  try {
    response = decodeStunMessage(datagram);
  } catch (error) {
    return { kind: 'discard', reason: `malformed: ${(error as Error).message}` };
  }
  if (!response.transactionId.equals(transactionId) || response.method !== StunMethod.binding) {
    return { kind: 'discard', reason: 'not a response to this transaction' };
  }
  if (response.fingerprint !== undefined && !verifyFingerprint(response)) {
    return { kind: 'discard', reason: 'FINGERPRINT does not match' };
  }

  try {
    if (response.messageClass === StunClass.errorResponse) {
      const errorValue = findAttribute(response, StunAttributeType.errorCode);
      const { code, reason } = errorValue === undefined ? { code: 0, reason: 'no ERROR-CODE' } : decodeErrorCode(errorValue);
      return { kind: 'failed', error: new StunErrorResponseError(code, reason, `STUN server ${server} returned error ${code} (${reason}) to a Binding request`) };
    }
    if (response.messageClass !== StunClass.successResponse) {
      return { kind: 'discard', reason: 'not a response' };
    }
    return { kind: 'mapped', address: mappedAddressOf(response, server) };
  } catch (error) {
    return { kind: 'failed', error: error as Error };
  }
}

/** Reads XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from servers that send only that (RFC 5389 section 7.3.3). */
function mappedAddressOf(response: DecodedStunMessage, server: string): TransportAddress {
  const unknownTypes = response.attributes
    .map((attribute) => attribute.type)
    .filter((type) => isComprehensionRequired(type) && !KNOWN_COMPREHENSION_REQUIRED_ATTRIBUTES.has(type));
  if (unknownTypes.length > 0) {
    const list = unknownTypes.map((type) => `0x${type.toString(16).padStart(4, '0')}`).join(', ');
    throw new Error(`STUN server ${server} sent a Binding response with unknown comprehension-required attributes ${list}`);
  }
  const xorValue = findAttribute(response, StunAttributeType.xorMappedAddress);
  if (xorValue !== undefined) {
    return decodeXorMappedAddress(xorValue, response.transactionId);
  }
  const plainValue = findAttribute(response, StunAttributeType.mappedAddress);
  if (plainValue !== undefined) {
    return decodeMappedAddress(plainValue);
  }
  throw new Error(`STUN server ${server} sent a Binding response without XOR-MAPPED-ADDRESS or MAPPED-ADDRESS`);
}
