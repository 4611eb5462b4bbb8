import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { errorCodeAttribute, softwareAttribute, unknownAttributesAttribute, xorMappedAddressAttribute } from './attributes.js';
import { decodeStunMessage, encodeStunMessage, StunDecodeError, type DecodedStunMessage, type StunAttribute } from './codec.js';
import {
  isComprehensionRequired,
  KNOWN_COMPREHENSION_REQUIRED_ATTRIBUTES,
  StunClass,
  StunErrorCode,
  StunMethod,
} from './constants.js';
import { verifyFingerprint } from './integrity.js';
import { parseIpAddress, unmapIpv4Address } from './ip-address.js';

/** SOFTWARE value of responses unless the options set another. */
export const DEFAULT_STUN_SOFTWARE = 'atlas-sim STUN server';

/** Minimum time between two warn lines about malformed packets. Drops in between are counted and logged at debug level. */
export const MALFORMED_LOG_INTERVAL_MS = 10_000;

export interface StunServerDeps {
  logger: Logger;
}

export interface StunServerOptions {
  /** IP address to bind. */
  address: string;
  /** UDP port to bind; 0 picks a free port. */
  port: number;
  /** SOFTWARE attribute of every response (fewer than 128 characters). */
  software?: string;
}

/** Packet counters of a StunServer since it was created. */
export interface StunServerCounters {
  /** Responses handed to the socket, success and error responses together. */
  answered: number;
  /** The part of `answered` that were error responses (400, 420). */
  errorResponses: number;
  /** Datagrams dropped because they are not a well-formed STUN message or their FINGERPRINT is wrong. */
  malformed: number;
  /** Well-formed messages dropped without a response: indications and responses. */
  ignored: number;
  /** Failures inside the server: socket errors, failed sends, unexpected exceptions. */
  errors: number;
}

/** Address and port a server is bound to. */
export interface BoundAddress {
  address: string;
  port: number;
}

/**
 * Serves STUN Binding requests over UDP (RFC 5389 and RFC 8489, without authentication).
 * A success response carries XOR-MAPPED-ADDRESS, SOFTWARE and FINGERPRINT. Malformed
 * datagrams are dropped and counted, and an exception while handling one datagram is logged
 * and counted in `errors`. RFC 3489 requests lack the magic cookie, so they count as malformed.
 */
export class StunServer {
  private readonly logger: Logger;
  private readonly options: StunServerOptions;
  private readonly softwareAttribute: StunAttribute;
  private readonly packetCounters: StunServerCounters = { answered: 0, errorResponses: 0, malformed: 0, ignored: 0, errors: 0 };
  private socket: Socket | undefined;
  private lastMalformedWarningAt = -Infinity;
  private malformedSinceWarning = 0;

  constructor(deps: StunServerDeps, options: StunServerOptions) {
    if (parseIpAddress(options.address) === undefined) {
      throw new TypeError(`STUN server address "${options.address}" is not an IPv4 or IPv6 address`);
    }
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 0xffff) {
      throw new RangeError(`STUN server port must be an integer 0-65535, got ${options.port}`);
    }
    this.logger = deps.logger;
    this.options = options;
    this.softwareAttribute = softwareAttribute(options.software ?? DEFAULT_STUN_SOFTWARE);
  }

  /** A snapshot of the packet counters. */
  get counters(): StunServerCounters {
    return { ...this.packetCounters };
  }

  /** Binds the UDP socket and resolves with the bound address once it receives. Rejects when binding fails. */
  async listen(): Promise<BoundAddress> {
    if (this.socket !== undefined) {
      throw new Error('STUN server is already listening; call close() before listen() again');
    }
    const family = parseIpAddress(this.options.address)?.family;
    const socket = createSocket({ type: family === 'IPv6' ? 'udp6' : 'udp4' });
    this.socket = socket;

    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address: this.options.address, port: this.options.port, exclusive: true }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      this.socket = undefined;
      socket.close();
      this.logger.error({ err: error, address: this.options.address, port: this.options.port }, 'STUN server failed to bind');
      throw error;
    }

    socket.on('error', (error) => {
      this.packetCounters.errors++;
      this.logger.error({ err: error }, 'STUN server socket error');
    });
    socket.on('message', (datagram, remote) => this.handleDatagram(datagram, remote));
    const bound = socket.address();
    this.logger.info({ address: bound.address, port: bound.port }, 'STUN server listening');
    return { address: bound.address, port: bound.port };
  }

  /** Closes the socket. Resolves at once when the server is not listening. */
  async close(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined) {
      return;
    }
    this.socket = undefined;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.logger.info({ counters: this.counters }, 'STUN server closed');
  }

  private handleDatagram(datagram: Buffer, remote: RemoteInfo): void {
    const peer = `${remote.address}:${remote.port}`;
    try {
      const request = this.decodeRequest(datagram, peer);
      if (request === undefined) {
        return;
      }
      const response = this.buildResponse(request, remote);
      this.send(response, remote, peer);
    } catch (error) {
      this.packetCounters.errors++;
      this.logger.error({ err: error, peer }, 'STUN server failed to handle a datagram');
    }
  }

  /** Returns the request to respond to, or undefined after counting a dropped datagram (RFC 5389 section 7.3). */
  private decodeRequest(datagram: Buffer, peer: string): DecodedStunMessage | undefined {
    let message: DecodedStunMessage;
    try {
      message = decodeStunMessage(datagram);
    } catch (error) {
      if (error instanceof StunDecodeError) {
        this.recordMalformed(peer, error.reason, error.message);
        return undefined;
      }
      throw error;
    }

    // RFC 5389 section 7.3: a message whose FINGERPRINT is present but wrong is discarded.
    if (message.fingerprint !== undefined && !verifyFingerprint(message)) {
      this.recordMalformed(peer, 'bad-fingerprint', 'FINGERPRINT does not match the message');
      return undefined;
    }
    if (message.messageClass !== StunClass.request) {
      this.packetCounters.ignored++;
      this.logger.debug({ peer, method: message.method, messageClass: message.messageClass }, 'STUN server ignored a message that is not a request');
      return undefined;
    }
    return message;
  }

  /** Builds the success or error response to a request (RFC 5389 sections 7.3.1 and 10). */
  private buildResponse(request: DecodedStunMessage, remote: RemoteInfo): { bytes: Buffer; errorCode?: number } {
    const base = { method: request.method, transactionId: request.transactionId };

    // Only Binding is implemented, so any other method gets 400 (Bad Request).
    if (request.method !== StunMethod.binding) {
      const attributes = [errorCodeAttribute({ code: StunErrorCode.badRequest, reason: 'Unsupported method' }), this.softwareAttribute];
      return { bytes: encodeStunMessage({ ...base, messageClass: StunClass.errorResponse, attributes }, { fingerprint: true }), errorCode: StunErrorCode.badRequest };
    }

    // RFC 5389 section 7.3.1: unknown comprehension-required attributes get 420 listing them.
    // Unknown comprehension-optional attributes (0x8000-0xFFFF) are ignored.
    const unknownTypes = [
      ...new Set(request.attributes.map((attribute) => attribute.type).filter((type) => isComprehensionRequired(type) && !KNOWN_COMPREHENSION_REQUIRED_ATTRIBUTES.has(type))),
    ];
    if (unknownTypes.length > 0) {
      const attributes = [
        errorCodeAttribute({ code: StunErrorCode.unknownAttribute, reason: 'Unknown Attribute' }),
        unknownAttributesAttribute(unknownTypes),
        this.softwareAttribute,
      ];
      return {
        bytes: encodeStunMessage({ ...base, messageClass: StunClass.errorResponse, attributes }, { fingerprint: true }),
        errorCode: StunErrorCode.unknownAttribute,
      };
    }

    // A listener on "::" reports IPv4 peers as IPv4-mapped IPv6 addresses; the client expects its IPv4 address.
    const address = unmapIpv4Address(remote.address);
    const family = parseIpAddress(address)?.family ?? 'IPv4';
    const attributes = [xorMappedAddressAttribute({ family, address, port: remote.port }, request.transactionId), this.softwareAttribute];
    return { bytes: encodeStunMessage({ ...base, messageClass: StunClass.successResponse, attributes }, { fingerprint: true }) };
  }

  private send(response: { bytes: Buffer; errorCode?: number }, remote: RemoteInfo, peer: string): void {
    const socket = this.socket;
    if (socket === undefined) {
      return;
    }
    this.packetCounters.answered++;
    if (response.errorCode !== undefined) {
      this.packetCounters.errorResponses++;
    }
    this.logger.debug({ peer, errorCode: response.errorCode }, 'STUN server sent a Binding response');
    socket.send(response.bytes, remote.port, remote.address, (error) => {
      if (error !== null) {
        this.packetCounters.errors++;
        this.logger.warn({ err: error, peer }, 'STUN server failed to send a response');
      }
    });
  }

  private recordMalformed(peer: string, reason: string, detail: string): void {
    this.packetCounters.malformed++;
    const now = performance.now();
    if (now - this.lastMalformedWarningAt < MALFORMED_LOG_INTERVAL_MS) {
      this.malformedSinceWarning++;
      this.logger.debug({ peer, reason, detail }, 'STUN server dropped a malformed datagram');
      return;
    }
    this.logger.warn(
      { peer, reason, detail, droppedSinceLastWarning: this.malformedSinceWarning, malformedTotal: this.packetCounters.malformed },
      'STUN server dropped a malformed datagram',
    );
    this.lastMalformedWarningAt = now;
    this.malformedSinceWarning = 0;
  }
}
