import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from '../../logging/logger.js';
import { usernameAttribute, xorMappedAddressAttribute, decodeText } from '../../stun-protocol/attributes.js';
import { decodeStunMessage, encodeStunMessage, findAttribute, StunDecodeError, type DecodedStunMessage } from '../../stun-protocol/codec.js';
import { STUN_TRANSACTION_ID_LENGTH, StunAttributeType, StunClass, StunMethod } from '../../stun-protocol/constants.js';
import { verifyMessageIntegrity } from '../../stun-protocol/integrity.js';
import { unmapIpv4Address } from '../../stun-protocol/ip-address.js';
import { errorMessage } from '../../util/errors.js';
import { mapsPerDestination, NatFilter } from './nat-model.js';
import type { NatType } from '../../config/peer-to-peer.js';

/** Pause between two rounds of checks to every target. */
export const CHECK_INTERVAL_MS = 50;

export interface Endpoint {
  address: string;
  port: number;
}

export interface ConnectivityCheckOptions {
  logger: Logger;
  natType: NatType;
  /** The client's own address; per-destination mappings bind new sockets on it. */
  localAddress: string;
  /** The socket STUN was queried from, whose mapping peers learnt, with its NAT filter. */
  stunSocket: Socket;
  stunFilter: NatFilter;
  /** Short-term key of RFC 5389 MESSAGE-INTEGRITY on every check and response: the session's direct key. */
  key: Buffer;
  selfId: string;
  peerId: string;
  /** The peer's reflexive address from its candidates. */
  peer: Endpoint;
}

/** Outcome of the checks from this client's side. */
export interface CheckOutcome {
  /** A check from the peer passed this client's NAT. */
  received: boolean;
  /** A response to one of this client's checks came back. */
  answered: boolean;
  /** Addresses whose checks passed this client's NAT; the direct listener admits connections from them. */
  admittedAddresses: Set<string>;
  /** Datagrams this client's NAT dropped. */
  dropped: number;
}

interface Mapping {
  socket: Socket;
  filter: NatFilter;
}

/**
 * RFC 5389 Binding requests between two clients, as ICE connectivity checks
 * are, through the NAT each client simulates. USERNAME is
 * "<receiver id>:<sender id>" and MESSAGE-INTEGRITY is keyed with the
 * session's direct key, so a check from anyone else is ignored. A check that
 * passes the receiver's NAT gets a response and a triggered check back to
 * the address it came from.
 */
export class ConnectivityChecks {
  private readonly targets = new Map<string, Endpoint>();
  private readonly extraMappings = new Map<string, Mapping>();
  private readonly pending = new Set<string>();
  private readonly outcome: CheckOutcome = { received: false, answered: false, admittedAddresses: new Set(), dropped: 0 };
  private readonly onStunMessage: (datagram: Buffer, remote: RemoteInfo) => void;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: ConnectivityCheckOptions) {
    this.onStunMessage = (datagram, remote) => this.receive({ socket: options.stunSocket, filter: options.stunFilter }, datagram, remote);
    this.targets.set(endpointKey(options.peer), options.peer);
  }

  /** True when a check from `address` has passed this client's NAT so far. */
  hasAdmitted(address: string): boolean {
    return this.outcome.admittedAddresses.has(address);
  }

  get result(): CheckOutcome {
    return { ...this.outcome, admittedAddresses: new Set(this.outcome.admittedAddresses) };
  }

  /** Sends checks to every target every CHECK_INTERVAL_MS and responds to checks until close(). */
  start(): void {
    this.options.stunSocket.on('message', this.onStunMessage);
    this.sendRound();
    this.timer = setInterval(() => this.sendRound(), CHECK_INTERVAL_MS);
  }

  /** Resolves with the outcome so far once a check came in and one got a response, or after `windowMs`. Checks continue. */
  async settle(windowMs: number): Promise<CheckOutcome> {
    const deadline = Date.now() + windowMs;
    while (!this.closed && Date.now() < deadline && !(this.outcome.received && this.outcome.answered)) {
      await new Promise((resolve) => setTimeout(resolve, CHECK_INTERVAL_MS));
    }
    return this.result;
  }

  /** Stops sending checks but keeps responding to them, so the peer's checks still succeed. */
  stopSending(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops everything and closes the per-destination sockets; the STUN socket belongs to the caller. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopSending();
    this.options.stunSocket.off('message', this.onStunMessage);
    for (const mapping of this.extraMappings.values()) mapping.socket.close();
    this.extraMappings.clear();
  }

  private sendRound(): void {
    for (const target of this.targets.values()) this.sendCheck(target);
  }

  private sendCheck(target: Endpoint): void {
    const mapping = this.mappingFor(target);
    if (mapping === undefined) return;
    const transactionId = randomBytes(STUN_TRANSACTION_ID_LENGTH);
    this.pending.add(transactionId.toString('hex'));
    const request = encodeStunMessage(
      { method: StunMethod.binding, messageClass: StunClass.request, transactionId, attributes: [usernameAttribute(`${this.options.peerId}:${this.options.selfId}`)] },
      { integrityKey: this.options.key, fingerprint: true },
    );
    this.send(mapping, request, target);
  }

  /** Returns the mapping a datagram to `target` leaves through: the STUN socket, or a new socket per destination behind a symmetric NAT. */
  private mappingFor(target: Endpoint): Mapping | undefined {
    if (!mapsPerDestination(this.options.natType)) return { socket: this.options.stunSocket, filter: this.options.stunFilter };
    if (this.closed) return undefined;
    const key = endpointKey(target);
    let mapping = this.extraMappings.get(key);
    if (mapping === undefined) {
      const socket = createSocket({ type: 'udp4' });
      const created: Mapping = { socket, filter: new NatFilter(this.options.natType) };
      socket.on('message', (datagram, remote) => this.receive(created, datagram, remote));
      socket.on('error', (error) => this.options.logger.warn({ err: errorMessage(error), target: key }, 'connectivity check socket failed'));
      socket.bind({ address: this.options.localAddress, port: 0 });
      this.extraMappings.set(key, created);
      mapping = created;
    }
    return mapping;
  }

  private send(mapping: Mapping, bytes: Buffer, target: Endpoint): void {
    mapping.filter.recordOutbound(target.address, target.port);
    mapping.socket.send(bytes, target.port, target.address, (error) => {
      if (error !== null && !this.closed) this.options.logger.debug({ err: errorMessage(error), target: endpointKey(target) }, 'connectivity check not sent');
    });
  }

  private receive(mapping: Mapping, datagram: Buffer, remote: RemoteInfo): void {
    if (this.closed) return;
    const source: Endpoint = { address: unmapIpv4Address(remote.address), port: remote.port };
    let message: DecodedStunMessage;
    try {
      message = decodeStunMessage(datagram);
    } catch (error) {
      if (!(error instanceof StunDecodeError)) throw error;
      this.options.logger.debug({ peer: endpointKey(source), reason: error.reason }, 'malformed datagram during connectivity checks dropped');
      return;
    }
    if (message.method !== StunMethod.binding || message.messageIntegrity === undefined) return;
    if (!mapping.filter.admits(source.address, source.port)) {
      this.outcome.dropped++;
      return;
    }
    if (!verifyMessageIntegrity(message, this.options.key)) {
      this.options.logger.debug({ peer: endpointKey(source) }, 'connectivity check with a wrong MESSAGE-INTEGRITY ignored');
      return;
    }
    if (message.messageClass === StunClass.request) this.answerCheck(mapping, message, source);
    else if (message.messageClass === StunClass.successResponse && this.pending.has(message.transactionId.toString('hex'))) this.outcome.answered = true;
  }

  private answerCheck(mapping: Mapping, request: DecodedStunMessage, source: Endpoint): void {
    const username = findAttribute(request, StunAttributeType.username);
    if (username === undefined || decodeText(username) !== `${this.options.selfId}:${this.options.peerId}`) return;
    this.outcome.received = true;
    this.outcome.admittedAddresses.add(source.address);
    const response = encodeStunMessage(
      {
        method: StunMethod.binding,
        messageClass: StunClass.successResponse,
        transactionId: request.transactionId,
        attributes: [xorMappedAddressAttribute({ family: 'IPv4', address: source.address, port: source.port }, request.transactionId)],
      },
      { integrityKey: this.options.key, fingerprint: true },
    );
    this.send(mapping, response, source);
    // A triggered check (RFC 8445 section 7.3.1.4) to where the check came from.
    const key = endpointKey(source);
    if (!this.targets.has(key)) {
      this.targets.set(key, source);
      if (this.timer !== undefined) this.sendCheck(source);
    }
  }
}

function endpointKey(endpoint: Endpoint): string {
  return `${endpoint.address}:${endpoint.port}`;
}
