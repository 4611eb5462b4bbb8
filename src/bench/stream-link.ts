import type { Logger } from '../logging/logger.js';
import type { Channel } from '../net/channel.js';
import { createFrame } from '../client/frames.js';
import type { DecodedEnvelope } from '../protocol/envelope.js';

/** Bytes a benchmark publisher lets queue in its socket before it waits for the queue to drain. */
export const PUBLISHER_HIGH_WATER_BYTES = 4 * 1024 * 1024;

/** Sends `count` frames as fast as the socket takes them, never queueing more than the high-water mark. */
export async function publishFrames(channel: Channel, stream: string, count: number, sizeBytes: number): Promise<void> {
  for (let seq = 0; seq < count; seq += 1) {
    if (channel.bufferedAmount > PUBLISHER_HIGH_WATER_BYTES) {
      await new Promise<void>((resolve) => {
        channel.send({ streamFrame: createFrame(stream, seq, sizeBytes, Date.now(), true) }, () => resolve());
      });
      continue;
    }
    if (!channel.send({ streamFrame: createFrame(stream, seq, sizeBytes, Date.now(), true) })) {
      throw new Error(`publisher channel closed after ${seq} of ${count} frames`);
    }
  }
}

/**
 * Resolves with the time the last of `count` frames arrived on `channel`.
 * Frames are counted, not verified: verification cost belongs to the client,
 * and both paths of a comparison skip it alike.
 */
export function awaitFrames(channel: Channel, count: number, logger: Logger): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let received = 0;
    channel.onMessage((envelope: DecodedEnvelope) => {
      if (envelope.body !== 'streamFrame') return;
      received += 1;
      if (received === count) resolve(performance.now());
    });
    channel.once('close', (close) => {
      if (received < count) {
        logger.warn({ received, count }, 'benchmark subscriber closed early');
        reject(new Error(`subscriber closed (${close.code} ${close.reason}) after ${received} of ${count} frames`));
      }
    });
  });
}
