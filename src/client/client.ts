import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/logger.js';
import type { Channel } from '../net/channel.js';
import type { ClientProcessConfig } from '../config/client-config.js';
import { SOFTWARE_VERSION } from '../config/constants.js';
import { ProtocolError, errorCodeName, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, Role, StreamDirection, type atlas } from '../protocol/messages.js';
import { CUSTOMER_SCREEN_STREAM } from '../master/session-broker.js';
import { ControlLink } from './control-link.js';
import { ClientSession } from './session.js';
import { TicketRenewals } from './ticket-renewal.js';
import { waitForChange } from './wait.js';
import type { ConnectionReport, SessionLinkDeps, StreamReport } from './session-link.js';
import { DEFAULT_CLIENT_NETWORK } from '../config/peer-to-peer.js';
import type { ClusterDnsClientOptions } from '../net/lookup.js';
import { DirectAttempt } from './p2p/direct-attempt.js';

/** Time `accept` waits for the master's SessionStart. */
export const DEFAULT_ACCEPT_TIMEOUT_MS = 10_000;
/** Issue text of an automatic support request when none was configured. */
export const DEFAULT_ISSUE = 'support requested';

export interface ClientDeps {
  logger: Logger;
  /** Opens the control channel to the site hostname. */
  connectControl: () => Promise<Channel>;
  /** Opens session-channel connections; the logger comes from `logger`. */
  session: Omit<SessionLinkDeps, 'logger'>;
  /** Sends a timeline event to the launcher (a no-op without one). */
  report: (event: string, data?: Record<string, unknown>) => void;
  /** Cluster DNS, which resolves the STUN server of a direct attempt; without it a direct attempt fails at once. */
  dns?: ClusterDnsClientOptions;
}

export interface ClientStatus {
  name: string;
  role: ClientProcessConfig['role'];
  clientId: string;
  connected: boolean;
  masterName?: string;
  sessionId?: string;
}

export interface ClientStats {
  connections: ConnectionReport[];
  streams: StreamReport[];
  sessionId?: string;
  sessionEndedReason?: string;
  /** Path of the session's streams and why; absent before a session and while a direct attempt runs. */
  path?: { path: 'direct' | 'relay'; reason: string };
}

type ClientEvents = {
  welcome: [atlas.ClientWelcome];
  /** Anything a waiter may be waiting for changed. */
  changed: [];
  /** The master rejected this client for good, such as for its session key; the client stopped. */
  rejected: [string];
};

/**
 * A customer client or representative console. It keeps the control channel
 * to the master open, follows the session the master brokers, and opens the
 * session-channel connection that each assignment names.
 */
export class Client extends EventEmitter<ClientEvents> {
  clientId: string;
  /** Current session, or the last one after it ended, so its stats stay readable. */
  session: ClientSession | undefined;
  queue: atlas.IQueueEntry[] = [];
  private readonly control: ControlLink;
  private readonly renewals: TicketRenewals;
  private pendingIssue: string | undefined;
  private acceptInFlight = false;
  /** When the pending AcceptRequest was sent; a representative's first-frame latency counts from it. */
  private acceptSentAtMs: number | undefined;
  private lastControlError: { atMs: number; text: string } | undefined;
  /** Sessions whose path this client reports to the master: those that had a direct plan. */
  private readonly reportedPaths = new WeakSet<ClientSession>();
  /** Direct attempt of the current session while it runs. */
  private directAttempt: { sessionId: string; attempt: DirectAttempt } | undefined;

  constructor(private readonly deps: ClientDeps, readonly config: ClientProcessConfig) {
    super();
    this.clientId = `${config.name}-${randomBytes(4).toString('hex')}`;
    if (config.role === 'customer' && config.auto.requestSupport === true) this.pendingIssue = config.auto.issue ?? DEFAULT_ISSUE;
    this.control = new ControlLink({ logger: deps.logger.child({ peer: config.site.host }), connect: deps.connectControl, hello: () => this.hello() });
    this.renewals = new TicketRenewals((message) => this.control.send(message));
    this.control.on('welcome', (welcome) => this.onWelcome(welcome));
    this.control.on('message', (envelope) => this.onControlMessage(envelope));
    this.control.on('rejected', (reason) => {
      this.deps.report('rejected', { reason });
      this.emit('rejected', reason);
    });
    this.control.on('down', (reason) => {
      this.deps.report('disconnected', { reason });
      this.emit('changed');
    });
  }

  get activeSession(): ClientSession | undefined {
    return this.session !== undefined && !this.session.ended ? this.session : undefined;
  }

  get connected(): boolean {
    return this.control.isOpen;
  }

  start(): void {
    this.deps.logger.info({ role: this.config.role, clientId: this.clientId, address: this.config.address, site: this.config.site }, 'client starting');
    this.control.start();
  }

  async stop(reason: string): Promise<void> {
    this.session?.end(`client stopped: ${reason}`);
    if (this.session !== undefined) this.cancelDirectAttempt(this.session.id, `client stopped: ${reason}`);
    await this.control.stop(reason);
  }

  status(): ClientStatus {
    return {
      name: this.config.name,
      role: this.config.role,
      clientId: this.clientId,
      connected: this.connected,
      masterName: this.control.welcome?.masterName,
      sessionId: this.activeSession?.id,
    };
  }

  stats(): ClientStats {
    const master: ConnectionReport = {
      kind: 'master',
      node: this.control.welcome?.masterName ?? '',
      host: this.config.site.host,
      port: this.config.site.port,
      reason: 'site hostname',
      state: this.control.state === 'open' || this.control.lastError === undefined ? this.control.state : `${this.control.state}: ${this.control.lastError}`,
    };
    const links = this.session?.links ?? [];
    return {
      connections: [master, ...links.map((link) => link.connectionReport())],
      streams: links.map((link) => link.streamReport()),
      sessionId: this.session?.id,
      sessionEndedReason: this.session?.endedReason,
      ...(this.session?.pathChoice === undefined ? {} : { path: { path: this.session.pathChoice.path, reason: this.session.pathChoice.reason } }),
    };
  }

  /** Customer: sends a support request now, or as soon as the master is reachable. */
  requestSupport(issue: string): { sent: boolean } {
    this.requireRole('customer', 'request support');
    this.pendingIssue = issue;
    return { sent: this.sendSupportRequest() };
  }

  /** Representative: accepts a waiting customer (the oldest when none is named) and waits for SessionStart. */
  async accept(customerClientId = '', timeoutMs = DEFAULT_ACCEPT_TIMEOUT_MS): Promise<{ sessionId: string }> {
    this.requireRole('representative', 'accept a support request');
    if (this.activeSession !== undefined) throw new Error(`session ${this.activeSession.id} is still running; end it before accepting another customer`);
    const since = Date.now();
    this.sendOrThrow({ acceptRequest: { customerClientId } }, 'AcceptRequest');
    this.acceptInFlight = true;
    this.acceptSentAtMs = since;
    const session = await this.waitFor(timeoutMs, () => {
      if (this.activeSession !== undefined) return this.activeSession;
      if (this.lastControlError !== undefined && this.lastControlError.atMs >= since) throw new Error(`the master rejected the request: ${this.lastControlError.text}`);
      return undefined;
    }, () => `no SessionStart within ${timeoutMs} ms after AcceptRequest`);
    return { sessionId: session.id };
  }

  /** Representative: shows the screen to the customer of the running session. */
  showMyScreen(): { sessionId: string } {
    this.requireRole('representative', 'show the screen');
    const session = this.requireSession();
    this.sendOrThrow({ showMyScreen: { sessionId: session.id } }, 'ShowMyScreen');
    return { sessionId: session.id };
  }

  /** Asks the master to end the running session; the connections close when SessionEnded arrives. */
  endSession(reason = 'ended by user'): { sessionId: string } {
    const session = this.requireSession();
    this.sendOrThrow({ endSession: { sessionId: session.id, reason } }, 'EndSession');
    return { sessionId: session.id };
  }

  /** Resolves with the session id once a SessionStart arrived (at once if one did already). */
  async waitSession(timeoutMs: number): Promise<{ sessionId: string }> {
    const session = await this.waitFor(timeoutMs, () => this.session, () => `no SessionStart within ${timeoutMs} ms`);
    return { sessionId: session.id };
  }

  /** Resolves when every subscribed stream of the session received StreamEnd; rejects when one failed or on timeout. */
  async waitStreams(timeoutMs: number): Promise<ClientStats> {
    await this.waitFor(timeoutMs, () => {
      const session = this.session;
      if (session === undefined) return undefined;
      const failed = session.links.find((link) => link.direction === 'subscribe' && link.state === 'failed' && !link.streamDone);
      if (failed !== undefined) throw new Error(`stream ${failed.stream} from node ${failed.node} failed: ${failed.failureReason ?? 'unknown reason'}`);
      // A representative always receives the customer's screen. Under the DNS and anycast methods that
      // connection arrives after SessionStart, once the customer's home node is known.
      if (this.config.role === 'representative' && !session.links.some((link) => link.direction === 'subscribe')) return undefined;
      if (session.pathPending) return undefined;
      return session.pendingSubscriptions().length === 0 ? session : undefined;
    }, () => `timed out after ${timeoutMs} ms waiting for streams: ${this.describeStreamWait()}`);
    return this.stats();
  }

  /** Names what a stream wait still waits for, for its timeout message. */
  private describeStreamWait(): string {
    if (this.session === undefined) return 'no session started';
    if (this.session.pathPending) return 'the direct attempt, which has not decided the path yet';
    return this.session.describePendingSubscriptions() || "the customer's screen, whose connection the master has not sent yet";
  }

  private waitFor<T>(timeoutMs: number, check: () => T | undefined, describeTimeout: () => string): Promise<T> {
    return waitForChange(this, 'changed', timeoutMs, check, describeTimeout);
  }

  private hello(): atlas.IClientHello {
    return {
      role: this.config.role === 'customer' ? Role.ROLE_CUSTOMER : Role.ROLE_REPRESENTATIVE,
      softwareVersion: SOFTWARE_VERSION,
      // getTimezoneOffset() is positive west of Greenwich, and the protocol counts east as positive.
      utcOffsetMinutes: -new Date().getTimezoneOffset(),
      displayName: this.config.displayName,
      clientId: this.clientId,
      sessionKey: this.config.sessionKey ?? '',
      // Proves on a reconnect that this process owns the client id it claims.
      resumeToken: this.control.welcome?.resumeToken,
    };
  }

  private onWelcome(welcome: atlas.ClientWelcome): void {
    if (welcome.clientId !== '' && welcome.clientId !== this.clientId) {
      this.deps.logger.info({ requested: this.clientId, assigned: welcome.clientId }, 'master assigned another client id');
      this.clientId = welcome.clientId;
    }
    this.acceptInFlight = false;
    this.deps.report('connected', { masterName: welcome.masterName, clientId: this.clientId, term: welcome.term });
    this.emit('welcome', welcome);
    // The master drops a waiting customer whose control channel closes, so the request is sent again.
    // It keeps one queue entry per client id, so a repeat never queues the customer twice.
    if (this.activeSession === undefined) this.sendSupportRequest();
    // A PathReport sent while the control channel was down is lost, and a master that took over may lack it.
    else if (this.reportedPaths.has(this.activeSession)) this.sendPathReport(this.activeSession);
    this.autoAccept();
    this.emit('changed');
  }

  private onControlMessage(envelope: DecodedEnvelope): void {
    switch (envelope.body) {
      case 'queueUpdate':
        this.queue = envelope.queueUpdate?.entries ?? [];
        this.autoAccept();
        break;
      case 'sessionStart':
        this.startSession(envelope.sessionStart as atlas.SessionStart);
        break;
      case 'screenShareStart':
        this.openLateConnection(envelope.screenShareStart as atlas.ScreenShareStart, 'screen-share-started');
        break;
      case 'sessionAssignment':
        this.openLateConnection(envelope.sessionAssignment as atlas.SessionAssignment, 'connection-assigned');
        break;
      case 'sessionEnded':
        this.onSessionEnded(envelope.sessionEnded as atlas.SessionEnded);
        break;
      case 'ticketGrant':
        if (!this.renewals.accept(envelope.ticketGrant as atlas.TicketGrant)) {
          this.deps.logger.debug({ session: envelope.ticketGrant?.sessionId }, 'TicketGrant that no connection waits for, ignored');
        }
        break;
      case 'peerSignal':
        this.onPeerSignal(envelope.peerSignal as atlas.PeerSignal);
        break;
      case 'error':
        this.onControlError(envelope.error as atlas.Error);
        break;
      case 'clientWelcome':
        this.deps.logger.warn({ master: envelope.clientWelcome?.masterName }, 'second ClientWelcome on one connection, ignored');
        break;
      default:
        throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected on the control channel`);
    }
    this.emit('changed');
  }

  private startSession(start: atlas.SessionStart): void {
    if (this.activeSession !== undefined) {
      this.activeSession.end(`replaced by session ${start.sessionId}`);
      this.cancelDirectAttempt(this.activeSession.id, `replaced by session ${start.sessionId}`);
    }
    this.pendingIssue = undefined;
    const requestedAtMs = this.acceptInFlight ? this.acceptSentAtMs : undefined;
    this.acceptInFlight = false;
    const renewTicket = (assignment: atlas.IAssignment): Promise<atlas.IAssignment> => this.renewals.request(start.sessionId, assignment);
    const session = new ClientSession({ logger: this.deps.logger, renewTicket, ...this.deps.session }, {
      requestedAtMs,
      sessionId: start.sessionId,
      clientId: this.clientId,
      peerClientId: start.peerClientId,
      peerDisplayName: start.peerDisplayName,
      frames: this.config.frames,
    });
    this.session = session;
    session.reportEvents(this.deps.report, () => this.emit('changed'));

    this.deps.logger.info({ session: session.id, peer: start.peerClientId, peerName: start.peerDisplayName, assignments: start.assignments.length }, 'session started');
    this.choosePath(session, start);
    for (const assignment of start.assignments) session.open(assignment);
    this.deps.report('session-started', { sessionId: session.id, peerClientId: start.peerClientId, assignments: start.assignments.map((a) => ({ kind: a.kind, node: a.node, stream: a.stream, reason: a.reason?.text ?? '' })) });

    if (this.config.role === 'representative' && this.config.auto.showMyScreen === true) {
      this.control.send({ showMyScreen: { sessionId: session.id } });
    }
  }

  /** Opens a connection the master sent after SessionStart: a screen share, or a connection that waited for a learned home node. */
  private openLateConnection(message: atlas.ScreenShareStart | atlas.SessionAssignment, event: string): void {
    const session = this.activeSession;
    if (session === undefined || session.id !== message.sessionId || message.assignment == null) {
      this.deps.logger.warn({ session: message.sessionId, current: session?.id, event }, 'assignment for a session that is not running, ignored');
      return;
    }
    session.open(message.assignment, Date.now());
    this.deps.report(event, { sessionId: session.id, node: message.assignment.node, stream: message.assignment.stream });
  }

  private onSessionEnded(ended: atlas.SessionEnded): void {
    if (ended.sessionId === '') {
      // The master rejects an AcceptRequest with a SessionEnded that names no session.
      this.recordRejection(ended.reason || 'request rejected without a reason');
      return;
    }
    const session = this.activeSession;
    if (session === undefined && this.acceptInFlight) {
      // A session the master could not start (no traffic node, an unsupported method)
      // ends before its SessionStart: that answers the pending AcceptRequest.
      this.recordRejection(ended.reason || `session ${ended.sessionId} ended before it started`);
      return;
    }
    if (session === undefined || session.id !== ended.sessionId) {
      this.deps.logger.debug({ session: ended.sessionId }, 'SessionEnded for a session that is not running, ignored');
      return;
    }
    session.end(ended.reason || 'ended by the master');
    this.cancelDirectAttempt(session.id, 'session ended');
    this.renewals.rejectAll(`session ${session.id} ended`);
    this.deps.report('session-ended', { sessionId: session.id, reason: session.endedReason });
    this.autoAccept();
  }

  private onControlError(error: atlas.Error): void {
    this.recordRejection(`${errorCodeName(error.code)}: ${error.message}`);
  }

  /** Records a rejection from the master, so a pending `accept` fails with its reason. */
  private recordRejection(text: string): void {
    this.lastControlError = { atMs: Date.now(), text };
    this.acceptInFlight = false;
    this.deps.logger.warn({ reason: text }, 'master rejected a request');
  }

  /**
   * Decides the path of a new session: the traffic-node path when the
   * cluster has peer to peer off or the plan gives a reason to skip, else
   * the outcome of a direct attempt. Assignments wait in the session until then.
   */
  private choosePath(session: ClientSession, start: atlas.SessionStart): void {
    const plan = start.direct;
    if (plan == null) {
      session.decidePath({ path: 'relay', reason: 'peer to peer is off on the cluster' });
      return;
    }
    if (plan.skipReason) {
      this.decidePath(session, { path: 'relay', reason: plan.skipReason });
      return;
    }
    const attempt = new DirectAttempt(
      { logger: this.deps.logger, sendSignal: (signal) => this.control.send({ peerSignal: signal }), dns: this.deps.dns ?? { server: this.config.dns, localAddress: this.config.address, logger: this.deps.logger } },
      {
        sessionId: session.id,
        selfId: this.clientId,
        peerId: start.peerClientId,
        role: this.config.role,
        plan,
        address: this.config.address,
        network: this.config.network ?? DEFAULT_CLIENT_NETWORK,
        channel: { heartbeat: this.config.heartbeat },
      },
    );
    this.directAttempt = { sessionId: session.id, attempt };
    this.deps.report('direct-attempt-started', { sessionId: session.id, stunServer: plan.stunServer, timeoutMs: plan.timeoutMs });
    void attempt.run().then((outcome) => {
      if (this.directAttempt?.attempt === attempt) this.directAttempt = undefined;
      this.decidePath(session, outcome);
    });
  }

  /** Applies a path decision, reports it to the master and the launcher, and logs it. */
  private decidePath(session: ClientSession, choice: Parameters<ClientSession['decidePath']>[0]): void {
    session.decidePath(choice);
    if (session.ended) return;
    // Under the DNS and anycast methods the master sends the representative's cross connection only once a traffic node
    // reports the customer, which never happens on the direct path, so the representative subscribes to the screen itself.
    if (choice.path === 'direct' && this.config.role === 'representative' && !session.links.some((link) => link.stream === CUSTOMER_SCREEN_STREAM && link.direction === 'subscribe')) {
      session.open({ kind: 'cross', node: '', stream: CUSTOMER_SCREEN_STREAM, direction: StreamDirection.DIRECTION_SUBSCRIBE, reason: { text: choice.reason } });
    }
    this.reportedPaths.add(session);
    this.sendPathReport(session);
    this.deps.report('path-decided', { sessionId: session.id, path: choice.path, reason: choice.reason });
    this.emit('changed');
  }

  private sendPathReport(session: ClientSession): void {
    const choice = session.pathChoice;
    if (choice === undefined) return;
    this.control.send({ pathReport: { sessionId: session.id, stream: '', path: choice.path, reason: choice.reason, node: '' } });
  }

  private onPeerSignal(signal: atlas.PeerSignal): void {
    const current = this.directAttempt;
    if (current === undefined || current.sessionId !== signal.sessionId) {
      this.deps.logger.debug({ session: signal.sessionId, kind: signal.kind }, 'peer signal for no running direct attempt, ignored');
      return;
    }
    current.attempt.onSignal(signal);
  }

  private cancelDirectAttempt(sessionId: string, reason: string): void {
    if (this.directAttempt?.sessionId !== sessionId) return;
    this.directAttempt.attempt.cancel(reason);
    this.directAttempt = undefined;
  }

  private sendSupportRequest(): boolean {
    if (this.pendingIssue === undefined) return false;
    const sent = this.control.send({ supportRequest: { issue: this.pendingIssue } });
    if (sent) this.deps.logger.info({ issue: this.pendingIssue }, 'support requested');
    return sent;
  }

  private autoAccept(): void {
    if (this.config.role !== 'representative' || this.config.auto.accept !== true) return;
    if (this.acceptInFlight || this.activeSession !== undefined || this.queue.length === 0) return;
    if (this.control.send({ acceptRequest: { customerClientId: '' } })) {
      this.acceptInFlight = true;
      this.acceptSentAtMs = Date.now();
      this.deps.logger.info({ waiting: this.queue.length }, 'accepting the oldest waiting customer');
    }
  }

  private requireRole(role: ClientProcessConfig['role'], action: string): void {
    if (this.config.role !== role) throw new Error(`a ${this.config.role} cannot ${action}; only a ${role} can`);
  }

  private requireSession(): ClientSession {
    const session = this.activeSession;
    if (session === undefined) throw new Error('no session is running; wait for SessionStart first');
    return session;
  }

  private sendOrThrow(message: Parameters<ControlLink['send']>[0], name: string): void {
    if (!this.control.send(message)) throw new Error(`cannot send ${name}: not connected to the master (${this.control.lastError ?? this.control.state}); retry once status reports connected`);
  }
}

