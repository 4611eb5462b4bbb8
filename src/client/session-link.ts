import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/logger.js';
import type { Channel, ChannelClose } from '../net/channel.js';
import { ConnectError } from '../net/ws-client.js';
import { ProtocolError, errorCodeName, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, StreamDirection, type atlas } from '../protocol/messages.js';
import type { FrameSettings } from '../config/client-config.js';
import { errorMessage } from '../util/errors.js';
import { backoffDelayMs, sleep, type BackoffOptions } from './backoff.js';
import { StreamReceiver } from './frames.js';
import { StreamPublisher } from './publisher.js';

/** Retries of the same traffic node after its connection failed, before the link gives up. */
export const DEFAULT_SESSION_RETRY_ATTEMPTS = 5;
export const DEFAULT_SESSION_RETRY_BACKOFF: BackoffOptions = { initialDelayMs: 250, maxDelayMs: 4000, jitter: 0.5 };
/** Time allowed for a traffic node to reply to SessionJoin with SessionJoined. */
export const DEFAULT_JOIN_TIMEOUT_MS = 5000;

/** Refusals that another attempt cannot fix, even with a fresh ticket. */
const FINAL_ERROR_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.ERROR_TICKET_INVALID,
  ErrorCode.ERROR_TICKET_EXPIRED,
  ErrorCode.ERROR_TICKET_REPLAYED,
  ErrorCode.ERROR_TICKET_WRONG_NODE,
  ErrorCode.ERROR_SESSION_ENDED,
  ErrorCode.ERROR_SOFTWARE_VERSION,
]);

/** Host, port and TLS name of one session-channel connection. */
export interface SessionTarget {
  host: string;
  port: number;
  /** Hostname verified in the node's certificate. */
  tlsName: string;
  /** Reason for trying this target when the client chose it itself, such as an SRV record's priority and weight. */
  reason?: string;
}

export type LinkState = 'connecting' | 'joined' | 'retrying' | 'failed' | 'closed';
export type LinkKind = 'home' | 'cross';

export interface SessionLinkDeps {
  logger: Logger;
  connect: (target: SessionTarget) => Promise<Channel>;
  /** Targets to try in order; one entry unless the assignment names an SRV record. */
  resolveTargets: (assignment: atlas.IAssignment) => Promise<SessionTarget[]>;
  /**
   * Asks the master for the same assignment with a fresh ticket, because a
   * node accepts each ticket once. Retries reuse the first ticket when absent.
   */
  renewTicket?: (assignment: atlas.IAssignment) => Promise<atlas.IAssignment>;
}

export interface SessionLinkOptions {
  sessionId: string;
  clientId: string;
  assignment: atlas.IAssignment;
  /** When the session (or screen share) started, for the first-frame latency. */
  startedAtMs: number;
  frames: FrameSettings;
  retryAttempts?: number;
  retryBackoff?: BackoffOptions;
  joinTimeoutMs?: number;
}

/** One connection attempt that did not last, for the stats report. */
export interface LinkFailure {
  atMs: number;
  reason: string;
}

/** One connection in the reply to the `stats` request. */
export interface ConnectionReport {
  kind: 'master' | LinkKind | 'direct';
  node: string;
  host: string;
  port: number;
  reason: string;
  state: string;
  failures?: LinkFailure[];
  /** Session connections: "direct" between the clients, "relay" through a traffic node. */
  path?: 'direct' | 'relay';
}

/** One stream in the reply to the `stats` request. */
export interface StreamReport {
  stream: string;
  direction: 'publish' | 'subscribe';
  node: string;
  /** "direct" between the clients, "relay" through a traffic node. */
  path?: 'direct' | 'relay';
  framesSent: number | null;
  received: number;
  verified: number;
  lost: number;
  reordered: number;
  duplicated: number;
  corrupted: number;
  done: boolean;
  firstFrameMs: number | null;
  /** Milliseconds from the session start to the latest verified frame; null before the first. */
  lastFrameMs: number | null;
  maxLatencyMs: number | null;
  meanLatencyMs: number | null;
}

/** Returns the report of one stream from its publisher, or from its receiver on the subscribing side. */
export function buildStreamReport(base: Pick<StreamReport, 'stream' | 'direction' | 'node' | 'path'>, publisher: StreamPublisher | undefined, receiver: StreamReceiver | undefined): StreamReport {
  if (publisher !== undefined) {
    return { ...base, framesSent: publisher.framesSent, received: 0, verified: 0, lost: 0, reordered: 0, duplicated: 0, corrupted: 0, done: publisher.done, firstFrameMs: null, lastFrameMs: null, maxLatencyMs: null, meanLatencyMs: null };
  }
  const stats = receiver!.stats();
  return {
    ...base,
    framesSent: stats.framesSent ?? null,
    received: stats.received,
    verified: stats.verified,
    lost: stats.lost,
    reordered: stats.reordered,
    duplicated: stats.duplicated,
    corrupted: stats.corrupted,
    done: stats.done,
    firstFrameMs: stats.firstFrameMs ?? null,
    lastFrameMs: stats.lastFrameMs ?? null,
    maxLatencyMs: stats.verified > 0 ? stats.maxLatencyMs : null,
    meanLatencyMs: stats.verified > 0 ? stats.totalLatencyMs / stats.verified : null,
  };
}

class FinalFailure extends Error {}

/** Outcome of one session-channel connection. */
interface ServeOutcome {
  joined: boolean;
  reason: string;
  /** True when another attempt cannot succeed. */
  final: boolean;
  /** Error code the node sent before closing, if any. */
  code?: ErrorCode;
}

/** A retry the link scheduled after a failed connection. */
export interface LinkRetry {
  attempt: number;
  maxAttempts: number;
  delayMs: number;
  reason: string;
}

/**
 * One session-channel connection for one Assignment: connects to the traffic
 * node, presents the ticket, then publishes or receives one stream. A failed
 * connection is retried on the same node with capped, jittered backoff up to
 * `retryAttempts` times, each time with a fresh ticket from the master. Then
 * the link reports 'failed' with the reason.
 */
export class SessionLink extends EventEmitter<{ joined: [string]; 'stream-done': []; failed: [string]; retrying: [LinkRetry] }> {
  readonly kind: LinkKind;
  readonly stream: string;
  readonly direction: 'publish' | 'subscribe';
  state: LinkState = 'connecting';
  /** Node name from the assignment, replaced by the one SessionJoined reports. */
  node: string;
  host: string;
  port: number;
  readonly failures: LinkFailure[] = [];
  failureReason: string | undefined;
  private readonly publisher: StreamPublisher | undefined;
  private readonly receiver: StreamReceiver | undefined;
  private channel: Channel | undefined;
  private readonly abort = new AbortController();
  private readonly logger: Logger;
  /** The assignment of the next attempt; a retry replaces its ticket. */
  private assignment: atlas.IAssignment;
  /** Reason of the target the last connection reached, when the client chose that target itself. */
  private targetReason: string | undefined;

  constructor(private readonly deps: SessionLinkDeps, private readonly options: SessionLinkOptions) {
    super();
    const assignment = options.assignment;
    this.assignment = assignment;
    this.kind = assignment.kind === 'cross' ? 'cross' : 'home';
    this.stream = assignment.stream ?? '';
    this.direction = assignment.direction === StreamDirection.DIRECTION_PUBLISH ? 'publish' : 'subscribe';
    this.node = assignment.node ?? '';
    this.host = assignment.host ?? '';
    this.port = assignment.port ?? 0;
    this.logger = deps.logger.child({ session: options.sessionId, stream: this.stream, link: this.kind, peer: this.node });
    if (this.direction === 'publish') {
      this.publisher = new StreamPublisher({ logger: this.logger, onEnd: () => this.emit('stream-done') }, { stream: this.stream, frames: options.frames });
    } else {
      this.receiver = new StreamReceiver(this.stream, options.startedAtMs);
    }
  }

  /** True once the stream finished: StreamEnd sent (publisher) or received (subscriber). */
  get streamDone(): boolean {
    return this.publisher?.done ?? this.receiver?.stats().done ?? false;
  }

  start(): void {
    void this.run();
  }

  /** Closes the connection and stops retrying. */
  close(reason: string): void {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    if (this.state !== 'failed') this.state = 'closed';
    this.publisher?.detach();
    this.channel?.close(1000, reason);
  }

  connectionReport(): ConnectionReport {
    const reason = this.options.assignment.reason;
    return {
      kind: this.kind,
      node: this.node,
      host: this.host,
      port: this.port,
      reason: this.targetReason ?? (reason?.text || reason?.method || ''),
      state: this.failureReason === undefined ? this.state : `${this.state}: ${this.failureReason}`,
      failures: [...this.failures],
      path: 'relay',
    };
  }

  streamReport(): StreamReport {
    return buildStreamReport({ stream: this.stream, direction: this.direction, node: this.node, path: 'relay' }, this.publisher, this.receiver);
  }


  private async run(): Promise<void> {
    const maxAttempts = this.options.retryAttempts ?? DEFAULT_SESSION_RETRY_ATTEMPTS;
    let attempt = 0;
    while (!this.abort.signal.aborted) {
      let reason: string;
      let final: boolean;
      try {
        this.state = 'connecting';
        if (attempt > 0) await this.renewTicket();
        if (this.abort.signal.aborted) return;
        const outcome = await this.connectOnce();
        if (outcome.joined) attempt = 0;
        if (this.abort.signal.aborted) return;
        if (this.streamDone) {
          this.state = 'closed';
          this.logger.info({ reason: outcome.reason }, 'session connection closed after the stream finished');
          return;
        }
        reason = outcome.reason;
        final = outcome.final;
      } catch (error) {
        reason = errorMessage(error);
        final = error instanceof FinalFailure;
      }
      if (this.abort.signal.aborted) return;

      this.failures.push({ atMs: Date.now(), reason });
      attempt++;
      if (final || attempt > maxAttempts) {
        this.giveUp(final ? reason : `${reason}; gave up after ${maxAttempts} retries of node ${this.node || this.host}`);
        return;
      }
      const delayMs = backoffDelayMs(attempt, this.options.retryBackoff ?? DEFAULT_SESSION_RETRY_BACKOFF);
      this.state = 'retrying';
      this.logger.warn({ attempt, maxAttempts, delayMs, reason }, 'session connection failed, retrying the same node');
      this.emit('retrying', { attempt, maxAttempts, delayMs, reason });
      await sleep(delayMs, this.abort.signal);
    }
  }

  /** Replaces the ticket of the next attempt with a fresh one from the master, when the client can ask for one. */
  private async renewTicket(): Promise<void> {
    if (this.deps.renewTicket === undefined) return;
    try {
      this.assignment = await this.deps.renewTicket(this.assignment);
    } catch (error) {
      throw new Error(`fresh ticket for ${this.stream} not obtained: ${errorMessage(error)}`, { cause: error });
    }
  }

  private giveUp(reason: string): void {
    this.state = 'failed';
    this.failureReason = reason;
    this.logger.error({ reason, failures: this.failures.length }, 'session connection failed for good');
    this.emit('failed', reason);
  }

  /** Connects to the first target that accepts, then serves the connection until it closes. */
  private async connectOnce(): Promise<ServeOutcome> {
    let targets = await this.deps.resolveTargets(this.assignment);
    if (targets.length === 0) throw new FinalFailure(`no target to connect to for stream ${this.stream}`);
    for (;;) {
      const { channel, index } = await this.connectFirst(targets);
      if (this.abort.signal.aborted) {
        channel.close(1000, 'session closed');
        return { joined: false, reason: 'session closed', final: true };
      }
      this.channel = channel;
      const outcome = await this.serve(channel);
      // A node that is not accepting rejects the ticket before using it up, so the next SRV target can take the same ticket.
      const next = targets.slice(index + 1);
      if (outcome.joined || outcome.code !== ErrorCode.ERROR_NOT_ACCEPTING || next.length === 0 || this.abort.signal.aborted) return outcome;
      this.logger.warn({ host: this.host, port: this.port, reason: outcome.reason }, 'target is not accepting new connections, trying the next one');
      targets = next;
    }
  }

  /** Connects to the first target that accepts the connection; returns the channel and that target's index. */
  private async connectFirst(targets: SessionTarget[]): Promise<{ channel: Channel; index: number }> {
    const errors: string[] = [];
    for (const [index, target] of targets.entries()) {
      this.host = target.host;
      this.port = target.port;
      this.targetReason = target.reason;
      try {
        return { channel: await this.deps.connect(target), index };
      } catch (error) {
        if (isCertificateError(error)) throw new FinalFailure(errorMessage(error));
        errors.push(errorMessage(error));
        if (targets.length > 1) this.logger.warn({ host: target.host, port: target.port, err: errorMessage(error) }, 'target failed, trying the next one');
      }
    }
    throw new Error(errors.join('; '));
  }

  /** Sends SessionJoin and handles the connection's messages until it closes. */
  private serve(channel: Channel): Promise<ServeOutcome> {
    const joinTimeoutMs = this.options.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS;
    let joined = false;
    let peerError: atlas.IError | undefined;

    const joinTimer = setTimeout(() => {
      this.logger.warn({ joinTimeoutMs }, 'no SessionJoined in time, closing');
      channel.close(1000, `no SessionJoined within ${joinTimeoutMs} ms`);
    }, joinTimeoutMs);

    channel.onMessage((envelope) => {
      const body = envelope.body;
      if (body === 'error') {
        peerError = envelope.error ?? undefined;
        return;
      }
      if (!joined) {
        if (body !== 'sessionJoined') throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `expected SessionJoined first, got ${body}`);
        joined = true;
        clearTimeout(joinTimer);
        this.onJoined(channel, envelope.sessionJoined!);
        return;
      }
      this.handleStreamMessage(envelope);
    });

    channel.send({ sessionJoin: { ticket: this.assignment.ticket, clientId: this.options.clientId } });

    return new Promise((resolve) => {
      channel.once('close', (close) => {
        clearTimeout(joinTimer);
        this.publisher?.detach();
        if (this.channel === channel) this.channel = undefined;
        const final = peerError?.code != null && FINAL_ERROR_CODES.has(peerError.code);
        resolve({ joined, reason: describeClose(close, peerError), final, ...(peerError?.code == null ? {} : { code: peerError.code }) });
      });
    });
  }

  private onJoined(channel: Channel, joined: atlas.ISessionJoined): void {
    if (joined.nodeName) this.node = joined.nodeName;
    this.state = 'joined';
    this.logger.info({ trafficNode: this.node, direction: this.direction }, 'joined session on traffic node');
    this.publisher?.attach(channel);
    this.emit('joined', this.node);
  }

  private handleStreamMessage(envelope: DecodedEnvelope): void {
    switch (envelope.body) {
      case 'streamDemand':
        if (this.publisher !== undefined && envelope.streamDemand?.stream === this.stream) this.publisher.setDemand(envelope.streamDemand.subscribers ?? 0);
        return;
      case 'streamFrame':
        if (this.receiver === undefined) throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'StreamFrame sent to a publishing connection');
        this.receiver.accept(envelope.streamFrame as atlas.StreamFrame);
        return;
      case 'streamEnd':
        if (this.receiver === undefined) throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'StreamEnd sent to a publishing connection');
        this.onStreamEnd(envelope.streamEnd!.framesSent ?? 0);
        return;
      default:
        throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected on the session channel`);
    }
  }

  private onStreamEnd(framesSent: number): void {
    const receiver = this.receiver!;
    if (receiver.stats().done) return;
    receiver.end(framesSent);
    const stats = receiver.stats();
    this.logger.info({ framesSent, verified: stats.verified, lost: stats.lost, reordered: stats.reordered, duplicated: stats.duplicated, corrupted: stats.corrupted }, 'stream received');
    this.emit('stream-done');
  }
}

function describeClose(close: ChannelClose, peerError: atlas.IError | undefined): string {
  if (peerError != null) return `${errorCodeName(peerError.code ?? ErrorCode.ERROR_UNSPECIFIED)}: ${peerError.message ?? ''}`;
  const side = close.local ? 'closed by this client' : 'closed by the node';
  return `connection ${side} with code ${close.code}${close.reason ? ` (${close.reason})` : ''}`;
}

/** TLS verification failures: retrying cannot fix a certificate that does not cover the name. */
function isCertificateError(error: unknown): boolean {
  const cause = error instanceof ConnectError ? error.cause : error;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  return code.startsWith('ERR_TLS_CERT') || code.includes('CERT') || code.startsWith('UNABLE_TO_VERIFY');
}
