import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/logger.js';
import type { FrameSettings } from '../config/client-config.js';
import { StreamDirection, type atlas } from '../protocol/messages.js';
import type { DirectPath, DirectStreamLink } from './p2p/direct-path.js';
import { SessionLink, type LinkRetry, type SessionLinkDeps } from './session-link.js';

/** A stream connection of a session: through a traffic node, or on the direct path. */
export type StreamLink = SessionLink | DirectStreamLink;

/** The path a session's streams take, and why. */
export type PathChoice = { path: 'relay'; reason: string } | { path: 'direct'; reason: string; direct: DirectPath };

export interface ClientSessionOptions {
  /** When this client requested the session (a representative's AcceptRequest); SessionStart's arrival when absent. */
  requestedAtMs?: number | undefined;
  sessionId: string;
  clientId: string;
  peerClientId: string;
  peerDisplayName: string;
  frames: FrameSettings;
  /** Retries of a failed session connection; SessionLink's default when absent. */
  retryAttempts?: number;
}

type SessionEvents = {
  joined: [StreamLink];
  'stream-done': [StreamLink];
  'link-failed': [StreamLink, string];
  'link-retrying': [StreamLink, LinkRetry];
  'path-decided': [PathChoice];
};

/**
 * One support session as this client sees it: the path its streams take,
 * the connections that its assignments name, and the reason the session
 * ended. Assignments wait until the path is decided: on the traffic-node
 * path each opens a session-channel connection, on the direct path each
 * becomes a stream of the one direct connection.
 */
export class ClientSession extends EventEmitter<SessionEvents> {
  readonly startedAtMs: number;
  readonly links: StreamLink[] = [];
  endedReason: string | undefined;
  endedAtMs: number | undefined;
  /** Undefined while a direct attempt runs. */
  pathChoice: PathChoice | undefined;
  private readonly waiting: { assignment: atlas.IAssignment; startedAtMs: number }[] = [];
  private readonly logger: Logger;

  constructor(private readonly deps: SessionLinkDeps, readonly options: ClientSessionOptions) {
    super();
    this.startedAtMs = options.requestedAtMs ?? Date.now();
    this.logger = deps.logger.child({ session: options.sessionId });
  }

  get id(): string {
    return this.options.sessionId;
  }

  get ended(): boolean {
    return this.endedReason !== undefined;
  }

  /** Takes the path for every stream of the session and opens the assignments that waited for it. */
  decidePath(choice: PathChoice): void {
    if (this.pathChoice !== undefined) return;
    this.pathChoice = choice;
    this.logger.info({ path: choice.path, reason: choice.reason }, 'session path decided');
    this.emit('path-decided', choice);
    if (this.ended) {
      if (choice.path === 'direct') choice.direct.close(`session ended: ${this.endedReason ?? ''}`);
      return;
    }
    for (const { assignment, startedAtMs } of this.waiting.splice(0)) this.openNow(assignment, startedAtMs);
  }

  /** Opens the connection or direct stream that one assignment names, once the path is decided. `startedAtMs` is where the first-frame latency starts. */
  open(assignment: atlas.IAssignment, startedAtMs = this.startedAtMs): void {
    if (this.pathChoice === undefined) {
      this.waiting.push({ assignment, startedAtMs });
      return;
    }
    this.openNow(assignment, startedAtMs);
  }

  private openNow(assignment: atlas.IAssignment, startedAtMs: number): void {
    const choice = this.pathChoice;
    if (choice?.path === 'direct') {
      const open = this.links.find((link) => link.stream === assignment.stream && link.direction === (assignment.direction === StreamDirection.DIRECTION_PUBLISH ? 'publish' : 'subscribe'));
      if (open !== undefined) {
        this.logger.debug({ stream: assignment.stream }, 'stream already open on the direct path; assignment ignored');
        return;
      }
      const link = choice.direct.openStream(assignment, this.options.frames, startedAtMs);
      this.track(link);
      this.logger.info({ stream: link.stream, direction: link.direction, peer: `${link.host}:${link.port}` }, 'opening stream on the direct path');
      link.start();
      return;
    }
    this.openSessionLink(assignment, startedAtMs);
  }

  private track(link: StreamLink): void {
    link.on('joined', () => this.emit('joined', link));
    link.on('stream-done', () => this.emit('stream-done', link));
    link.on('failed', (reason) => this.emit('link-failed', link, reason));
    link.on('retrying', (retry) => this.emit('link-retrying', link, retry));
    this.links.push(link);
  }

  private openSessionLink(assignment: atlas.IAssignment, startedAtMs: number): SessionLink {
    const link = new SessionLink(this.deps, {
      sessionId: this.id,
      clientId: this.options.clientId,
      assignment,
      startedAtMs,
      frames: this.options.frames,
      retryAttempts: this.options.retryAttempts,
    });
    this.track(link);
    this.logger.info({ kind: link.kind, trafficNode: link.node, host: link.host, port: link.port, stream: link.stream, direction: link.direction, reason: assignment.reason?.text ?? '' }, 'opening session connection');
    link.start();
    return link;
  }

  /** Closes every session connection and records the reason. */
  end(reason: string): void {
    if (this.ended) return;
    this.endedReason = reason;
    this.endedAtMs = Date.now();
    for (const link of this.links) link.close(`session ended: ${reason}`);
    if (this.pathChoice?.path === 'direct') this.pathChoice.direct.close(`session ended: ${reason}`);
    this.logger.info({ reason }, 'session ended');
  }

  /** Sends the launcher an event for every join, finished stream and failed connection, and calls `onChange` after each. */
  reportEvents(report: (event: string, data?: Record<string, unknown>) => void, onChange: () => void): void {
    this.on('joined', (link) => {
      report('session-joined', { sessionId: this.id, kind: link.kind, node: link.node, stream: link.stream, direction: link.direction });
      onChange();
    });
    this.on('stream-done', (link) => {
      report('stream-done', { sessionId: this.id, ...link.streamReport() });
      onChange();
    });
    this.on('link-failed', (link, reason) => {
      report('session-connection-failed', { sessionId: this.id, kind: link.kind, node: link.node, stream: link.stream, reason });
      onChange();
    });
    this.on('link-retrying', (link, retry) => {
      report('session-connection-retry', { sessionId: this.id, kind: link.kind, node: link.node, stream: link.stream, ...retry });
    });
  }

  /** Lists the subscribed streams still waiting for StreamEnd, for timeout messages. */
  describePendingSubscriptions(): string {
    return this.pendingSubscriptions().map((link) => {
      const report = link.streamReport();
      return `${link.stream} from ${link.node || link.host} (${link.state}, ${report.verified} frames verified)`;
    }).join(', ');
  }

  /** Subscribed streams that have not received StreamEnd yet, including those waiting for the path decision. */
  pendingSubscriptions(): StreamLink[] {
    return this.links.filter((link) => link.direction === 'subscribe' && !link.streamDone);
  }

  /** True while assignments wait for the direct attempt to end. */
  get pathPending(): boolean {
    return this.pathChoice === undefined;
  }
}
