import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

import type { Rng } from '../routing/rng.js';
import type { LinkFaults } from './fault-table.js';

/** Byte counters of one direction, shared by every connection of a proxy. */
export interface DirectionCounters {
  /** Bytes written to the receiving socket. */
  bytes: number;
  /** Bytes dropped by a blackhole. */
  droppedBytes: number;
}

export interface TcpPipeOptions {
  source: Socket;
  sink: Socket;
  /** Faults in force now for this connection and direction; called for every chunk. */
  lookupFaults: () => LinkFaults | undefined;
  random: Rng;
  counters: DirectionCounters;
  /** Bytes held back (delay, bandwidth) above which the source is paused. */
  maxQueuedBytes: number;
  /** Called when a reset fault is in force; the owner resets both sockets. */
  onReset: () => void;
}

/**
 * Time span of traffic that a full token bucket lets through at once. With a
 * cap of 1 MB/s this is a 20 kB burst, small enough that throughput measured
 * over a second stays close to the cap.
 */
export const BANDWIDTH_BURST_MS = 20;

/** Indices of consumed entries kept before the queue array is compacted. */
const QUEUE_COMPACT_THRESHOLD = 1024;

interface HeldChunk {
  chunk: Buffer;
  /** performance.now() time at which the chunk may be written. */
  readyAt: number;
}

/**
 * Copies one direction of a proxied TCP connection and applies the faults in
 * force at every chunk. With no fault and nothing held back, each chunk is
 * written straight through (no timer, no copy). Otherwise chunks wait in a
 * FIFO queue, which keeps byte order: a chunk is released no earlier than its
 * delay and never before the chunk received before it, then paced by a token
 * bucket when a bandwidth cap applies. Backpressure: the source is paused
 * while the sink's buffer is full or the queue contains maxQueuedBytes or more.
 */
export class TcpPipe {
  private readonly queue: HeldChunk[] = [];
  private head = 0;
  private queuedBytes = 0;
  private lastReadyAt = 0;
  private sinkBlocked = false;
  private sourcePaused = false;
  private sourceEnded = false;
  private sinkEnded = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private tokens = 0;
  private tokensAt = 0;
  private bucketRate = 0;

  constructor(private readonly options: TcpPipeOptions) {}

  /** Starts reading the source. */
  start(): void {
    const { source, sink } = this.options;
    source.on('data', this.onData);
    source.on('end', this.onEnd);
    sink.on('drain', this.onDrain);
  }

  /** Stops all timers and listeners; queued bytes are discarded. */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
    this.options.source.off('data', this.onData);
    this.options.source.off('end', this.onEnd);
    this.options.sink.off('drain', this.onDrain);
  }

  /** Re-evaluates held chunks after the fault table changed (a healed blackhole releases a pending end, a removed cap releases bytes). */
  refresh(): void {
    this.clearTimer();
    this.pump();
  }

  get heldBytes(): number {
    return this.queuedBytes;
  }

  private readonly onData = (chunk: Buffer): void => {
    const faults = this.options.lookupFaults();
    if (faults === undefined && this.head === this.queue.length) {
      this.options.counters.bytes += chunk.length;
      if (!this.options.sink.write(chunk)) this.blockSink();
      return;
    }
    this.hold(chunk, faults);
  };

  private readonly onEnd = (): void => {
    this.sourceEnded = true;
    this.pump();
  };

  private readonly onDrain = (): void => {
    this.sinkBlocked = false;
    this.pump();
    this.updateSourceFlow();
  };

  private hold(chunk: Buffer, faults: LinkFaults | undefined): void {
    if (faults?.reset === true) {
      this.options.onReset();
      return;
    }
    if (faults?.blackhole === true) {
      // NOTE: dropped bytes are gone for good. A kernel TCP stream would
      // retransmit them after the heal, so a framed protocol here sees a gap.
      this.options.counters.droppedBytes += chunk.length;
      return;
    }
    const now = performance.now();
    const delayMs = faults === undefined ? 0 : this.sampleDelay(faults);
    const readyAt = Math.max(now + delayMs, this.lastReadyAt);
    this.lastReadyAt = readyAt;
    this.queue.push({ chunk, readyAt });
    this.queuedBytes += chunk.length;
    this.pump();
    this.updateSourceFlow();
  }

  /** Delay plus a uniform draw from [-jitter, +jitter], never below zero. */
  private sampleDelay(faults: LinkFaults): number {
    if (faults.jitterMs === 0) return faults.delayMs;
    const jitter = (this.options.random.next() * 2 - 1) * faults.jitterMs;
    return Math.max(0, faults.delayMs + jitter);
  }

  /** Writes every held chunk that is due, then schedules a timer for the next one. */
  private pump(): void {
    if (this.stopped || this.timer !== undefined) return;
    const { sink, counters } = this.options;
    while (this.head < this.queue.length && !this.sinkBlocked && !sink.destroyed) {
      const first = this.queue[this.head] as HeldChunk;
      const now = performance.now();
      if (first.readyAt > now) {
        this.schedule(first.readyAt - now);
        return;
      }
      const faults = this.options.lookupFaults();
      if (faults?.reset === true) {
        this.options.onReset();
        return;
      }
      if (faults?.blackhole === true) {
        counters.droppedBytes += first.chunk.length;
        this.dequeue(first.chunk.length);
        continue;
      }
      const allowed = this.takeTokens(faults, first.chunk.length, now);
      if (allowed === 0) return;
      const piece = allowed < first.chunk.length ? first.chunk.subarray(0, allowed) : first.chunk;
      if (allowed < first.chunk.length) {
        first.chunk = first.chunk.subarray(allowed);
        this.queuedBytes -= allowed;
      } else {
        this.dequeue(allowed);
      }
      counters.bytes += piece.length;
      if (!sink.write(piece)) this.blockSink();
    }
    this.updateSourceFlow();
    this.endSinkIfDone();
  }

  /**
   * Returns how many bytes of a chunk the bandwidth cap lets through now
   * (all of them without a cap). Returns 0 after scheduling a timer for when
   * the bucket contains enough tokens for the chunk or half a burst.
   */
  private takeTokens(faults: LinkFaults | undefined, length: number, now: number): number {
    const rate = faults?.bytesPerSecond ?? Infinity;
    if (rate === Infinity) return length;

    const capacity = Math.max(1, Math.floor((rate * BANDWIDTH_BURST_MS) / 1000));
    if (rate !== this.bucketRate) {
      // A new or changed cap starts with a full bucket of the new size.
      this.bucketRate = rate;
      this.tokens = capacity;
      this.tokensAt = now;
    }
    this.tokens = Math.min(capacity, this.tokens + ((now - this.tokensAt) * rate) / 1000);
    this.tokensAt = now;

    // Waiting for half a bucket, not a full one, means tokens that accrue while
    // the timer fires late are not lost to the capacity limit.
    const needed = Math.min(length, Math.ceil(capacity / 2));
    if (this.tokens < needed) {
      this.schedule(((needed - this.tokens) * 1000) / rate);
      return 0;
    }
    const allowed = Math.min(length, Math.floor(this.tokens));
    this.tokens -= allowed;
    return allowed;
  }

  private dequeue(length: number): void {
    this.head += 1;
    this.queuedBytes -= length;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= QUEUE_COMPACT_THRESHOLD) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(1, Math.ceil(delayMs)));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private blockSink(): void {
    this.sinkBlocked = true;
    this.updateSourceFlow();
  }

  private updateSourceFlow(): void {
    const { source } = this.options;
    const shouldPause = this.sinkBlocked || this.queuedBytes >= this.options.maxQueuedBytes;
    if (shouldPause && !this.sourcePaused) {
      this.sourcePaused = true;
      source.pause();
    } else if (!shouldPause && this.sourcePaused) {
      this.sourcePaused = false;
      source.resume();
    }
  }

  /**
   * Forwards the source's FIN once everything before it has been written. While
   * a blackhole is in force the FIN is held back too, so the peer keeps seeing
   * an open connection until the fault is healed.
   */
  private endSinkIfDone(): void {
    if (!this.sourceEnded || this.sinkEnded || this.head < this.queue.length) return;
    if (this.options.lookupFaults()?.blackhole === true) return;
    this.sinkEnded = true;
    this.options.sink.end();
  }
}
