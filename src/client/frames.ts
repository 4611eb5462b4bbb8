import { crc32 } from 'node:zlib';
import type { atlas } from '../protocol/messages.js';

/**
 * Synthetic screen frames. Byte `i` of frame `seq` is `(seq * 31 + i) & 0xff`
 * and `crc32` is zlib's CRC-32 of the payload, so a receiver can check every
 * frame without knowing anything but its sequence number.
 */

/** Multiplier of the sequence number in the payload formula. */
export const FRAME_SEQ_MULTIPLIER = 31;

/**
 * Highest sequence number a receiver tracks (one bit per frame, 16 MiB at
 * most). Frames above it count as corrupted.
 */
export const MAX_TRACKED_SEQ = 2 ** 27 - 1;

/** Outcome of checking one frame's payload. */
export type FrameCheck = 'ok' | 'crc-mismatch' | 'content-mismatch';

/**
 * Byte ramp 0, 1, ..., 255, 0, 1, ... from which every payload is a slice:
 * frame `seq` starts at offset `(seq * 31) & 0xff`. CRCs are cached per
 * (size, offset) because a given size has only 256 distinct payloads.
 */
class FramePattern {
  private ramp = Buffer.alloc(0);
  private readonly crcBySize = new Map<number, (number | undefined)[]>();

  /** Expected payload of frame `seq`: a view into the shared ramp that callers must not modify. */
  view(seq: number, sizeBytes: number): Buffer {
    this.ensureLength(sizeBytes + 256);
    const offset = patternOffset(seq);
    return this.ramp.subarray(offset, offset + sizeBytes);
  }

  /** CRC-32 of the expected payload of frame `seq`. */
  crc(seq: number, sizeBytes: number): number {
    let table = this.crcBySize.get(sizeBytes);
    if (table === undefined) {
      table = new Array<number | undefined>(256);
      this.crcBySize.set(sizeBytes, table);
    }
    const offset = patternOffset(seq);
    let value = table[offset];
    if (value === undefined) {
      value = crc32(this.view(seq, sizeBytes));
      table[offset] = value;
    }
    return value;
  }

  private ensureLength(length: number): void {
    if (this.ramp.length >= length) return;
    const ramp = Buffer.allocUnsafe(Math.max(length, this.ramp.length * 2));
    for (let i = 0; i < ramp.length; i++) ramp[i] = i & 0xff;
    this.ramp = ramp;
  }
}

const pattern = new FramePattern();

function patternOffset(seq: number): number {
  return ((seq % 256) * FRAME_SEQ_MULTIPLIER) & 0xff;
}

/** Returns a fresh copy of the payload of frame `seq`. */
export function framePayload(seq: number, sizeBytes: number): Buffer {
  return Buffer.from(pattern.view(seq, sizeBytes));
}

/**
 * Builds frame `seq` of `stream`. With `shared` the payload is a view into a
 * buffer every frame shares: faster for a publisher that only encodes it, but
 * the caller must never modify it.
 */
export function createFrame(stream: string, seq: number, sizeBytes: number, nowMs = Date.now(), shared = false): atlas.IStreamFrame {
  return {
    stream,
    seq,
    sentAtMs: nowMs,
    crc32: pattern.crc(seq, sizeBytes),
    payload: shared ? pattern.view(seq, sizeBytes) : framePayload(seq, sizeBytes),
  };
}

/** Checks a frame's payload against the formula and its CRC field. */
export function checkFrame(frame: { seq: number; crc32: number; payload: Uint8Array }): FrameCheck {
  const payload = Buffer.isBuffer(frame.payload) ? frame.payload : Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength);
  if (!payload.equals(pattern.view(frame.seq, payload.length))) {
    // The payload differs from the formula; report a CRC mismatch when the CRC field is wrong too.
    return crc32(payload) === frame.crc32 ? 'content-mismatch' : 'crc-mismatch';
  }
  // The payload equals the expected bytes, so the cached CRC of those bytes is the payload's CRC.
  return pattern.crc(frame.seq, payload.length) === frame.crc32 ? 'ok' : 'crc-mismatch';
}

/** Counters of one received stream. */
export interface ReceiveStats {
  stream: string;
  /** Frames that arrived, valid or not. */
  received: number;
  /** Distinct sequence numbers whose frame passed the checks. */
  verified: number;
  /** Frames the publisher sent that never arrived intact; known only once StreamEnd arrived (0 before). */
  lost: number;
  /** Frames with a lower sequence number than one that arrived earlier. */
  reordered: number;
  /** Valid frames whose sequence number was already verified. */
  duplicated: number;
  /** Frames whose CRC or content did not match, or that belong to another stream. */
  corrupted: number;
  /** True once StreamEnd arrived. */
  done: boolean;
  /** frames_sent from StreamEnd; undefined until it arrives. */
  framesSent: number | undefined;
  /** Milliseconds from the start time given to the receiver to the first verified frame. */
  firstFrameMs: number | undefined;
  /** Milliseconds from the start time given to the receiver to the latest verified frame, for throughput. */
  lastFrameMs: number | undefined;
  /** Largest sent-to-received time of a verified frame, in ms (clocks of one machine). */
  maxLatencyMs: number;
  /** Sum of sent-to-received times of verified frames, in ms, for the mean. */
  totalLatencyMs: number;
}

/** Result of checking and counting one frame. */
export type FrameOutcome = 'verified' | 'duplicate' | 'corrupted';

/** Verifies and counts the frames of one subscribed stream. */
export class StreamReceiver {
  private seen = new Uint8Array(1024);
  private highestSeq = -1;
  private readonly counters: ReceiveStats;

  /** `startedAtMs` is when the session (or screen share) started, for the first-frame latency. */
  constructor(readonly stream: string, private readonly startedAtMs: number) {
    this.counters = {
      stream,
      received: 0,
      verified: 0,
      lost: 0,
      reordered: 0,
      duplicated: 0,
      corrupted: 0,
      done: false,
      framesSent: undefined,
      firstFrameMs: undefined,
      lastFrameMs: undefined,
      maxLatencyMs: 0,
      totalLatencyMs: 0,
    };
  }

  /** Counts one frame and returns what it was. */
  accept(frame: { stream: string; seq: number; sentAtMs: number; crc32: number; payload: Uint8Array }, nowMs = Date.now()): FrameOutcome {
    const stats = this.counters;
    stats.received++;
    if (frame.stream !== this.stream || !Number.isSafeInteger(frame.seq) || frame.seq < 0 || frame.seq > MAX_TRACKED_SEQ || checkFrame(frame) !== 'ok') {
      stats.corrupted++;
      return 'corrupted';
    }

    if (this.hasSeen(frame.seq)) {
      stats.duplicated++;
      return 'duplicate';
    }
    this.markSeen(frame.seq);
    if (frame.seq < this.highestSeq) stats.reordered++;
    this.highestSeq = Math.max(this.highestSeq, frame.seq);

    stats.verified++;
    stats.firstFrameMs ??= nowMs - this.startedAtMs;
    stats.lastFrameMs = nowMs - this.startedAtMs;
    const latencyMs = Math.max(0, nowMs - frame.sentAtMs);
    stats.maxLatencyMs = Math.max(stats.maxLatencyMs, latencyMs);
    stats.totalLatencyMs += latencyMs;
    return 'verified';
  }

  /** Records StreamEnd: every sent frame that was not verified by now counts as lost. */
  end(framesSent: number): void {
    this.counters.done = true;
    this.counters.framesSent = framesSent;
    this.counters.lost = Math.max(0, framesSent - this.counters.verified);
  }

  stats(): ReceiveStats {
    return { ...this.counters };
  }

  private hasSeen(seq: number): boolean {
    const index = seq >>> 3;
    return index < this.seen.length && (this.seen[index]! & (1 << (seq & 7))) !== 0;
  }

  private markSeen(seq: number): void {
    const index = seq >>> 3;
    if (index >= this.seen.length) {
      const grown = new Uint8Array(Math.max(index + 1, this.seen.length * 2));
      grown.set(this.seen);
      this.seen = grown;
    }
    this.seen[index]! |= 1 << (seq & 7);
  }
}
