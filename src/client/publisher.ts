import type { Logger } from '../logging/logger.js';
import type { Channel } from '../net/channel.js';
import type { FrameSettings } from '../config/client-config.js';
import { createFrame } from './frames.js';

/**
 * Bytes queued in the WebSocket above which a publisher stops sending until
 * the socket drains below DEFAULT_LOW_WATER_BYTES. Bounds the memory of a
 * publisher with intervalMs 0 to about this plus one frame.
 */
export const DEFAULT_HIGH_WATER_BYTES = 4 * 1024 * 1024;
export const DEFAULT_LOW_WATER_BYTES = 1024 * 1024;

export interface PublisherOptions {
  stream: string;
  frames: FrameSettings;
  highWaterBytes?: number;
  lowWaterBytes?: number;
}

/**
 * Sends the synthetic frames of one stream over a session-channel connection.
 * It sends only while the traffic node reports at least one subscriber, paces
 * frames by `intervalMs` (0: as fast as the socket drains), and sends
 * StreamEnd after the last frame. The sequence number survives reconnects, so
 * a new connection continues where the old one stopped.
 */
export class StreamPublisher {
  private channel: Channel | undefined;
  private subscribers = 0;
  private nextSeq = 0;
  private ended = false;
  private waitingForDrain = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly highWaterBytes: number;
  private readonly lowWaterBytes: number;

  constructor(private readonly deps: { logger: Logger; onEnd: (framesSent: number) => void }, private readonly options: PublisherOptions) {
    this.highWaterBytes = options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
    this.lowWaterBytes = options.lowWaterBytes ?? DEFAULT_LOW_WATER_BYTES;
  }

  /** Frames handed to a socket so far. */
  get framesSent(): number {
    return this.nextSeq;
  }

  /** True once StreamEnd was sent. */
  get done(): boolean {
    return this.ended;
  }

  /** Uses a newly joined connection; sending waits for its first StreamDemand. */
  attach(channel: Channel): void {
    this.cancelScheduled();
    this.channel = channel;
    this.subscribers = 0;
    this.waitingForDrain = false;
  }

  /** Stops sending on the current connection (it closed or the session ended). */
  detach(): void {
    this.cancelScheduled();
    this.channel = undefined;
    this.subscribers = 0;
  }

  /** Applies a StreamDemand: pauses at 0 subscribers, resumes above. */
  setDemand(subscribers: number): void {
    const before = this.subscribers;
    this.subscribers = subscribers;
    if (before === subscribers) return;
    this.deps.logger.info({ subscribers, framesSent: this.nextSeq }, subscribers > 0 ? 'subscribers present, sending' : 'no subscribers, pausing');
    if (subscribers > 0) {
      this.schedule(0);
    } else {
      this.cancelScheduled();
    }
  }

  private canSend(): boolean {
    return !this.ended && this.subscribers > 0 && this.channel?.isOpen === true && !this.waitingForDrain;
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined || this.immediate !== undefined) return;
    if (delayMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, delayMs);
    } else {
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.pump();
      });
    }
  }

  private cancelScheduled(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private pump(): void {
    const { count, intervalMs } = this.options.frames;
    while (this.canSend()) {
      if (this.nextSeq >= count) {
        this.sendEnd();
        return;
      }
      if (this.channel!.bufferedAmount >= this.highWaterBytes) {
        this.waitingForDrain = true;
        return;
      }
      this.sendFrame();
      if (intervalMs > 0) {
        // The last frame is followed by StreamEnd at once, not after another pause.
        this.schedule(this.nextSeq >= count ? 0 : intervalMs);
        return;
      }
    }
  }

  private sendFrame(): void {
    const channel = this.channel!;
    const frame = createFrame(this.options.stream, this.nextSeq, this.options.frames.sizeBytes, Date.now(), true);
    channel.send({ streamFrame: frame }, () => this.onWritten(channel));
    this.nextSeq++;
  }

  /** Write callback of every frame: resumes a publisher that waits for the socket to drain. */
  private onWritten(channel: Channel): void {
    if (!this.waitingForDrain || channel !== this.channel) return;
    if (channel.bufferedAmount > this.lowWaterBytes) return;
    this.waitingForDrain = false;
    this.schedule(0);
  }

  private sendEnd(): void {
    this.ended = true;
    this.channel!.send({ streamEnd: { stream: this.options.stream, framesSent: this.nextSeq } });
    this.deps.logger.info({ framesSent: this.nextSeq }, 'stream sent');
    this.deps.onEnd(this.nextSeq);
  }
}
