import { EventEmitter } from 'node:events';
import type { Logger } from '../logging/logger.js';
import type { FrameSettings } from '../config/client-config.js';
import type { atlas } from '../protocol/messages.js';
import { SessionLink, type LinkRetry, type SessionLinkDeps } from './session-link.js';

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
  joined: [SessionLink];
  'stream-done': [SessionLink];
  'link-failed': [SessionLink, string];
  'link-retrying': [SessionLink, LinkRetry];
};

/**
 * One support session as this client sees it: the session-channel
 * connections that its assignments name, and the reason the session ended.
 */
export class ClientSession extends EventEmitter<SessionEvents> {
  readonly startedAtMs: number;
  readonly links: SessionLink[] = [];
  endedReason: string | undefined;
  endedAtMs: number | undefined;
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

  /** Opens the connection that one assignment names. `startedAtMs` is where the first-frame latency starts. */
  open(assignment: atlas.IAssignment, startedAtMs = this.startedAtMs): SessionLink {
    const link = new SessionLink(this.deps, {
      sessionId: this.id,
      clientId: this.options.clientId,
      assignment,
      startedAtMs,
      frames: this.options.frames,
      retryAttempts: this.options.retryAttempts,
    });
    link.on('joined', () => this.emit('joined', link));
    link.on('stream-done', () => this.emit('stream-done', link));
    link.on('failed', (reason) => this.emit('link-failed', link, reason));
    link.on('retrying', (retry) => this.emit('link-retrying', link, retry));
    this.links.push(link);
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

  /** Subscribed streams that have not received StreamEnd yet. */
  pendingSubscriptions(): SessionLink[] {
    return this.links.filter((link) => link.direction === 'subscribe' && !link.streamDone);
  }
}
