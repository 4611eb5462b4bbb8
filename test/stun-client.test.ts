import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import t, { type Test } from 'tap';
import { errorCodeAttribute, xorMappedAddressAttribute } from '../src/stun-protocol/attributes.js';
import { decodeStunMessage, encodeStunMessage, type DecodedStunMessage } from '../src/stun-protocol/codec.js';
import { StunClass, StunMethod } from '../src/stun-protocol/constants.js';
import { queryStunBinding, runBindingTransaction, StunErrorResponseError, StunTimeoutError } from '../src/stun-protocol/client.js';
import { StunServer } from '../src/stun-protocol/server.js';
import { silentLogger } from '../src/logging/logger.js';

const SERVER_ADDRESS = '127.31.1.2';
const CLIENT_ADDRESS = '127.31.1.3';
/** Generous deadline for transactions that should succeed, so a loaded machine does not fail them. */
const SUCCESS_TIMEOUT_MS = 10_000;

async function bindUdp(t: Test, address: string, type: 'udp4' | 'udp6' = 'udp4'): Promise<Socket> {
  const socket = createSocket(type);
  socket.bind(0, address);
  await once(socket, 'listening');
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket;
}

async function startServer(t: Test, address = SERVER_ADDRESS): Promise<number> {
  const server = new StunServer({ logger: silentLogger() }, { address, port: 0 });
  const { port } = await server.listen();
  t.teardown(() => server.close());
  return port;
}

/** Returns a UDP port on the address that nothing listens on: bound, then released. */
async function unusedPort(address = SERVER_ADDRESS): Promise<number> {
  const socket = createSocket('udp4');
  socket.bind(0, address);
  await once(socket, 'listening');
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/**
 * Starts a scripted STUN server: `respond` receives each request and its number (1 for the
 * first) and returns the datagrams to send back, none to stay silent.
 */
async function startScriptedServer(
  t: Test,
  respond: (request: DecodedStunMessage, requestNumber: number, remote: RemoteInfo) => Buffer[],
): Promise<{ port: number; requests: DecodedStunMessage[] }> {
  const socket = await bindUdp(t, SERVER_ADDRESS);
  const requests: DecodedStunMessage[] = [];
  socket.on('message', (datagram, remote) => {
    const request = decodeStunMessage(datagram);
    requests.push(request);
    for (const response of respond(request, requests.length, remote)) {
      socket.send(response, remote.port, remote.address);
    }
  });
  return { port: socket.address().port, requests };
}

function successResponse(request: DecodedStunMessage, address: string, port: number, transactionId = request.transactionId): Buffer {
  return encodeStunMessage(
    {
      method: StunMethod.binding,
      messageClass: StunClass.successResponse,
      transactionId,
      attributes: [xorMappedAddressAttribute({ family: 'IPv4', address, port }, transactionId)],
    },
    { fingerprint: true },
  );
}

void t.test('client gets its source address', async (t) => {
  const port = await startServer(t);
  const result = await queryStunBinding({ server: { address: SERVER_ADDRESS, port }, localAddress: CLIENT_ADDRESS, timeoutMs: SUCCESS_TIMEOUT_MS, retries: 3 });
  t.equal(result.family, 'IPv4');
  t.equal(result.address, CLIENT_ADDRESS, 'reflexive address is the bound address');
  t.equal(result.port, result.local.port, 'reflexive port is the bound port');
  t.equal(result.local.address, CLIENT_ADDRESS);
});

void t.test('client binds requested local port', async (t) => {
  const port = await startServer(t);
  const localPort = await unusedPort(CLIENT_ADDRESS);
  const result = await queryStunBinding({
    server: { address: SERVER_ADDRESS, port },
    localAddress: CLIENT_ADDRESS,
    localPort,
    timeoutMs: SUCCESS_TIMEOUT_MS,
    retries: 3,
  });
  t.same({ address: result.address, port: result.port }, { address: CLIENT_ADDRESS, port: localPort });
});

void t.test('client over IPv6 loopback', async (t) => {
  const port = await startServer(t, '::1');
  const result = await queryStunBinding({ server: { address: '::1', port }, localAddress: '::1', timeoutMs: SUCCESS_TIMEOUT_MS, retries: 3 });
  t.equal(result.family, 'IPv6');
  t.equal(result.address, '::1');
  t.equal(result.port, result.local.port);
});

void t.test('client times out without server', async (t) => {
  const port = await unusedPort();
  const startedAt = performance.now();
  const error = await queryStunBinding({
    server: { address: SERVER_ADDRESS, port },
    localAddress: CLIENT_ADDRESS,
    timeoutMs: 1_000,
    retries: 2,
    initialRtoMs: 100,
  }).catch((caught: unknown) => caught);
  t.type(error, StunTimeoutError);
  t.match((error as Error).message, `${SERVER_ADDRESS}:${port}`, 'message names the server');
  t.ok(performance.now() - startedAt >= 990, 'waited for the deadline');
});

void t.test('client retransmits with backoff', async (t) => {
  const { port, requests } = await startScriptedServer(t, () => []);
  const error = await queryStunBinding({
    server: { address: SERVER_ADDRESS, port },
    localAddress: CLIENT_ADDRESS,
    timeoutMs: 4_000,
    retries: 3,
    initialRtoMs: 100,
  }).catch((caught: unknown) => caught);
  t.type(error, StunTimeoutError);
  t.match((error as Error).message, '4 transmissions');
  t.equal(requests.length, 4, 'first request plus 3 retransmissions');
  t.ok(
    requests.every((request) => request.transactionId.equals(requests[0]!.transactionId)),
    'retransmissions reuse the transaction ID',
  );
});

void t.test('client succeeds after lost requests', async (t) => {
  const { port, requests } = await startScriptedServer(t, (request, number, remote) =>
    number < 3 ? [] : [successResponse(request, remote.address, remote.port)],
  );
  const result = await queryStunBinding({
    server: { address: SERVER_ADDRESS, port },
    localAddress: CLIENT_ADDRESS,
    timeoutMs: SUCCESS_TIMEOUT_MS,
    retries: 4,
    initialRtoMs: 100,
  });
  t.equal(result.address, CLIENT_ADDRESS);
  t.equal(requests.length, 3, 'answered on the third request');
});

void t.test('client skips foreign responses', async (t) => {
  const { port } = await startScriptedServer(t, (request, _number, remote) => {
    const otherTransaction = Buffer.from(request.transactionId);
    otherTransaction[0] = (otherTransaction[0] ?? 0) ^ 0xff;
    return [
      Buffer.from('not stun at all'),
      successResponse(request, '127.9.9.9', 9, otherTransaction),
      successResponse(request, remote.address, remote.port),
    ];
  });
  const result = await queryStunBinding({ server: { address: SERVER_ADDRESS, port }, localAddress: CLIENT_ADDRESS, timeoutMs: SUCCESS_TIMEOUT_MS, retries: 0 });
  t.equal(result.address, CLIENT_ADDRESS, 'used the response with the right transaction ID');
});

void t.test('client rejects error response', async (t) => {
  const { port } = await startScriptedServer(t, (request) => [
    encodeStunMessage({
      method: StunMethod.binding,
      messageClass: StunClass.errorResponse,
      transactionId: request.transactionId,
      attributes: [errorCodeAttribute({ code: 420, reason: 'Unknown Attribute' })],
    }),
  ]);
  const error = await queryStunBinding({ server: { address: SERVER_ADDRESS, port }, localAddress: CLIENT_ADDRESS, timeoutMs: SUCCESS_TIMEOUT_MS, retries: 0 }).catch(
    (caught: unknown) => caught,
  );
  t.type(error, StunErrorResponseError);
  t.equal((error as StunErrorResponseError).code, 420);
  t.equal((error as StunErrorResponseError).reason, 'Unknown Attribute');
});

void t.test('client validates its options', async (t) => {
  const base = { localAddress: CLIENT_ADDRESS, timeoutMs: 1_000, retries: 0 };
  await t.rejects(queryStunBinding({ ...base, server: { address: '192.0.2.1', port: 3478 } }), { name: 'TypeError', message: /not a loopback address/ });
  await t.rejects(queryStunBinding({ ...base, server: { address: '::1', port: 3478 } }), { name: 'TypeError', message: /one family/ });
  await t.rejects(queryStunBinding({ ...base, localAddress: 'localhost', server: { address: SERVER_ADDRESS, port: 3478 } }), TypeError);
  await t.rejects(queryStunBinding({ ...base, server: { address: SERVER_ADDRESS, port: 0 } }), RangeError);
  await t.rejects(queryStunBinding({ ...base, retries: -1, server: { address: SERVER_ADDRESS, port: 3478 } }), RangeError);
  await t.rejects(queryStunBinding({ ...base, timeoutMs: 0, server: { address: SERVER_ADDRESS, port: 3478 } }), RangeError);
});

void t.test('client stops on abort', async (t) => {
  const { port } = await startScriptedServer(t, () => []);
  const controller = new AbortController();
  const pending = queryStunBinding({
    server: { address: SERVER_ADDRESS, port },
    localAddress: CLIENT_ADDRESS,
    timeoutMs: SUCCESS_TIMEOUT_MS,
    retries: 2,
    signal: controller.signal,
  });
  controller.abort(new Error('session ended'));
  await t.rejects(pending, { message: 'session ended' });
});

void t.test('transaction on caller socket', async (t) => {
  const port = await startServer(t);
  const socket = await bindUdp(t, CLIENT_ADDRESS);
  const mapped = await runBindingTransaction(socket, { server: { address: SERVER_ADDRESS, port }, timeoutMs: SUCCESS_TIMEOUT_MS, retries: 2 });
  t.same(mapped, { family: 'IPv4', address: CLIENT_ADDRESS, port: socket.address().port });
  t.equal(socket.listenerCount('message'), 0, 'transaction removed its listener');
});
