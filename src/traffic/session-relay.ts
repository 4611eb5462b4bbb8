import type { Logger } from '../logging/logger.js';
import type { Channel } from '../net/channel.js';

/** Send-buffer size of any subscriber above which the publisher's socket is paused. */
export const DEFAULT_RELAY_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Send-buffer size every subscriber must drain below before the publisher's socket resumes. */
export const DEFAULT_RELAY_LOW_WATER_BYTES = 1024 * 1024;

export interface RelayWatermarks {
  highWaterBytes: number;
  lowWaterBytes: number;
}

/**
 * The relay of one stream of one session: at most one publisher and any
 * number of subscribers. Frames are forwarded as the publisher's raw envelope
 * bytes. When a subscriber falls behind, the relay stops reading from the
 * publisher instead of dropping frames, so a slow receiver slows the sender.
 */
export class StreamRelay {
  private publisher: Channel | undefined;
  private readonly subscribers = new Set<Channel>();
  private paused = false;

  constructor(
    private readonly deps: { logger: Logger },
    readonly sessionId: string,
    readonly stream: string,
    private readonly watermarks: RelayWatermarks,
  ) {}

  get isEmpty(): boolean {
    return this.publisher === undefined && this.subscribers.size === 0;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Makes `channel` the publisher and returns the one it replaces, if any. */
  setPublisher(channel: Channel): Channel | undefined {
    const previous = this.publisher;
    this.publisher = channel;
    this.paused = false;
    this.sendDemand();
    return previous;
  }

  addSubscriber(channel: Channel): void {
    this.subscribers.add(channel);
    this.sendDemand();
  }

  /** Removes a publisher or subscriber; a channel that has been replaced is ignored. */
  remove(channel: Channel): void {
    if (this.publisher === channel) {
      this.publisher = undefined;
      this.paused = false;
      return;
    }
    if (this.subscribers.delete(channel)) {
      this.sendDemand();
      this.resumeIfDrained();
    }
  }

  /** Sends one encoded StreamFrame or StreamEnd envelope, unchanged, to every subscriber. */
  forward(raw: Buffer): void {
    for (const subscriber of this.subscribers) {
      subscriber.sendRaw(raw, () => this.resumeIfDrained());
    }
    this.pauseIfBacklogged();
  }

  private pauseIfBacklogged(): void {
    if (this.paused || this.publisher === undefined) return;
    const backlog = this.largestBacklog();
    if (backlog <= this.watermarks.highWaterBytes) return;
    this.paused = true;
    this.publisher.ws.pause();
    this.deps.logger.debug({ backlogBytes: backlog, highWaterBytes: this.watermarks.highWaterBytes }, 'subscriber backlog above high water mark, pausing publisher');
  }

  private resumeIfDrained(): void {
    if (!this.paused) return;
    const backlog = this.largestBacklog();
    if (backlog > this.watermarks.lowWaterBytes) return;
    this.paused = false;
    this.publisher?.ws.resume();
    this.deps.logger.debug({ backlogBytes: backlog }, 'subscribers drained below low water mark, resuming publisher');
  }

  private largestBacklog(): number {
    let largest = 0;
    for (const subscriber of this.subscribers) {
      if (subscriber.isOpen) largest = Math.max(largest, subscriber.bufferedAmount);
    }
    return largest;
  }

  private sendDemand(): void {
    this.publisher?.send({ streamDemand: { stream: this.stream, subscribers: this.subscribers.size } });
  }
}

/** Relays of every session with at least one participant connected to this node. */
export class RelayHub {
  private readonly sessions = new Map<string, Map<string, StreamRelay>>();

  constructor(private readonly deps: { logger: Logger }, private readonly watermarks: RelayWatermarks) {}

  /** Number of sessions with at least one connected participant. */
  get activeSessions(): number {
    return this.sessions.size;
  }

  hasSession(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** Returns the relay of a stream, creating the session and stream state on first use. */
  relay(sessionId: string, stream: string, logger: Logger): StreamRelay {
    let streams = this.sessions.get(sessionId);
    if (streams === undefined) {
      streams = new Map();
      this.sessions.set(sessionId, streams);
      this.deps.logger.info({ session: sessionId }, 'session opened on this node');
    }
    let relay = streams.get(stream);
    if (relay === undefined) {
      relay = new StreamRelay({ logger }, sessionId, stream, this.watermarks);
      streams.set(stream, relay);
    }
    return relay;
  }

  /** Removes a channel from its relay and frees the session when its last participant has left. */
  leave(relay: StreamRelay, channel: Channel): void {
    relay.remove(channel);
    const streams = this.sessions.get(relay.sessionId);
    if (streams === undefined || !relay.isEmpty) return;
    if (streams.get(relay.stream) === relay) streams.delete(relay.stream);
    if (streams.size === 0) {
      this.sessions.delete(relay.sessionId);
      this.deps.logger.info({ session: relay.sessionId }, 'last participant left, session state freed');
    }
  }
}
