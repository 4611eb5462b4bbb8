import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { CLOSE_PROTOCOL_ERROR, encodeEnvelope } from '../src/protocol/envelope.js';
import { ErrorCode, Role, StreamDirection } from '../src/protocol/messages.js';
import {
  WAIT_MS,
  closeOf,
  clusterConfig,
  joinAsMaster,
  joinWithTicket,
  pushConfig,
  startTrafficNode,
  ticketFields,
  type Inbox,
  type NodeHandle,
} from './fixtures/traffic-harness.js';
import type { TicketFields } from '../src/protocol/tickets.js';

const FRAME_BYTES = 64 * 1024;
const STREAM = 'customer-screen';

/** Frame `seq` as the protocol defines it: byte i is (seq * 31 + i) & 0xff. */
function framePayload(seq: number): Buffer {
  const payload = Buffer.allocUnsafe(FRAME_BYTES);
  for (let i = 0; i < FRAME_BYTES; i++) payload[i] = (seq * 31 + i) & 0xff;
  return payload;
}

/** Encoded StreamFrame envelopes 0..count-1, as the publisher sends them. */
function encodeFrames(count: number): Buffer[] {
  const frames: Buffer[] = [];
  for (let seq = 0; seq < count; seq++) {
    frames.push(Buffer.from(encodeEnvelope({ streamFrame: { stream: STREAM, seq, sentAtMs: Date.now(), payload: framePayload(seq) } })));
  }
  return frames;
}

/** Counts frames a subscriber receives and compares each one with the bytes the publisher sent. */
class FrameCounter {
  received = 0;
  outOfOrder = 0;
  mismatched = 0;
  framesSentAtEnd: number | undefined;
  readonly ended: Promise<void>;

  constructor(inbox: Inbox, expected: Buffer[]) {
    let markEnded: () => void = () => undefined;
    this.ended = new Promise((resolve) => {
      markEnded = resolve;
    });
    inbox.channel.onMessage((envelope, raw) => {
      if (envelope.body === 'streamEnd') {
        this.framesSentAtEnd = envelope.streamEnd?.framesSent ?? 0;
        markEnded();
        return;
      }
      if (envelope.body !== 'streamFrame') return;
      const seq = envelope.streamFrame?.seq ?? -1;
      if (seq !== this.received) this.outOfOrder++;
      if (!raw.equals(expected[seq] ?? Buffer.alloc(0))) this.mismatched++;
      this.received++;
    });
  }
}

async function withTimeout<T>(promise: Promise<T>, what: string, timeoutMs = WAIT_MS * 3): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Session {
  node: NodeHandle;
  sessionKey: Buffer;
  fields: (direction: StreamDirection, overrides?: Partial<TicketFields>) => TicketFields;
}

async function startSession(t: Test): Promise<Session> {
  const node = await startTrafficNode(t);
  const sessionKey = randomBytes(32);
  const master = await joinAsMaster(node);
  await pushConfig(master, clusterConfig(node, 1, sessionKey));
  const sessionId = `session-${randomBytes(4).toString('hex')}`;
  return {
    node,
    sessionKey,
    fields: (direction, overrides = {}) => ticketFields(node, { sessionId, stream: STREAM, direction, ...overrides }),
  };
}

void t.test('relay', async (t) => {
  const session = await startSession(t);
  const { node, sessionKey } = session;
  const publish = (): TicketFields => session.fields(StreamDirection.DIRECTION_PUBLISH);
  const subscribe = (participantId: string): TicketFields =>
    session.fields(StreamDirection.DIRECTION_SUBSCRIBE, { participantId, role: Role.ROLE_REPRESENTATIVE });

  await t.test('publisher to two subscribers delivers every byte in order', async (t) => {
    const frames = encodeFrames(500);
    const first = await joinWithTicket(node, sessionKey, subscribe('rep-1'), 'sub-1');
    const second = await joinWithTicket(node, sessionKey, subscribe('rep-2'), 'sub-2');
    const publisher = await joinWithTicket(node, sessionKey, publish(), 'pub-1');
    const demand = await publisher.next('streamDemand');
    t.equal(demand.streamDemand?.subscribers, 2, 'publisher joining after subscribers is told 2');

    const counters = [new FrameCounter(first, frames), new FrameCounter(second, frames)];
    const startedMs = Date.now();
    for (const frame of frames) publisher.channel.sendRaw(frame);
    publisher.channel.send({ streamEnd: { stream: STREAM, framesSent: frames.length } });
    await withTimeout(Promise.all(counters.map((counter) => counter.ended)), 'relaying 500 frames');
    const elapsedMs = Date.now() - startedMs;
    t.comment(`relayed ${(frames.length * FRAME_BYTES) / 2 ** 20} MiB to 2 subscribers in ${elapsedMs} ms`);

    counters.forEach((counter, index) => {
      t.equal(counter.received, 500, `subscriber ${index + 1} received every frame`);
      t.equal(counter.outOfOrder, 0, `subscriber ${index + 1} saw no reordering`);
      t.equal(counter.mismatched, 0, `subscriber ${index + 1} got the publisher's bytes unchanged`);
      t.equal(counter.framesSentAtEnd, 500, `subscriber ${index + 1} got StreamEnd`);
    });

    second.channel.close();
    await closeOf(second);
    const afterLeave = await publisher.next('streamDemand');
    t.equal(afterLeave.streamDemand?.subscribers, 1, 'publisher told when a subscriber leaves');
    for (const inbox of [first, publisher]) inbox.channel.close();
    await Promise.all([closeOf(first), closeOf(publisher)]);
  });

  await t.test('subscriber joining after the publisher raises demand', async (t) => {
    const publisher = await joinWithTicket(node, sessionKey, publish(), 'pub-2');
    t.equal((await publisher.next('streamDemand')).streamDemand?.subscribers, 0, 'no subscribers at first');
    const subscriber = await joinWithTicket(node, sessionKey, subscribe('rep-3'), 'sub-3');
    t.equal((await publisher.next('streamDemand')).streamDemand?.subscribers, 1, 'one subscriber after it joins');

    await t.test('frame from a subscriber is rejected', async (t) => {
      subscriber.channel.send({ streamFrame: { stream: STREAM, seq: 0, payload: Buffer.alloc(8) } });
      const error = await subscriber.next('error');
      t.equal(error.error?.code, ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'error code');
      t.equal((await closeOf(subscriber)).code, CLOSE_PROTOCOL_ERROR, 'close code');
    });

    await t.test('frame for another stream is rejected', async (t) => {
      publisher.channel.send({ streamFrame: { stream: 'rep-screen', seq: 0, payload: Buffer.alloc(8) } });
      const error = await publisher.next('error');
      t.equal(error.error?.code, ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'error code');
      t.equal((await closeOf(publisher)).code, CLOSE_PROTOCOL_ERROR, 'close code');
    });
  });

  await t.test('slow subscriber pauses the publisher without loss', async (t) => {
    const count = 1000;
    const frames = encodeFrames(count);
    const fast = await joinWithTicket(node, sessionKey, subscribe('rep-4'), 'fast');
    const slow = await joinWithTicket(node, sessionKey, subscribe('rep-5'), 'slow');
    const publisher = await joinWithTicket(node, sessionKey, publish(), 'pub-3');
    await publisher.next('streamDemand');
    const counters = [new FrameCounter(fast, frames), new FrameCounter(slow, frames)];

    // The slow subscriber stops reading. Once the node's send buffer to it
    // passes the high water mark, the node must stop reading from the publisher.
    slow.channel.ws.pause();
    for (const frame of frames) publisher.channel.sendRaw(frame);
    publisher.channel.send({ streamEnd: { stream: STREAM, framesSent: count } });

    let previous = -1;
    while (counters[0]?.received !== previous) {
      previous = counters[0]?.received ?? 0;
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    t.ok(previous < count, `fast subscriber stalls while the slow one lags (${previous} of ${count} frames)`);
    t.ok(publisher.channel.bufferedAmount > 0, 'publisher data waits unsent');

    slow.channel.ws.resume();
    await withTimeout(Promise.all(counters.map((counter) => counter.ended)), 'relaying after resume');
    counters.forEach((counter, index) => {
      t.equal(counter.received, count, `subscriber ${index + 1} received every frame`);
      t.equal(counter.outOfOrder, 0, `subscriber ${index + 1} saw no reordering`);
      t.equal(counter.mismatched, 0, `subscriber ${index + 1} got the publisher's bytes unchanged`);
    });
    for (const inbox of [fast, slow, publisher]) inbox.channel.close();
    await Promise.all([closeOf(fast), closeOf(slow), closeOf(publisher)]);
  });
});
