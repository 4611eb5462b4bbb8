import { isIPv4 } from 'node:net';
import type { WebSocket } from 'ws';
import type { Logger } from '../logging/logger.js';
import { acceptorMac, createNonce, verifyConnector } from '../net/appliance-handshake.js';
import { Channel, type ChannelOptions } from '../net/channel.js';
import { CLOSE_NORMAL, ProtocolError, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, type atlas } from '../protocol/messages.js';
import { SOFTWARE_VERSION } from '../config/constants.js';
import { isLoopbackAddress } from './cidr.js';

/** WebSocket path of the DNS claim channel. */
export const DNS_CLAIM_PATH = '/dns-claim';
/** Time a new claim connection has to send ApplianceAuth. */
export const DEFAULT_CLAIM_AUTH_TIMEOUT_MS = 10_000;

/** The claim on one hostname, as the DNS server holds it. */
export interface ClaimRecord {
  hostname: string;
  address: string;
  /** Term of the master that made the record; 0 while the record comes from the zone file. */
  term: number;
  owner: string;
  /** True while the owner's claim channel is open, so no other master may take the record. */
  live: boolean;
}

export interface DnsClaimEndpointDeps {
  logger: Logger;
  /** Inter-appliance pre-shared key; a master proves it before it may claim. */
  psk: Uint8Array;
  /** Sets the A record in the zone that queries are answered from. */
  setRecord: (hostname: string, addresses: string[]) => void;
  /** Called after every granted claim that changed the owner, term or address. */
  onGranted?: (record: ClaimRecord) => void;
}

export interface DnsClaimEndpointOptions {
  /** Name of this DNS process, sent in the challenge. */
  name: string;
  /** Hostnames a master may claim (the site hostname), with the address the zone file gives each. */
  claimable: Record<string, string>;
  channel: ChannelOptions;
  authTimeoutMs?: number;
}

interface Holder {
  term: number;
  owner: string;
  address: string;
  channel: Channel | undefined;
}

/**
 * The DNS claim channel: a master that proved the pre-shared key asks for a
 * hostname (the site hostname) to point at its own address under its term.
 * A claim is granted when its term is not older than the record's, and the
 * record has no other live holder: a master holds a claim for as long as its
 * claim channel stays open, and the channel's heartbeat drops a master that
 * died or stopped. A term once granted to one master is never granted to
 * another, so the DNS server decides which master is the primary of a term.
 */
export class DnsClaimEndpoint {
  private readonly holders = new Map<string, Holder>();
  private readonly channels = new Set<Channel>();

  constructor(private readonly deps: DnsClaimEndpointDeps, private readonly options: DnsClaimEndpointOptions) {
    for (const [hostname, address] of Object.entries(options.claimable)) {
      this.holders.set(hostname.toLowerCase(), { term: 0, owner: '', address, channel: undefined });
    }
  }

  /** Every claimable hostname with its current holder. */
  records(): ClaimRecord[] {
    return [...this.holders.entries()].map(([hostname, holder]) => describe(hostname, holder));
  }

  /** Takes over a WebSocket upgraded on DNS_CLAIM_PATH. */
  accept(ws: WebSocket): void {
    const channel = new Channel(ws, { logger: this.deps.logger }, this.options.channel);
    const logger = this.deps.logger.child({ peer: channel.remoteAddress });
    this.channels.add(channel);
    const nonce = createNonce();
    const timeoutMs = this.options.authTimeoutMs ?? DEFAULT_CLAIM_AUTH_TIMEOUT_MS;
    const authTimer = setTimeout(() => channel.fail(ErrorCode.ERROR_AUTH_FAILED, `no ApplianceAuth received within ${timeoutMs} ms of the challenge`), timeoutMs);
    authTimer.unref();

    let master: string | undefined;
    channel.onMessage((envelope) => {
      if (master === undefined) {
        clearTimeout(authTimer);
        master = this.authenticate(channel, envelope, nonce);
        logger.info({ master }, 'master connected to the claim channel');
        return;
      }
      this.handle(channel, master, envelope, logger);
    });
    channel.once('close', (close) => {
      clearTimeout(authTimer);
      this.channels.delete(channel);
      this.release(channel, logger, close.reason);
    });
    channel.send({ applianceChallenge: { nodeName: this.options.name, applianceGuid: '', nonce, softwareVersion: SOFTWARE_VERSION } });
  }

  /** Closes every claim channel. */
  close(reason: string): void {
    for (const channel of this.channels) channel.close(CLOSE_NORMAL, reason);
  }

  private authenticate(channel: Channel, envelope: DecodedEnvelope, nonce: Buffer): string {
    const verified = verifyConnector(envelope, this.deps.psk, nonce, this.options.name);
    channel.send({ applianceAuthOk: { mac: acceptorMac(this.deps.psk, verified), appliedConfigVersion: 0, accepting: true, term: 0 } });
    return verified.auth.nodeName;
  }

  private handle(channel: Channel, master: string, envelope: DecodedEnvelope, logger: Logger): void {
    if (envelope.body !== 'dnsClaim') {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected on the DNS claim channel; send dnsClaim`);
    }
    const claim = envelope.dnsClaim as atlas.DnsClaim;
    const hostname = claim.hostname.toLowerCase();
    const holder = this.holders.get(hostname);
    if (holder === undefined) {
      throw new ProtocolError(ErrorCode.ERROR_NOT_FOUND, `hostname ${JSON.stringify(claim.hostname)} cannot be claimed; claimable: ${[...this.holders.keys()].join(', ')}`);
    }
    if (claim.owner !== master) {
      throw new ProtocolError(ErrorCode.ERROR_AUTH_FAILED, `claim owner ${JSON.stringify(claim.owner)} is not the authenticated master ${master}`);
    }
    if (!isIPv4(claim.address) || !isLoopbackAddress(claim.address)) {
      throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `claim address ${JSON.stringify(claim.address)} is not an IPv4 loopback address`);
    }
    if (!Number.isSafeInteger(claim.term) || claim.term < 1) {
      throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `claim term ${claim.term} is invalid; expected an integer of at least 1`);
    }

    const refusal = this.refusal(holder, master, claim.term);
    if (refusal !== undefined) {
      logger.warn({ hostname, master, term: claim.term, holder: holder.owner, holderTerm: holder.term, live: holder.channel !== undefined, reason: refusal }, 'claim rejected');
      channel.send({ dnsClaimResult: { ...resultFields(hostname, holder), granted: false, message: refusal } });
      return;
    }
    this.grant(hostname, holder, channel, master, claim, logger);
  }

  /** Returns why `master` may not take the record at `term`, or undefined when it may. */
  private refusal(holder: Holder, master: string, term: number): string | undefined {
    if (term < holder.term) return `term ${term} is older than term ${holder.term} of ${holder.owner}`;
    if (holder.owner === master || holder.owner === '') return undefined;
    if (holder.channel !== undefined) return `${holder.owner} holds the record under term ${holder.term} and its claim channel is open`;
    if (term === holder.term) return `term ${term} was already granted to ${holder.owner}`;
    return undefined;
  }

  private grant(hostname: string, holder: Holder, channel: Channel, master: string, claim: atlas.DnsClaim, logger: Logger): void {
    const changed = holder.owner !== master || holder.term !== claim.term || holder.address !== claim.address;
    const previous = { owner: holder.owner, term: holder.term, address: holder.address };
    holder.owner = master;
    holder.term = claim.term;
    holder.address = claim.address;
    holder.channel = channel;
    if (changed) {
      this.deps.setRecord(hostname, [claim.address]);
      logger.info({ hostname, master, term: claim.term, address: claim.address, previous }, 'claim granted, A record moved');
      this.deps.onGranted?.(describe(hostname, holder));
    } else {
      logger.debug({ hostname, master, term: claim.term }, 'claim renewed');
    }
    channel.send({ dnsClaimResult: { ...resultFields(hostname, holder), granted: true, message: changed ? 'granted' : 'renewed' } });
  }

  /** Frees every record held through `channel`; the A record keeps pointing at the old holder. */
  private release(channel: Channel, logger: Logger, reason: string): void {
    for (const [hostname, holder] of this.holders) {
      if (holder.channel !== channel) continue;
      holder.channel = undefined;
      logger.info({ hostname, owner: holder.owner, term: holder.term, reason }, 'claim channel closed, record may be claimed under a newer term');
    }
  }
}

function describe(hostname: string, holder: Holder): ClaimRecord {
  return { hostname, address: holder.address, term: holder.term, owner: holder.owner, live: holder.channel !== undefined };
}

function resultFields(hostname: string, holder: Holder): atlas.IDnsClaimResult {
  return { hostname, address: holder.address, term: holder.term, owner: holder.owner };
}
