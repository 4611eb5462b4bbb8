import type { LookupFunction } from 'node:net';
import { SOFTWARE_VERSION } from '../config/constants.js';
import type { Logger } from '../logging/logger.js';
import type { Channel, ChannelClose, HeartbeatOptions } from '../net/channel.js';
import { connectChannel } from '../net/ws-client.js';
import { APPLIANCE_NONCE_BYTES, applianceMac, createNonce, verifyApplianceMac, type AuthTranscript } from '../protocol/appliance-auth.js';
import { CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, DISBAND_CLOSE_REASON, ProtocolError, errorCodeName, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, type ClusterConfig, type atlas } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import { DEFAULT_BACKOFF, reconnectDelayMs, type BackoffOptions } from './reconnect-backoff.js';
import type { StatusHistory } from './status-history.js';
import { createNodeState, type TrafficNodeState } from './traffic-node-state.js';

/** Time from the WebSocket opening to a finished handshake (and configuration push) before the link is dropped. */
export const DEFAULT_APPLIANCE_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Term of a master that has no backup, and of the first primary of a failover pair. */
export const PRIMARY_TERM = 1;
export const APPLIANCE_PATH = '/appliance';

/** Why a traffic node cannot be given a configuration or a Disband now: a protocol ErrorCode and the reason. */
export class LinkUnavailableError extends Error {
  override name = 'LinkUnavailableError';

  constructor(readonly code: ErrorCode, readonly reason: string) {
    super(reason);
  }
}

interface ReadyWaiter {
  resolve: () => void;
  reject: (error: LinkUnavailableError) => void;
}

interface AckWaiter {
  version: number;
  resolve: (ack: atlas.ConfigAck) => void;
  reject: (error: LinkUnavailableError) => void;
}

export interface LinkTarget {
  name: string;
  internalHost: string;
  internalPort: number;
}

export interface ApplianceLinkDeps {
  /** Logger already bound to the node name. */
  logger: Logger;
  history: StatusHistory;
  lookup: LookupFunction;
  ca: Buffer | string;
  /** Inter-appliance pre-shared key in use now; it can change through the Security page. */
  psk: () => Uint8Array;
  /** This master's name and GUID, as sent in ApplianceAuth. */
  self: { name: string; guid: string };
  /**
   * Configuration a joining node must have: the last synced one, or the one
   * a running Sync Now gives out. It is pushed when the node's applied
   * version is older.
   */
  syncedConfig: () => ClusterConfig | undefined;
  /** True while a Sync Now runs; it records every node's outcome itself, so a push at join time records nothing. */
  syncInProgress?: () => boolean;
  /** Accepting flag the node should have, so one changed while the node was away is sent when it returns. */
  desiredAccepting?: () => boolean | undefined;
  /** This master's term, sent in ApplianceAuth and with every command; PRIMARY_TERM when absent. */
  term?: () => number;
  /** The node knows a newer term than this master's: another master replaced this one. */
  onNewerTerm?: (term: number, node: string) => void;
  onChange: (state: Readonly<TrafficNodeState>) => void;
  onClientReport: (node: string, report: atlas.SessionClientReport) => void;
  random?: () => number;
}

export interface ApplianceLinkOptions {
  target: LinkTarget;
  /** Source address bound for the link, so the node gets the master's internal address as the peer. */
  localAddress: string;
  heartbeat: HeartbeatOptions;
  backoff?: BackoffOptions;
  handshakeTimeoutMs?: number;
}

type Phase = 'challenge' | 'auth-ok' | 'config-ack' | 'ready';

/**
 * The master's appliance channel to one traffic node: connects to the node's
 * internal address, runs the mutual pre-shared key handshake, pushes the last
 * synced configuration when the node applied an older one, then tracks the
 * node's reports. It reconnects forever with capped, jittered exponential
 * backoff until stop() is called.
 */
export class ApplianceLink {
  readonly state: TrafficNodeState;
  private channel: Channel | undefined;
  private phase: Phase = 'challenge';
  private transcript: AuthTranscript | undefined;
  /** True once the node proved the key on the current link. */
  private authenticated = false;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private lastProblem = '';
  private lastConnectError = '';
  /** Problem of the current connection attempt, for callers waiting for the node. */
  private attemptProblem: { code: ErrorCode; message: string } | undefined;
  private running: Promise<void> | undefined;
  private readonly readyWaiters = new Set<ReadyWaiter>();
  private readonly ackWaiters = new Set<AckWaiter>();

  constructor(private readonly deps: ApplianceLinkDeps, private readonly options: ApplianceLinkOptions) {
    this.state = createNodeState(options.target.name);
  }

  private get term(): number {
    return this.deps.term?.() ?? PRIMARY_TERM;
  }

  /** Starts the connect loop; it runs until stop(). */
  start(): void {
    this.running ??= this.run();
  }

  /** Stops reconnecting and closes the link. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    this.channel?.close(CLOSE_GOING_AWAY, 'master stopping');
    this.failReadyWaiters(new LinkUnavailableError(ErrorCode.ERROR_NODE_UNREACHABLE, 'the appliance link was stopped'));
    await this.running;
  }

  /** Unresolved problem of the link (key mismatch, version, connect failure); empty once the node authenticates. */
  get problem(): string {
    return this.lastProblem || (this.state.online ? '' : this.lastConnectError);
  }

  /** True while the node is authenticated and on the link, ready for a push. */
  get ready(): boolean {
    return this.phase === 'ready' && this.state.online && this.channel !== undefined;
  }

  /**
   * Resolves once the node is ready. A link waiting to reconnect retries at
   * once. Rejects with LinkUnavailableError when the attempt in progress or
   * the next one fails (the node is down, the keys differ, it runs another
   * software version), or when `timeoutMs` passes first.
   */
  waitReady(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.stopped) return Promise.reject(new LinkUnavailableError(ErrorCode.ERROR_NODE_UNREACHABLE, 'the appliance link was stopped'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiters.delete(waiter);
        reject(new LinkUnavailableError(ErrorCode.ERROR_TIMEOUT, `node did not come online within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: ReadyWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.readyWaiters.add(waiter);
      this.wakeUp?.();
    });
  }

  /**
   * Pushes a configuration and resolves with the node's ConfigAck, applied
   * or not. Rejects with LinkUnavailableError when the node is not ready,
   * the link closes first or no ConfigAck arrives within `timeoutMs`.
   */
  pushConfig(config: ClusterConfig, timeoutMs: number): Promise<atlas.ConfigAck> {
    const channel = this.channel;
    if (!this.ready || channel === undefined) return Promise.reject(new LinkUnavailableError(ErrorCode.ERROR_NODE_UNREACHABLE, 'node is offline'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.ackWaiters.delete(waiter);
        reject(new LinkUnavailableError(ErrorCode.ERROR_TIMEOUT, `no ConfigAck for version ${config.version} within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: AckWaiter = {
        version: config.version,
        resolve: (ack) => {
          clearTimeout(timer);
          resolve(ack);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.ackWaiters.add(waiter);
      channel.send({ configPush: { config, term: this.term } });
    });
  }

  /**
   * Tells the node it is no longer in a cluster (`removed`: because an
   * administrator removed it alone) and resolves once it closes the link
   * with DISBAND_CLOSE_REASON. The link does not reconnect afterwards,
   * whatever the outcome.
   */
  sendDisband(timeoutMs: number, removed = false): Promise<void> {
    const channel = this.channel;
    const ready = this.ready;
    this.stopped = true;
    this.wakeUp?.();
    if (!ready || channel === undefined) return Promise.reject(new LinkUnavailableError(ErrorCode.ERROR_NODE_UNREACHABLE, 'node is offline'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new LinkUnavailableError(ErrorCode.ERROR_TIMEOUT, `node did not confirm the disband within ${timeoutMs} ms`));
        channel.close(CLOSE_GOING_AWAY, 'disband not confirmed');
      }, timeoutMs);
      channel.once('close', (close) => {
        clearTimeout(timer);
        if (!close.local && close.code === CLOSE_NORMAL && close.reason === DISBAND_CLOSE_REASON) resolve();
        else reject(new LinkUnavailableError(ErrorCode.ERROR_NODE_UNREACHABLE, `link closed without the disband confirmation (code ${close.code}${close.reason ? `, ${close.reason}` : ''})`));
      });
      channel.send({ disband: { term: this.term, removed } });
    });
  }

  /** Sends the accepting flag now when the node is online; returns false when it is not (it gets the flag when it returns). */
  sendAccepting(accepting: boolean): boolean {
    if (!this.ready || this.channel === undefined) return false;
    return this.channel.send({ setAccepting: { accepting, term: this.term } });
  }

  /** Closes the current link so the next one authenticates again, such as after a change of the pre-shared key. */
  reconnect(reason: string): void {
    this.channel?.close(CLOSE_GOING_AWAY, reason);
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    const { target } = this.options;
    let attempt = 0;
    while (!this.stopped) {
      const outcome = await this.connectOnce();
      if (outcome.authenticated) attempt = 0;
      if (this.stopped) break;

      attempt += 1;
      const delayMs = reconnectDelayMs(attempt, this.options.backoff ?? DEFAULT_BACKOFF, this.deps.random);
      const fields = { attempt, delayMs, host: target.internalHost, port: target.internalPort, err: outcome.connectError };
      this.deps.logger.warn(fields, 'appliance link retry scheduled');
      await this.sleep(delayMs);
    }
    this.deps.logger.info('appliance link stopped');
  }

  /**
   * Opens one link and resolves when it closes, with whether the node
   * authenticated on it. A failed connect is returned for the retry log line,
   * so a node that stays down costs one warning per attempt.
   */
  private async connectOnce(): Promise<{ authenticated: boolean; connectError?: string }> {
    const { target } = this.options;
    let channel: Channel;
    try {
      channel = await connectChannel({ logger: this.deps.logger }, {
        host: target.internalHost,
        port: target.internalPort,
        path: APPLIANCE_PATH,
        ca: this.deps.ca,
        lookup: this.deps.lookup,
        localAddress: this.options.localAddress,
        heartbeat: this.options.heartbeat,
      });
    } catch (error) {
      const connectError = errorMessage(error);
      this.lastConnectError = connectError;
      this.failReadyWaiters(new LinkUnavailableError(ErrorCode.ERROR_NODE_UNREACHABLE, `cannot connect to ${target.internalHost}:${target.internalPort}: ${connectError}`));
      return { authenticated: false, connectError };
    }
    if (this.stopped) {
      channel.close(CLOSE_GOING_AWAY, 'master stopping');
      return { authenticated: false };
    }
    return { authenticated: await this.serve(channel) };
  }

  private serve(channel: Channel): Promise<boolean> {
    this.channel = channel;
    this.phase = 'challenge';
    this.transcript = undefined;
    this.authenticated = false;
    this.attemptProblem = undefined;
    this.deps.logger.info({ address: channel.remoteAddress }, 'appliance link open, waiting for challenge');

    const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_APPLIANCE_HANDSHAKE_TIMEOUT_MS;
    const timer = setTimeout(() => {
      if (this.phase === 'ready') return;
      this.deps.logger.warn({ phase: this.phase, timeoutMs }, 'appliance handshake timed out');
      channel.close(CLOSE_PROTOCOL_ERROR, `appliance handshake timed out after ${timeoutMs} ms`);
    }, timeoutMs);
    timer.unref();

    channel.onMessage((envelope) => this.handle(channel, envelope));

    return new Promise((resolve) => {
      channel.once('close', (close) => {
        clearTimeout(timer);
        this.channel = undefined;
        this.markClosed(close);
        resolve(this.authenticated);
      });
    });
  }

  /** Decoded bodies are message instances with every field defaulted, so the casts below are exact. */
  private handle(channel: Channel, envelope: DecodedEnvelope): void {
    if (envelope.body === 'error') {
      this.handleRemoteError(envelope.error as atlas.Error);
      return;
    }
    const expected: Record<Phase, string> = {
      challenge: 'applianceChallenge',
      'auth-ok': 'applianceAuthOk',
      'config-ack': 'configAck, nodeStatus or sessionClientReport',
      ready: 'nodeStatus, sessionClientReport or configAck',
    };

    if (this.phase === 'challenge' && envelope.body === 'applianceChallenge') {
      this.answerChallenge(channel, envelope.applianceChallenge as atlas.ApplianceChallenge);
    } else if (this.phase === 'auth-ok' && envelope.body === 'applianceAuthOk') {
      this.checkAuthOk(channel, envelope.applianceAuthOk as atlas.ApplianceAuthOk);
    } else if (this.authenticated && envelope.body === 'configAck') {
      this.handleConfigAck(envelope.configAck as atlas.ConfigAck);
    } else if (this.authenticated && envelope.body === 'nodeStatus') {
      this.handleNodeStatus(envelope.nodeStatus as atlas.NodeStatus);
    } else if (this.authenticated && envelope.body === 'sessionClientReport') {
      this.deps.onClientReport(this.state.name, envelope.sessionClientReport as atlas.SessionClientReport);
    } else {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `appliance channel expected ${expected[this.phase]}, got ${envelope.body}`);
    }
  }

  private answerChallenge(channel: Channel, challenge: atlas.ApplianceChallenge): void {
    const { target } = this.options;
    if (challenge.softwareVersion !== SOFTWARE_VERSION) {
      const message = `${target.name}: runs software version ${challenge.softwareVersion || '(none)'}, but this master runs ${SOFTWARE_VERSION}; node rejected`;
      this.reportProblem(ErrorCode.ERROR_SOFTWARE_VERSION, message);
      channel.fail(ErrorCode.ERROR_SOFTWARE_VERSION, `software version ${challenge.softwareVersion} is not supported; this master runs ${SOFTWARE_VERSION}`);
      return;
    }
    if (challenge.nodeName !== target.name) {
      const message = `${target.name}: the appliance at ${target.internalHost}:${target.internalPort} reports the name "${challenge.nodeName}"; check the node's internal address`;
      this.reportProblem(ErrorCode.ERROR_AUTH_FAILED, message);
      channel.fail(ErrorCode.ERROR_AUTH_FAILED, `expected traffic node ${target.name}, got ${challenge.nodeName}`);
      return;
    }
    if (challenge.nonce.length !== APPLIANCE_NONCE_BYTES) {
      throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `challenge nonce has ${challenge.nonce.length} bytes; expected ${APPLIANCE_NONCE_BYTES}`);
    }

    const nonce = createNonce();
    this.transcript = { acceptorNonce: challenge.nonce, connectorNonce: nonce, acceptorName: target.name, connectorName: this.deps.self.name };
    this.state.applianceGuid = challenge.applianceGuid;
    channel.send({
      applianceAuth: {
        nodeName: this.deps.self.name,
        applianceGuid: this.deps.self.guid,
        nonce,
        mac: applianceMac(this.deps.psk(), 'connector', this.transcript),
        softwareVersion: SOFTWARE_VERSION,
        term: this.term,
      },
    });
    this.phase = 'auth-ok';
  }

  private checkAuthOk(channel: Channel, authOk: atlas.ApplianceAuthOk): void {
    if (this.transcript === undefined || !verifyApplianceMac(this.deps.psk(), 'acceptor', this.transcript, authOk.mac)) {
      this.reportProblem(ErrorCode.ERROR_AUTH_FAILED, `${this.state.name}: inter-appliance key does not match`);
      channel.fail(ErrorCode.ERROR_AUTH_FAILED, 'appliance MAC does not verify; the inter-appliance pre-shared keys differ');
      return;
    }

    const term = this.term;
    if (authOk.term > term) {
      this.deps.logger.warn({ nodeTerm: authOk.term, term }, 'node knows a newer master term; this master was replaced');
      channel.close(CLOSE_GOING_AWAY, 'stepping down');
      this.deps.onNewerTerm?.(authOk.term, this.state.name);
      return;
    }

    this.authenticated = true;
    this.lastProblem = '';
    this.lastConnectError = '';
    this.state.address = channel.remoteAddress;
    this.state.accepting = authOk.accepting;
    this.state.appliedConfigVersion = authOk.appliedConfigVersion;
    const synced = this.deps.syncedConfig();
    this.deps.logger.info({ appliedConfigVersion: authOk.appliedConfigVersion, syncedVersion: synced?.version ?? 0, accepting: authOk.accepting }, 'appliance authenticated');
    const desired = this.deps.desiredAccepting?.();
    if (desired !== undefined && desired !== authOk.accepting) {
      // The flag changed while the node was away; it takes effect without a sync.
      channel.send({ setAccepting: { accepting: desired, term: this.term } });
      this.deps.logger.info({ accepting: desired }, 'accepting flag sent to the returning node');
    }

    if (synced !== undefined && authOk.appliedConfigVersion < synced.version) {
      if (this.deps.syncInProgress?.() !== true) this.deps.history.record(0, `Data Sync: Started configuration data sync with ${this.state.name}.`);
      channel.send({ configPush: { config: synced, term } });
      this.phase = 'config-ack';
      return;
    }
    if (synced !== undefined && authOk.appliedConfigVersion > synced.version) {
      this.deps.logger.warn({ appliedConfigVersion: authOk.appliedConfigVersion, syncedVersion: synced.version }, 'node configuration is newer than the last sync; node not chosen until the versions match');
    }
    this.goOnline();
  }

  private handleConfigAck(ack: atlas.ConfigAck): void {
    const waiter = [...this.ackWaiters].find((candidate) => candidate.version === ack.version);
    if (waiter !== undefined && this.phase === 'ready') {
      // A push by Sync Now: the caller records the outcome in the status history.
      this.ackWaiters.delete(waiter);
      if (ack.applied) this.state.appliedConfigVersion = ack.version;
      waiter.resolve(ack);
      this.deps.onChange(this.state);
      return;
    }
    const record = this.deps.syncInProgress?.() !== true;
    if (ack.applied) {
      this.state.appliedConfigVersion = ack.version;
      if (record) this.deps.history.record(0, `Data Sync: Finished configuration data sync with ${this.state.name} (version ${ack.version}).`);
    } else {
      const code = ack.code === ErrorCode.ERROR_UNSPECIFIED ? ErrorCode.ERROR_INTERNAL : ack.code;
      if (record) this.deps.history.record(code, `Data Sync: ${this.state.name} did not apply configuration version ${ack.version}: ${ack.message || errorCodeName(code)}`);
    }
    if (this.phase === 'config-ack') {
      this.goOnline();
    } else {
      this.deps.onChange(this.state);
    }
  }

  private handleNodeStatus(status: atlas.NodeStatus): void {
    const changed = status.accepting !== this.state.accepting || status.appliedConfigVersion !== this.state.appliedConfigVersion;
    this.state.accepting = status.accepting;
    this.state.appliedConfigVersion = status.appliedConfigVersion;
    this.state.activeSessions = status.activeSessions;
    this.state.connectedClients = status.connectedClients;
    if (changed) {
      this.deps.logger.info({ accepting: status.accepting, appliedConfigVersion: status.appliedConfigVersion }, 'node status changed');
      this.deps.onChange(this.state);
    }
  }

  /** Records why the node rejected this master: the node sends an Error envelope before it closes the link. */
  private handleRemoteError(error: atlas.Error): void {
    const name = this.state.name;
    if (error.code === ErrorCode.ERROR_AUTH_FAILED) {
      this.reportProblem(error.code, `${name}: inter-appliance key does not match`);
    } else if (error.code === ErrorCode.ERROR_STALE_TERM) {
      this.deps.logger.warn({ reason: error.message }, 'node rejected this master\'s term');
    } else if (error.code === ErrorCode.ERROR_SOFTWARE_VERSION) {
      this.reportProblem(error.code, `${name}: node rejected this master's software version ${SOFTWARE_VERSION}: ${error.message}`);
    } else {
      this.reportProblem(error.code, `${name}: node closed the appliance link with ${errorCodeName(error.code)}: ${error.message}`);
    }
  }

  private goOnline(): void {
    this.phase = 'ready';
    this.state.online = true;
    this.deps.logger.info({ address: this.state.address, appliedConfigVersion: this.state.appliedConfigVersion, accepting: this.state.accepting }, 'node online');
    this.deps.onChange(this.state);
    for (const waiter of [...this.readyWaiters]) waiter.resolve();
    this.readyWaiters.clear();
  }

  private failReadyWaiters(error: LinkUnavailableError): void {
    for (const waiter of [...this.readyWaiters]) waiter.reject(error);
    this.readyWaiters.clear();
  }

  private markClosed(close: ChannelClose): void {
    const wasOnline = this.state.online;
    this.state.online = false;
    const closeText = `code ${close.code}${close.reason ? `, ${close.reason}` : ''}`;
    for (const waiter of [...this.ackWaiters]) {
      waiter.reject(new LinkUnavailableError(ErrorCode.ERROR_NODE_UNREACHABLE, `appliance link closed before the node acknowledged version ${waiter.version} (${closeText})`));
    }
    this.ackWaiters.clear();
    if (!wasOnline) {
      const problem = this.attemptProblem;
      this.failReadyWaiters(problem === undefined
        ? new LinkUnavailableError(ErrorCode.ERROR_NODE_UNREACHABLE, `appliance link closed before the node came online (${closeText})`)
        : new LinkUnavailableError(problem.code, problem.message));
    }
    const side = close.local ? 'closed by the master' : 'closed by the node';
    this.state.offlineReason = close.reason === '' ? `appliance link ${side} with code ${close.code}` : `appliance link ${side}: ${close.reason}`;
    const fields = { code: close.code, reason: close.reason, local: close.local };
    if (wasOnline && this.stopped) {
      this.deps.logger.info(fields, 'appliance link closed, master stopping');
      this.deps.onChange(this.state);
    } else if (wasOnline) {
      this.deps.logger.warn(fields, 'node offline, appliance link closed');
      this.deps.onChange(this.state);
    } else {
      this.deps.logger.info(fields, 'appliance link closed before the node came online');
    }
  }

  /** Records a link problem in the status history once, until it changes or the node authenticates. */
  private reportProblem(code: ErrorCode, message: string): void {
    const prefix = `${this.state.name}: `;
    this.attemptProblem = { code, message: message.startsWith(prefix) ? message.slice(prefix.length) : message };
    if (message === this.lastProblem) {
      this.deps.logger.warn({ code: errorCodeName(code), problem: message }, 'appliance link problem repeated');
      return;
    }
    this.lastProblem = message;
    this.deps.history.record(code, message);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, ms);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = finish;
    });
  }
}
