import { crc32 } from 'node:zlib';
import t from 'tap';
import { checkFrame, createFrame, framePayload, StreamReceiver } from '../src/client/frames.js';

type Frame = { stream: string; seq: number; sentAtMs: number; crc32: number; payload: Uint8Array };

function frame(seq: number, size = 64, stream = 'customer-screen'): Frame {
  return createFrame(stream, seq, size, 1000) as Frame;
}

void t.test('payload follows the formula', (t) => {
  const payload = framePayload(7, 600);
  t.equal(payload.length, 600);
  t.equal(payload[0], (7 * 31) & 0xff);
  t.equal(payload[1], (7 * 31 + 1) & 0xff);
  t.equal(payload[599], (7 * 31 + 599) & 0xff);
  t.end();
});

void t.test('payload of large sequence number', (t) => {
  const seq = 2 ** 40 + 3;
  const payload = framePayload(seq, 4);
  t.equal(payload[0], Number((BigInt(seq) * 31n) & 0xffn));
  t.end();
});

void t.test('frame crc is zlib crc32', (t) => {
  const built = frame(12, 1000);
  t.equal(built.crc32, crc32(Buffer.from(built.payload)));
  t.end();
});

void t.test('frame payload copies are independent', (t) => {
  const first = frame(3);
  first.payload[0] = first.payload[0]! ^ 0xff;
  t.equal(frame(3).payload[0], (3 * 31) & 0xff);
  t.end();
});

void t.test('checkFrame accepts intact frame', (t) => {
  t.equal(checkFrame(frame(5)), 'ok');
  t.end();
});

void t.test('checkFrame detects changed payload', (t) => {
  const damaged = frame(5);
  damaged.payload[10] = damaged.payload[10]! ^ 0x01;
  t.equal(checkFrame(damaged), 'crc-mismatch');
  t.end();
});

void t.test('checkFrame detects content mismatch', (t) => {
  const damaged = frame(5);
  damaged.payload[10] = damaged.payload[10]! ^ 0x01;
  damaged.crc32 = crc32(Buffer.from(damaged.payload));
  t.equal(checkFrame(damaged), 'content-mismatch');
  t.end();
});

void t.test('checkFrame detects wrong crc field', (t) => {
  const damaged = frame(5);
  damaged.crc32 = (damaged.crc32 + 1) >>> 0;
  t.equal(checkFrame(damaged), 'crc-mismatch');
  t.end();
});

void t.test('receiver counts in-order stream', (t) => {
  const receiver = new StreamReceiver('customer-screen', 0);
  for (let seq = 0; seq < 10; seq++) t.equal(receiver.accept(frame(seq), 1005), 'verified');
  receiver.end(10);
  const stats = receiver.stats();
  t.equal(stats.received, 10);
  t.equal(stats.verified, 10);
  t.equal(stats.lost, 0);
  t.equal(stats.reordered, 0);
  t.equal(stats.duplicated, 0);
  t.equal(stats.corrupted, 0);
  t.equal(stats.done, true);
  t.equal(stats.firstFrameMs, 1005);
  t.equal(stats.maxLatencyMs, 5);
  t.end();
});

void t.test('receiver counts corrupted frame', (t) => {
  const receiver = new StreamReceiver('customer-screen', 0);
  const damaged = frame(1);
  damaged.payload[0] = damaged.payload[0]! ^ 0x80;
  receiver.accept(frame(0));
  t.equal(receiver.accept(damaged), 'corrupted');
  receiver.end(2);
  const stats = receiver.stats();
  t.equal(stats.corrupted, 1);
  t.equal(stats.verified, 1);
  t.equal(stats.lost, 1, 'a frame that arrived corrupted was never delivered intact');
  t.end();
});

void t.test('receiver counts frame of another stream as corrupted', (t) => {
  const receiver = new StreamReceiver('customer-screen', 0);
  t.equal(receiver.accept(frame(0, 64, 'rep-screen')), 'corrupted');
  t.equal(receiver.stats().corrupted, 1);
  t.end();
});

void t.test('receiver counts reordering', (t) => {
  const receiver = new StreamReceiver('customer-screen', 0);
  for (const seq of [0, 2, 1, 3]) receiver.accept(frame(seq));
  receiver.end(4);
  const stats = receiver.stats();
  t.equal(stats.reordered, 1);
  t.equal(stats.verified, 4);
  t.equal(stats.lost, 0);
  t.end();
});

void t.test('receiver counts duplicates', (t) => {
  const receiver = new StreamReceiver('customer-screen', 0);
  t.equal(receiver.accept(frame(0)), 'verified');
  t.equal(receiver.accept(frame(0)), 'duplicate');
  receiver.accept(frame(1));
  receiver.end(2);
  const stats = receiver.stats();
  t.equal(stats.duplicated, 1);
  t.equal(stats.verified, 2);
  t.equal(stats.received, 3);
  t.equal(stats.reordered, 0, 'a duplicate is not also counted as reordered');
  t.end();
});

void t.test('receiver counts loss at stream end', (t) => {
  const receiver = new StreamReceiver('customer-screen', 0);
  for (const seq of [0, 1, 4]) receiver.accept(frame(seq));
  t.equal(receiver.stats().lost, 0, 'loss is unknown before StreamEnd');
  receiver.end(6);
  const stats = receiver.stats();
  t.equal(stats.lost, 3);
  t.equal(stats.framesSent, 6);
  t.end();
});

void t.test('receiver tracks large sequence numbers', (t) => {
  const receiver = new StreamReceiver('customer-screen', 0);
  t.equal(receiver.accept(frame(100_000)), 'verified');
  t.equal(receiver.accept(frame(100_000)), 'duplicate');
  t.end();
});

void t.test('receiver rejects negative sequence number', (t) => {
  const receiver = new StreamReceiver('customer-screen', 0);
  t.equal(receiver.accept({ ...frame(0), seq: -1 }), 'corrupted');
  t.end();
});
