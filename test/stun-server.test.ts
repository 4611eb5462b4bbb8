import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { decodeErrorCode, decodeText, decodeUnknownAttributes, decodeXorMappedAddress, softwareAttribute } from '../src/stun-protocol/attributes.js';
import { decodeStunMessage, encodeStunMessage, findAttribute, type DecodedStunMessage, type StunAttribute } from '../src/stun-protocol/codec.js';
import { StunAttributeType, StunClass, StunMethod } from '../src/stun-protocol/constants.js';
import { verifyFingerprint } from '../src/stun-protocol/integrity.js';
import { DEFAULT_STUN_SOFTWARE, StunServer, type StunServerCounters } from '../src/stun-protocol/server.js';
import { silentLogger } from '../src/logging/logger.js';

const SERVER_ADDRESS = '127.31.0.2';
const CLIENT_ADDRESS = '127.31.0.3';
/** Generous wait for one datagram on loopback, so a loaded machine does not fail the test. */
const RESPONSE_WAIT_MS = 5_000;
/** Wait that proves no response comes: much longer than a loopback round trip. */
const SILENCE_WAIT_MS = 300;

/** A UDP socket bound on CLIENT_ADDRESS that queues every datagram it receives. */
class TestPeer {
  private readonly queue: Buffer[] = [];
  private waiter: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('message', (datagram) => {
      this.queue.push(datagram);
      this.waiter?.();
    });
  }

  static async open(): Promise<TestPeer> {
    const socket = createSocket('udp4');
    socket.bind(0, CLIENT_ADDRESS);
    await once(socket, 'listening');
    return new TestPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  async send(bytes: Buffer, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => this.socket.send(bytes, port, SERVER_ADDRESS, (error) => (error ? reject(error) : resolve())));
  }

  /** Resolves with the next datagram, or undefined when none arrives within waitMs. */
  async receive(waitMs: number): Promise<Buffer | undefined> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift();
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

function bindingRequest(attributes: StunAttribute[] = [], transactionId = randomBytes(12)): Buffer {
  return encodeStunMessage({ method: StunMethod.binding, messageClass: StunClass.request, transactionId, attributes }, { fingerprint: true });
}

async function startServer(t: Test, software?: string): Promise<{ server: StunServer; port: number }> {
  const server = new StunServer({ logger: silentLogger() }, { address: SERVER_ADDRESS, port: 0, software });
  const bound = await server.listen();
  t.teardown(() => server.close());
  return { server, port: bound.port };
}

async function openPeer(t: Test): Promise<TestPeer> {
  const peer = await TestPeer.open();
  t.teardown(() => peer.close());
  return peer;
}

/** Sends a request and decodes the response; fails the test when none arrives. */
async function exchange(t: Test, peer: TestPeer, port: number, request: Buffer): Promise<DecodedStunMessage> {
  await peer.send(request, port);
  const response = await peer.receive(RESPONSE_WAIT_MS);
  if (response === undefined) {
    throw new Error(`no response from the STUN server at ${SERVER_ADDRESS}:${port} within ${RESPONSE_WAIT_MS} ms`);
  }
  return decodeStunMessage(response);
}

async function waitForCounter(server: StunServer, name: keyof StunServerCounters, expected: number): Promise<number> {
  const deadline = performance.now() + RESPONSE_WAIT_MS;
  while (server.counters[name] < expected && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return server.counters[name];
}

void t.test('server answers binding request', async (t) => {
  const { server, port } = await startServer(t);
  const peer = await openPeer(t);
  const request = bindingRequest();
  const response = await exchange(t, peer, port, request);

  t.equal(response.messageClass, StunClass.successResponse);
  t.equal(response.method, StunMethod.binding);
  t.same(response.transactionId, decodeStunMessage(request).transactionId, 'same transaction ID');
  const mapped = decodeXorMappedAddress(findAttribute(response, StunAttributeType.xorMappedAddress)!, response.transactionId);
  t.same(mapped, { family: 'IPv4', address: CLIENT_ADDRESS, port: peer.port }, 'XOR-MAPPED-ADDRESS is the source address');
  t.equal(decodeText(findAttribute(response, StunAttributeType.software)!), DEFAULT_STUN_SOFTWARE);
  t.ok(verifyFingerprint(response), 'FINGERPRINT verifies');
  t.equal(response.attributes.at(-1)?.type, StunAttributeType.fingerprint, 'FINGERPRINT is last');
  t.same(server.counters, { answered: 1, errorResponses: 0, malformed: 0, ignored: 0, errors: 0 });
});

void t.test('server uses configured software', async (t) => {
  const { port } = await startServer(t, 'test-suite 1.0');
  const peer = await openPeer(t);
  const response = await exchange(t, peer, port, bindingRequest());
  t.equal(decodeText(findAttribute(response, StunAttributeType.software)!), 'test-suite 1.0');
});

void t.test('server drops malformed packets', async (t) => {
  const { server, port } = await startServer(t);
  const peer = await openPeer(t);
  const good = bindingRequest([softwareAttribute('abc')]);
  const mutate = (change: (bytes: Buffer) => void): Buffer => {
    const bytes = Buffer.from(good);
    change(bytes);
    return bytes;
  };
  const badFingerprint = mutate((bytes) => (bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff));
  const malformed: Array<[string, Buffer]> = [
    ['empty datagram', Buffer.alloc(0)],
    ['short header', good.subarray(0, 12)],
    ['bad cookie', mutate((bytes) => bytes.writeUInt32BE(0xdeadbeef, 4))],
    ['length not multiple of 4', mutate((bytes) => bytes.writeUInt16BE(good.length - 20 - 2, 2))],
    ['attribute overrun', mutate((bytes) => bytes.writeUInt16BE(200, 22))],
    ['truncated', good.subarray(0, good.length - 8)],
    ['bad fingerprint', badFingerprint],
    ['random bytes', Buffer.from('7b00ff00a1b2c3d4e5f60718293a4b5c6d7e8f90aa', 'hex')],
  ];
  for (const [, bytes] of malformed) {
    await peer.send(bytes, port);
  }

  t.equal(await waitForCounter(server, 'malformed', malformed.length), malformed.length, 'every malformed packet counted');
  t.equal(await peer.receive(SILENCE_WAIT_MS), undefined, 'no response to malformed packets');
  const response = await exchange(t, peer, port, good);
  t.equal(response.messageClass, StunClass.successResponse, 'a good request is still answered');
  t.equal(server.counters.answered, 1);
  t.equal(server.counters.errors, 0);
});

void t.test('server ignores unknown optional attribute', async (t) => {
  const { server, port } = await startServer(t);
  const peer = await openPeer(t);
  const response = await exchange(t, peer, port, bindingRequest([{ type: 0xc0de, value: Buffer.from('ignored') }]));
  t.equal(response.messageClass, StunClass.successResponse);
  t.equal(server.counters.errorResponses, 0);
});

void t.test('server rejects unknown required attribute', async (t) => {
  const { server, port } = await startServer(t);
  const peer = await openPeer(t);
  const request = bindingRequest([
    { type: 0x7abc, value: Buffer.from([1, 2, 3]) },
    { type: StunAttributeType.username, value: Buffer.from('known') },
    { type: 0x0031, value: Buffer.alloc(0) },
  ]);
  const response = await exchange(t, peer, port, request);

  t.equal(response.messageClass, StunClass.errorResponse);
  t.same(decodeErrorCode(findAttribute(response, StunAttributeType.errorCode)!).code, 420);
  t.same(decodeUnknownAttributes(findAttribute(response, StunAttributeType.unknownAttributes)!), [0x7abc, 0x0031]);
  t.ok(verifyFingerprint(response), 'FINGERPRINT verifies');
  t.equal(server.counters.errorResponses, 1);
});

void t.test('server rejects unknown method', async (t) => {
  const { port } = await startServer(t);
  const peer = await openPeer(t);
  const request = encodeStunMessage({ method: 0x003, messageClass: StunClass.request, transactionId: randomBytes(12), attributes: [] });
  const response = await exchange(t, peer, port, request);
  t.equal(response.messageClass, StunClass.errorResponse);
  t.equal(response.method, 0x003);
  t.equal(decodeErrorCode(findAttribute(response, StunAttributeType.errorCode)!).code, 400);
});

void t.test('server ignores indications', async (t) => {
  const { server, port } = await startServer(t);
  const peer = await openPeer(t);
  const indication = encodeStunMessage({ method: StunMethod.binding, messageClass: StunClass.indication, transactionId: randomBytes(12), attributes: [] });
  await peer.send(indication, port);
  t.equal(await waitForCounter(server, 'ignored', 1), 1, 'indication counted as ignored');
  t.equal(await peer.receive(SILENCE_WAIT_MS), undefined, 'no response to an indication');
});

void t.test('server listen rejects busy port', async (t) => {
  const { port } = await startServer(t);
  const second = new StunServer({ logger: silentLogger() }, { address: SERVER_ADDRESS, port });
  await t.rejects(second.listen(), { code: 'EADDRINUSE' });
  await second.close();
});

void t.test('server constructor validates options', (t) => {
  t.throws(() => new StunServer({ logger: silentLogger() }, { address: 'localhost', port: 0 }), TypeError);
  t.throws(() => new StunServer({ logger: silentLogger() }, { address: SERVER_ADDRESS, port: 70000 }), RangeError);
  t.throws(() => new StunServer({ logger: silentLogger() }, { address: SERVER_ADDRESS, port: 0, software: 'x'.repeat(200) }), RangeError);
  t.end();
});
