import type { WebSocket } from 'ws';
import { SOFTWARE_VERSION } from '../config/constants.js';
import type { Logger } from '../logging/logger.js';
import { acceptorMac, createNonce, verifyConnector } from '../net/appliance-handshake.js';
import { Channel, type ChannelClose, type ChannelOptions } from '../net/channel.js';
import { CLOSE_NORMAL, ProtocolError, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, type atlas } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import type { MasterRole } from './failover-state.js';

/**
 * Close reason of the replication connections a master closes on purpose,
 * because it or its replication stops. A primary adds ": " and the reason.
 */
export const MASTER_STOPPING_REASON = 'master stopping';

/** Returns true when the other master closed the link because it is stopping on purpose. */
export function closedByStoppingPeer(close: ChannelClose): boolean {
  return !close.local && (close.reason === MASTER_STOPPING_REASON || close.reason.startsWith(`${MASTER_STOPPING_REASON}: `));
}

/** Time a new connection on the master's internal address has to send ApplianceAuth. */
export const DEFAULT_REPLICATION_AUTH_TIMEOUT_MS = 10_000;

/** A master that authenticated on this master's internal address. */
export interface ConnectingMaster {
  name: string;
  guid: string;
  term: number;
}

/** Why a connecting master may not replicate to this one. */
export interface Refusal {
  code: ErrorCode;
  reason: string;
}

export interface ReplicationEndpointDeps {
  logger: Logger;
  /** Inter-appliance pre-shared key in use now. */
  psk: () => Uint8Array;
  self: { name: string; guid: string; model: string };
  role: () => MasterRole;
  /** Highest term this master knows, sent in the challenge and ApplianceAuthOk. */
  term: () => number;
  /** Accepts a connecting master as this master's primary (resolves undefined), or refuses it. May step this master down first. */
  admit: (peer: ConnectingMaster) => Promise<Refusal | undefined>;
  /** Writes one update; the acknowledgement goes out once this resolves. */
  apply: (update: atlas.ReplicationUpdate) => Promise<void>;
  onPrimaryLinked: (peer: ConnectingMaster) => void;
  /** Called when the primary's link closes; `primaryStopping` is true when the primary closed it because it stops on purpose. */
  onPrimaryLost: (peer: ConnectingMaster, reason: string, primaryStopping: boolean) => void;
  /** The primary paired another backup: this master must no longer take over. */
  onUnpaired: (peer: ConnectingMaster, unpair: atlas.FailoverUnpair) => void;
}

export interface ReplicationEndpointOptions {
  channel: ChannelOptions;
  authTimeoutMs?: number;
}

interface PrimaryLink {
  channel: Channel;
  peer: ConnectingMaster;
  logger: Logger;
}

/**
 * The appliance channel on a master's internal address (`/appliance`),
 * accepting side: the primary of the pair connects here to replicate its
 * state. Every connection gets a challenge that names this master's model,
 * role and term. A master that proves the pre-shared key is admitted or
 * refused by the failover rules; an admitted one becomes this master's
 * primary link and replaces an older one.
 */
export class ReplicationEndpoint {
  private link: PrimaryLink | undefined;
  private readonly channels = new Set<Channel>();

  constructor(private readonly deps: ReplicationEndpointDeps, private readonly options: ReplicationEndpointOptions) {}

  /** The primary linked now, if any. */
  get primary(): ConnectingMaster | undefined {
    return this.link?.peer;
  }

  /** Closes every connection, the primary link included. */
  closeAll(reason: string): void {
    for (const channel of this.channels) channel.close(CLOSE_NORMAL, reason);
  }

  /** Takes over a WebSocket upgraded on `/appliance` of the internal address. */
  accept(ws: WebSocket): void {
    const channel = new Channel(ws, { logger: this.deps.logger }, this.options.channel);
    const logger = this.deps.logger.child({ peer: channel.remoteAddress });
    this.channels.add(channel);
    const nonce = createNonce();
    const timeoutMs = this.options.authTimeoutMs ?? DEFAULT_REPLICATION_AUTH_TIMEOUT_MS;
    const authTimer = setTimeout(() => channel.fail(ErrorCode.ERROR_AUTH_FAILED, `no ApplianceAuth received within ${timeoutMs} ms of the challenge`), timeoutMs);
    authTimer.unref();

    let peer: ConnectingMaster | undefined;
    // Messages are handled one at a time, so updates are written in order and only after the admission.
    let handled: Promise<void> = Promise.resolve();
    channel.onMessage((envelope) => {
      if (peer === undefined) {
        clearTimeout(authTimer);
        peer = this.authenticate(channel, envelope, nonce);
        const admitted = peer;
        handled = this.admit(channel, admitted, logger);
        return;
      }
      const current = peer;
      const result = handled.then(() => this.handle(channel, current, envelope));
      handled = result.catch(() => undefined);
      return result;
    });
    channel.once('close', (close) => {
      clearTimeout(authTimer);
      this.channels.delete(channel);
      if (this.link?.channel !== channel) return;
      this.link = undefined;
      const reason = `${close.local ? 'closed by this master' : 'closed by the primary'} with code ${close.code}${close.reason ? ` (${close.reason})` : ''}`;
      const primaryStopping = closedByStoppingPeer(close);
      if (close.local && close.reason === MASTER_STOPPING_REASON) logger.info({ primary: peer?.name, reason }, 'replication link from the primary closed, this master is stopping');
      else if (primaryStopping) logger.info({ primary: peer?.name, reason }, 'replication link from the primary closed by the primary on purpose');
      else logger.warn({ primary: peer?.name, reason }, 'replication link from the primary closed');
      if (peer !== undefined) this.deps.onPrimaryLost(peer, reason, primaryStopping);
    });

    const { self } = this.deps;
    channel.send({
      applianceChallenge: { nodeName: self.name, applianceGuid: self.guid, nonce, softwareVersion: SOFTWARE_VERSION, model: self.model, role: this.deps.role(), term: this.deps.term() },
    });
  }

  private authenticate(channel: Channel, envelope: DecodedEnvelope, nonce: Buffer): ConnectingMaster {
    const psk = this.deps.psk();
    const verified = verifyConnector(envelope, psk, nonce, this.deps.self.name);
    const peer = { name: verified.auth.nodeName, guid: verified.auth.applianceGuid, term: verified.auth.term };
    // The higher of both terms goes back, so a master with an older term learns that it was replaced.
    channel.send({ applianceAuthOk: { mac: acceptorMac(psk, verified), appliedConfigVersion: 0, accepting: false, term: Math.max(peer.term, this.deps.term()) } });
    return peer;
  }

  private async admit(channel: Channel, peer: ConnectingMaster, logger: Logger): Promise<void> {
    let refusal: Refusal | undefined;
    try {
      refusal = await this.deps.admit(peer);
    } catch (error) {
      refusal = { code: ErrorCode.ERROR_INTERNAL, reason: `admitting ${peer.name} failed: ${errorMessage(error)}` };
    }
    if (refusal !== undefined) {
      logger.warn({ master: peer.name, term: peer.term, reason: refusal.reason }, 'master refused on the replication channel');
      channel.fail(refusal.code, refusal.reason);
      return;
    }
    if (!channel.isOpen) return;

    const previous = this.link;
    this.link = { channel, peer, logger: logger.child({ primary: peer.name }) };
    if (previous !== undefined) previous.channel.close(CLOSE_NORMAL, 'replaced by a newer replication link');
    this.link.logger.info({ term: peer.term }, 'primary linked; receiving its state');
    this.deps.onPrimaryLinked(peer);
  }

  private async handle(channel: Channel, peer: ConnectingMaster, envelope: DecodedEnvelope): Promise<void> {
    if (this.link?.channel !== channel) return;
    if (envelope.body === 'replicationUpdate') {
      await this.store(channel, peer, envelope.replicationUpdate as atlas.ReplicationUpdate);
    } else if (envelope.body === 'failoverUnpair') {
      this.deps.onUnpaired(peer, envelope.failoverUnpair as atlas.FailoverUnpair);
      channel.close(CLOSE_NORMAL, 'unpaired');
    } else {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected from a primary master; expected replicationUpdate or failoverUnpair`);
    }
  }

  private async store(channel: Channel, peer: ConnectingMaster, update: atlas.ReplicationUpdate): Promise<void> {
    if (update.term < peer.term) {
      throw new ProtocolError(ErrorCode.ERROR_STALE_TERM, `update term ${update.term} is older than term ${peer.term} of this link`);
    }
    try {
      await this.deps.apply(update);
      channel.send({ replicationAck: { seq: update.seq, applied: true } });
    } catch (error) {
      this.link?.logger.error({ seq: update.seq, err: errorMessage(error) }, 'storing a replication update failed');
      channel.send({ replicationAck: { seq: update.seq, applied: false, message: errorMessage(error) } });
    }
  }
}
