import type { WebSocket } from 'ws';
import type { Logger } from '../logging/logger.js';
import { Channel, type ChannelOptions } from '../net/channel.js';
import { APPLIANCE_NONCE_BYTES, applianceMac, createNonce, verifyApplianceMac, type AuthTranscript } from '../protocol/appliance-auth.js';
import { CLOSE_NORMAL, DISBAND_CLOSE_REASON, ProtocolError, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, type atlas } from '../protocol/messages.js';
import { SOFTWARE_VERSION } from '../config/constants.js';
import { errorMessage } from '../util/errors.js';
import type { ConfigApplier } from './config-apply.js';
import type { StateStore } from './state-store.js';

/** Time between two NodeStatus messages to the master. */
export const DEFAULT_NODE_STATUS_INTERVAL_MS = 3000;
/** Time a new appliance-channel connection has to send ApplianceAuth. */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;

export interface ApplianceEndpointDeps {
  logger: Logger;
  store: StateStore;
  applier: ConfigApplier;
  /** Inter-appliance pre-shared key in use now; it can change through the Security page. */
  psk: () => Uint8Array;
  /** Current counters for NodeStatus. */
  counters: () => { activeSessions: number; connectedClients: number };
  /** SessionClientReports for every client connected now, sent to a master that has just joined. */
  currentClients: () => atlas.ISessionClientReport[];
  /** Called when a master becomes this node's master link, for the launcher's timeline. */
  onMasterJoined?: (master: string, term: number) => void;
}

export interface ApplianceEndpointOptions {
  nodeName: string;
  channel: ChannelOptions;
  statusIntervalMs?: number;
  authTimeoutMs?: number;
}

/** One authenticated master connection. */
interface MasterLink {
  channel: Channel;
  masterName: string;
  term: number;
  logger: Logger;
}

/**
 * The appliance channel (`/appliance`), accepting side. Each connection gets
 * a challenge. A master that proves the pre-shared key becomes the master
 * link and replaces an older one. It may then push configuration, change the
 * accepting flag and disband the node.
 */
export class ApplianceEndpoint {
  private link: MasterLink | undefined;
  private readonly channels = new Set<Channel>();
  private statusTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ApplianceEndpointDeps, private readonly options: ApplianceEndpointOptions) {}

  get masterConnected(): boolean {
    return this.link !== undefined;
  }

  /** Name and term of the master linked now, if any. */
  get master(): { name: string; term: number } | undefined {
    return this.link === undefined ? undefined : { name: this.link.masterName, term: this.link.term };
  }

  /** Starts the periodic NodeStatus messages. */
  start(): void {
    this.statusTimer = setInterval(() => this.sendStatus(), this.options.statusIntervalMs ?? DEFAULT_NODE_STATUS_INTERVAL_MS);
    this.statusTimer.unref();
  }

  /** Stops the NodeStatus timer and closes every appliance-channel connection. */
  stop(reason: string): void {
    if (this.statusTimer !== undefined) clearInterval(this.statusTimer);
    for (const channel of this.channels) channel.close(CLOSE_NORMAL, reason);
  }

  /** Sends a SessionClientReport to the master, if one is connected. */
  report(report: atlas.ISessionClientReport): void {
    this.link?.channel.send({ sessionClientReport: report });
  }

  /** Takes over a WebSocket upgraded on `/appliance`. */
  accept(ws: WebSocket): void {
    const channel = new Channel(ws, { logger: this.deps.logger }, this.options.channel);
    const logger = this.deps.logger.child({ peer: channel.remoteAddress });
    this.channels.add(channel);

    const nonce = createNonce();
    const timeoutMs = this.options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
    const authTimer = setTimeout(() => channel.fail(ErrorCode.ERROR_TIMEOUT, `no ApplianceAuth received within ${timeoutMs} ms of the challenge`), timeoutMs);
    authTimer.unref();

    let link: MasterLink | undefined;
    // Messages of one link are handled one at a time, so a SetAccepting that
    // follows a ConfigPush is not undone by the configuration's accepting flag.
    let handled: Promise<void> = Promise.resolve();
    channel.onMessage((envelope) => {
      if (link === undefined) {
        clearTimeout(authTimer);
        link = this.authenticate(channel, envelope, nonce, logger);
        return;
      }
      const current = link;
      const result = handled.then(() => this.handle(current, envelope));
      handled = result.catch(() => undefined);
      return result;
    });
    channel.on('close', (close) => {
      clearTimeout(authTimer);
      this.channels.delete(channel);
      if (link !== undefined && this.link === link) {
        this.link = undefined;
        link.logger.info({ code: close.code, reason: close.reason }, 'master left');
      }
    });

    channel.send({
      applianceChallenge: { nodeName: this.options.nodeName, applianceGuid: this.deps.store.guid, nonce, softwareVersion: SOFTWARE_VERSION },
    });
  }

  /** Checks ApplianceAuth and sends ApplianceAuthOk; returns the link, or undefined when it lost to a higher term. */
  private authenticate(channel: Channel, envelope: DecodedEnvelope, nonce: Buffer, logger: Logger): MasterLink | undefined {
    const auth = envelope.applianceAuth;
    if (envelope.body !== 'applianceAuth' || auth == null) {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `expected ApplianceAuth after the challenge, got ${envelope.body}`);
    }
    const { store } = this.deps;
    const psk = this.deps.psk();
    const masterName = auth.nodeName ?? '';
    const transcript: AuthTranscript = { acceptorNonce: nonce, connectorNonce: auth.nonce ?? new Uint8Array(), acceptorName: this.options.nodeName, connectorName: masterName };
    if (transcript.connectorNonce.length !== APPLIANCE_NONCE_BYTES || !verifyApplianceMac(psk, 'connector', transcript, auth.mac)) {
      throw new ProtocolError(ErrorCode.ERROR_AUTH_FAILED, 'appliance authentication failed: the MAC does not verify; check that both appliances use the same inter-appliance pre-shared key');
    }
    if (auth.softwareVersion !== SOFTWARE_VERSION) {
      throw new ProtocolError(ErrorCode.ERROR_SOFTWARE_VERSION, `software version ${JSON.stringify(auth.softwareVersion)} does not match this node's ${SOFTWARE_VERSION}; upgrade both appliances to the same version`);
    }

    const term = auth.term ?? 0;
    const knownTerm = store.term;
    const termMaster = store.termMaster;
    channel.send({
      applianceAuthOk: { mac: applianceMac(psk, 'acceptor', transcript), appliedConfigVersion: store.appliedVersion, accepting: store.accepting, term: Math.max(term, knownTerm) },
    });
    // A term belongs to the one master that first used it, so two masters can never both command this node.
    const stale = term < knownTerm || (term === knownTerm && termMaster !== '' && termMaster !== masterName);
    if (stale) {
      // The ApplianceAuthOk above carries the higher term, so a former primary learns that it has been replaced.
      const reason = term < knownTerm ? `term ${term} is older than term ${knownTerm} of master ${termMaster || '(unknown)'}` : `term ${term} belongs to master ${termMaster}`;
      logger.warn({ master: masterName, term, knownTerm, termMaster }, 'master with a stale term rejected');
      channel.fail(ErrorCode.ERROR_STALE_TERM, reason);
      return undefined;
    }
    if (term > knownTerm || termMaster !== masterName) void this.persistTerm(term, masterName, logger);

    const link: MasterLink = { channel, masterName, term, logger: logger.child({ master: masterName }) };
    this.promote(link);
    return link;
  }

  private promote(link: MasterLink): void {
    const previous = this.link;
    this.link = link;
    if (previous !== undefined) {
      previous.logger.info({ newMaster: link.masterName, term: link.term }, 'master link replaced by a newer connection');
      previous.channel.close(CLOSE_NORMAL, 'replaced by a newer master connection');
    }
    link.logger.info({ term: link.term, appliedVersion: this.deps.store.appliedVersion }, 'master joined');
    this.deps.onMasterJoined?.(link.masterName, link.term);
    for (const report of this.deps.currentClients()) link.channel.send({ sessionClientReport: report });
    this.sendStatus();
  }

  private async handle(link: MasterLink, envelope: DecodedEnvelope): Promise<void> {
    if (this.link !== link) return;
    switch (envelope.body) {
      case 'configPush':
        this.checkTerm(link, envelope.configPush?.term);
        await this.applyConfig(link, envelope.configPush?.config);
        return;
      case 'setAccepting':
        this.checkTerm(link, envelope.setAccepting?.term);
        await this.setAccepting(link, envelope.setAccepting?.accepting ?? false);
        return;
      case 'disband':
        this.checkTerm(link, envelope.disband?.term);
        await this.disband(link, envelope.disband?.removed === true);
        return;
      default:
        throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected from a master on the appliance channel`);
    }
  }

  /** Rejects a message whose term is older than the link's; a missing term (0) means the link's. */
  private checkTerm(link: MasterLink, term: number | null | undefined): void {
    if (term == null || term === 0 || term >= link.term) return;
    throw new ProtocolError(ErrorCode.ERROR_STALE_TERM, `message term ${term} is older than term ${link.term} of this master link`);
  }

  private async applyConfig(link: MasterLink, config: atlas.IClusterConfig | null | undefined): Promise<void> {
    const result = await this.deps.applier.apply(config);
    link.channel.send({ configAck: result });
  }

  /** Changes the flag in memory at once; a failed write is logged and the new flag stays in effect. */
  private async setAccepting(link: MasterLink, accepting: boolean): Promise<void> {
    const written = this.deps.store.updateRuntime({ accepting });
    link.logger.info({ accepting }, 'accepting flag set by master');
    this.sendStatus();
    try {
      await written;
    } catch (error) {
      link.logger.error({ accepting, err: errorMessage(error) }, 'writing accepting flag failed');
    }
  }

  /**
   * Leaves the cluster at the administrator's request on this node, as
   * `atlas-sim node leave` does for a node the master could not tell of a
   * disband: forgets the configuration and the master term, records why, and
   * closes the master link. Returns the version it held (0 for none).
   */
  async leave(): Promise<number> {
    const { store } = this.deps;
    const version = store.appliedVersion;
    await store.forgetConfig();
    await store.updateRuntime({ term: 0, termMaster: '' });
    await store.record(ErrorCode.ERROR_UNSPECIFIED, `Disband: left the cluster at the administrator's request on this node; forgot configuration version ${version}`);
    this.deps.logger.info({ forgottenVersion: version }, 'left the cluster by administrator request');
    this.link?.channel.close(CLOSE_NORMAL, 'node left the cluster');
    return version;
  }

  /** Closes every appliance link so the master authenticates again, such as after a change of the pre-shared key. */
  dropLinks(reason: string): void {
    for (const channel of this.channels) channel.close(CLOSE_NORMAL, reason);
  }

  // NOTE: session-channel clients already connected stay connected after a
  // disband; only new joins are rejected, because no session key is left.
  private async disband(link: MasterLink, removed: boolean): Promise<void> {
    const { store } = this.deps;
    const version = store.appliedVersion;
    await store.forgetConfig();
    await store.updateRuntime({ term: 0, termMaster: '' });
    const what = removed ? 'removed this node from the cluster' : 'disbanded the cluster';
    await store.record(ErrorCode.ERROR_UNSPECIFIED, `Disband: master ${link.masterName} ${what}; forgot configuration version ${version}`);
    link.logger.info({ forgottenVersion: version, removed }, removed ? 'removed from the cluster by master' : 'cluster disbanded by master');
    link.channel.close(CLOSE_NORMAL, DISBAND_CLOSE_REASON);
  }

  private async persistTerm(term: number, termMaster: string, logger: Logger): Promise<void> {
    try {
      await this.deps.store.updateRuntime({ term, termMaster });
    } catch (error) {
      logger.error({ term, err: errorMessage(error) }, 'writing master term failed');
    }
  }

  private sendStatus(): void {
    const link = this.link;
    if (link === undefined) return;
    const { store } = this.deps;
    link.channel.send({ nodeStatus: { appliedConfigVersion: store.appliedVersion, accepting: store.accepting, ...this.deps.counters() } });
  }
}
