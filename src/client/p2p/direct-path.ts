import { EventEmitter } from 'node:events';
import type { FrameSettings } from '../../config/client-config.js';
import type { Logger } from '../../logging/logger.js';
import type { Channel } from '../../net/channel.js';
import { ProtocolError, errorCodeName, type DecodedEnvelope } from '../../protocol/envelope.js';
import { ErrorCode, StreamDirection, type atlas } from '../../protocol/messages.js';
import { StreamReceiver } from '../frames.js';
import { StreamPublisher } from '../publisher.js';
import { buildStreamReport, type ConnectionReport, type LinkRetry, type LinkState, type StreamReport } from '../session-link.js';
import type { Endpoint } from './connectivity-checks.js';

/** Node name that reports and stream tables show for a stream on the direct path. */
export const DIRECT_NODE = 'direct';

/**
 * The direct connection of one session between its two clients. It carries
 * every stream of the session in both directions: a subscriber sends
 * StreamDemand, and the publisher of that stream replies with StreamFrame
 * messages and StreamEnd, as a traffic node would relay them.
 */
export class DirectPath extends EventEmitter<{ closed: [string] }> {
  private readonly publishers = new Map<string, DirectStreamLink>();
  private readonly subscribers = new Map<string, DirectStreamLink>();
  /** Demand that arrived before this client opened the publishing link. */
  private readonly pendingDemand = new Map<string, number>();
  closedReason: string | undefined;

  constructor(
    readonly channel: Channel,
    private readonly logger: Logger,
    /** The peer's address and listener port, or the dialer's address for the acceptor. */
    readonly peer: Endpoint,
    /** Reason the direct path was taken, for reports. */
    readonly reason: string,
  ) {
    super();
    channel.onMessage((envelope) => this.dispatch(envelope));
    channel.once('close', (close) => {
      this.closedReason = `direct connection closed${close.local ? ' by this client' : ' by the peer'} with code ${close.code}${close.reason ? ` (${close.reason})` : ''}`;
      this.logger.info({ code: close.code, reason: close.reason, local: close.local }, 'direct connection closed');
      this.emit('closed', this.closedReason);
    });
  }

  get isOpen(): boolean {
    return this.channel.isOpen;
  }

  /** Opens one stream of an assignment on this path. */
  openStream(assignment: atlas.IAssignment, frames: FrameSettings, startedAtMs: number): DirectStreamLink {
    const link = new DirectStreamLink(this, this.logger, assignment, frames, startedAtMs);
    if (link.direction === 'publish') {
      this.publishers.set(link.stream, link);
      const demand = this.pendingDemand.get(link.stream);
      this.pendingDemand.delete(link.stream);
      if (demand !== undefined) link.setDemand(demand);
    } else {
      this.subscribers.set(link.stream, link);
      this.channel.send({ streamDemand: { stream: link.stream, subscribers: 1 } });
    }
    return link;
  }

  close(reason: string): void {
    this.channel.close(1000, reason);
  }

  private dispatch(envelope: DecodedEnvelope): void {
    switch (envelope.body) {
      case 'streamDemand': {
        const demand = envelope.streamDemand as atlas.StreamDemand;
        const publisher = this.publishers.get(demand.stream);
        if (publisher === undefined) this.pendingDemand.set(demand.stream, demand.subscribers);
        else publisher.setDemand(demand.subscribers);
        return;
      }
      case 'streamFrame':
      case 'streamEnd': {
        const stream = envelope.streamFrame?.stream ?? envelope.streamEnd?.stream ?? '';
        const subscriber = this.subscribers.get(stream);
        if (subscriber === undefined) throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} for stream ${JSON.stringify(stream)}, which this client has not subscribed to`);
        subscriber.receive(envelope);
        return;
      }
      case 'error':
        this.logger.warn({ code: errorCodeName(envelope.error?.code ?? ErrorCode.ERROR_UNSPECIFIED), reason: envelope.error?.message }, 'peer sent an error on the direct connection');
        return;
      default:
        throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected on the direct connection`);
    }
  }
}

/**
 * One stream of a session on the direct path. It reports like a
 * session-channel link, with node "direct", so stats and stream waits
 * treat both paths alike.
 */
export class DirectStreamLink extends EventEmitter<{ joined: [string]; 'stream-done': []; failed: [string]; retrying: [LinkRetry] }> {
  readonly kind = 'direct' as const;
  readonly stream: string;
  readonly direction: 'publish' | 'subscribe';
  readonly node = DIRECT_NODE;
  readonly host: string;
  readonly port: number;
  state: LinkState = 'joined';
  failureReason: string | undefined;
  private readonly publisher: StreamPublisher | undefined;
  private readonly receiver: StreamReceiver | undefined;
  private readonly logger: Logger;

  constructor(private readonly path: DirectPath, logger: Logger, assignment: atlas.IAssignment, frames: FrameSettings, startedAtMs: number) {
    super();
    this.stream = assignment.stream ?? '';
    this.direction = assignment.direction === StreamDirection.DIRECTION_PUBLISH ? 'publish' : 'subscribe';
    this.host = path.peer.address;
    this.port = path.peer.port;
    this.logger = logger.child({ stream: this.stream, link: 'direct' });
    if (this.direction === 'publish') {
      this.publisher = new StreamPublisher({ logger: this.logger, onEnd: () => this.emit('stream-done') }, { stream: this.stream, frames });
      this.publisher.attach(path.channel);
    } else {
      this.receiver = new StreamReceiver(this.stream, startedAtMs);
    }
    path.once('closed', (reason) => this.onPathClosed(reason));
  }

  get streamDone(): boolean {
    return this.publisher?.done ?? this.receiver?.stats().done ?? false;
  }

  /** Emits 'joined' once listeners are attached: the direct connection is already open. */
  start(): void {
    setImmediate(() => {
      if (this.state !== 'joined') return;
      this.logger.info({ direction: this.direction, peer: `${this.host}:${this.port}` }, 'stream on the direct path');
      this.emit('joined', DIRECT_NODE);
    });
  }

  close(reason: string): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = 'closed';
    this.publisher?.detach();
    this.logger.debug({ reason }, 'direct stream closed');
  }

  setDemand(subscribers: number): void {
    this.publisher?.setDemand(subscribers);
  }

  receive(envelope: DecodedEnvelope): void {
    const receiver = this.receiver!;
    if (envelope.body === 'streamFrame') {
      receiver.accept(envelope.streamFrame as atlas.StreamFrame);
      return;
    }
    if (receiver.stats().done) return;
    receiver.end(envelope.streamEnd?.framesSent ?? 0);
    const stats = receiver.stats();
    this.logger.info({ framesSent: stats.framesSent, verified: stats.verified, lost: stats.lost, corrupted: stats.corrupted }, 'stream received on the direct path');
    this.emit('stream-done');
  }

  connectionReport(): ConnectionReport {
    return {
      kind: 'direct',
      node: DIRECT_NODE,
      host: this.host,
      port: this.port,
      reason: this.path.reason,
      state: this.failureReason === undefined ? this.state : `${this.state}: ${this.failureReason}`,
      path: 'direct',
      failures: [],
    };
  }

  streamReport(): StreamReport {
    return buildStreamReport({ stream: this.stream, direction: this.direction, node: DIRECT_NODE, path: 'direct' }, this.publisher, this.receiver);
  }


  private onPathClosed(reason: string): void {
    this.publisher?.detach();
    if (this.state !== 'joined') return;
    if (this.streamDone) {
      this.state = 'closed';
      return;
    }
    // NOTE: a direct path that fails mid-session is not replaced by the traffic-node path; the fallback happens only at session start.
    this.state = 'failed';
    this.failureReason = reason;
    this.logger.error({ reason }, 'direct stream failed');
    this.emit('failed', reason);
  }
}
