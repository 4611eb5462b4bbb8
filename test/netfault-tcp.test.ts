import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';

import { silentLogger } from '../src/logging/logger.js';
import { normalizeIp } from '../src/netfault/address.js';
import { FaultTable } from '../src/netfault/fault-table.js';
import { TcpProxy } from '../src/netfault/tcp-proxy.js';

const PROXY_ADDRESS = '127.77.1.1';
const SERVER_ADDRESS = '127.77.1.10';
const CLIENT_ADDRESS = '127.77.1.20';
const OTHER_CLIENT_ADDRESS = '127.77.1.21';
/** Generous wait for bytes that should arrive, so a loaded machine does not fail the test. */
const ARRIVAL_WAIT_MS = 10_000;
/** Wait that shows bytes do not arrive: many loopback round trips. */
const SILENCE_WAIT_MS = 400;

/** Collects every byte a socket receives and lets a test wait for a byte count. */
class ByteCollector {
  length = 0;
  ended = false;
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  private waiters: (() => void)[] = [];
  private chunks: Buffer[] = [];

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.error = error;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Every byte received so far. */
  get data(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Resolves true once the condition holds, false after waitMs. */
  async until(condition: () => boolean, waitMs = ARRIVAL_WAIT_MS): Promise<boolean> {
    const deadline = performance.now() + waitMs;
    while (!condition()) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  async bytes(count: number, waitMs?: number): Promise<boolean> {
    return this.until(() => this.length >= count, waitMs);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

interface TestServer {
  port: number;
  /** Server side of each accepted connection, in accept order. */
  accepted: ByteCollector[];
  nextAccepted(): Promise<ByteCollector>;
}

/** Starts a server on SERVER_ADDRESS; `onSocket` sets the behaviour (echo by default). */
async function startServer(t: Test, onSocket: (socket: Socket) => void = (socket) => socket.pipe(socket)): Promise<TestServer> {
  const accepted: ByteCollector[] = [];
  const sockets = new Set<Socket>();
  let notify: (() => void) | undefined;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    accepted.push(new ByteCollector(socket));
    onSocket(socket);
    notify?.();
  });
  server.listen(0, SERVER_ADDRESS);
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no address');
  let consumed = 0;
  return {
    port: address.port,
    accepted,
    nextAccepted: async () => {
      while (accepted.length <= consumed) {
        await new Promise<void>((resolve) => {
          notify = resolve;
        });
      }
      return accepted[consumed++] as ByteCollector;
    },
  };
}

async function startProxy(t: Test, targetPort: number, faults: FaultTable, preserveSource = true, maxQueuedBytes?: number): Promise<{ proxy: TcpProxy; port: number }> {
  const proxy = new TcpProxy({ logger: silentLogger() }, { listen: { address: PROXY_ADDRESS, port: 0 }, target: { address: SERVER_ADDRESS, port: targetPort }, preserveSource, faults, seed: 7, maxQueuedBytes });
  const { port } = await proxy.listen();
  t.teardown(() => proxy.close());
  return { proxy, port };
}

async function connectClient(t: Test, port: number, localAddress = CLIENT_ADDRESS): Promise<ByteCollector> {
  const socket = connect({ host: PROXY_ADDRESS, port, localAddress, noDelay: true });
  const collector = new ByteCollector(socket);
  t.teardown(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  return collector;
}

/** Writes a message and measures the time until the echo of all of it arrived, in milliseconds. */
async function timeEcho(client: ByteCollector, message: Buffer): Promise<number> {
  const start = performance.now();
  const expected = client.length + message.length;
  client.socket.write(message);
  const arrived = await client.bytes(expected);
  if (!arrived) throw new Error(`echo of ${message.length} bytes did not arrive within ${ARRIVAL_WAIT_MS} ms`);
  return performance.now() - start;
}

function reportRemoteAddress(socket: Socket): void {
  socket.end(`${socket.remoteAddress}\n`);
}

void t.test('normalizeIp unwraps IPv4-mapped addresses', (t) => {
  t.equal(normalizeIp('::ffff:127.20.0.5'), '127.20.0.5');
  t.equal(normalizeIp('::FFFF:7f14:5'), '127.20.0.5');
  t.equal(normalizeIp('127.0.0.1'), '127.0.0.1');
  t.equal(normalizeIp('::1'), '::1');
  t.throws(() => normalizeIp('localhost'), /not an IP address/);
  t.end();
});

void t.test('tcp proxy preserves source IP', async (t) => {
  const server = await startServer(t, reportRemoteAddress);
  const { port } = await startProxy(t, server.port, new FaultTable());
  const client = await connectClient(t, port);
  t.ok(await client.until(() => client.ended), 'server reply ends');
  t.equal(client.data.toString().trim(), CLIENT_ADDRESS);
});

void t.test('tcp proxy without preserveSource', async (t) => {
  const server = await startServer(t, reportRemoteAddress);
  const { port } = await startProxy(t, server.port, new FaultTable(), false);
  const client = await connectClient(t, port);
  t.ok(await client.until(() => client.ended), 'server reply ends');
  t.not(client.data.toString().trim(), CLIENT_ADDRESS);
});

void t.test('tcp proxy counts bytes and connections', async (t) => {
  const server = await startServer(t);
  const { proxy, port } = await startProxy(t, server.port, new FaultTable());
  const client = await connectClient(t, port);
  await timeEcho(client, Buffer.from('hello'));
  const counters = proxy.counters();
  t.equal(counters.connections, 1);
  t.equal(counters.openConnections, 1);
  t.equal(counters.bytesUp, 5);
  t.equal(counters.bytesDown, 5);
  t.equal(counters.droppedBytes, 0);
});

void t.test('tcp delay adds latency, keeps order', async (t) => {
  const faults = new FaultTable();
  const server = await startServer(t);
  const { port } = await startProxy(t, server.port, faults);
  const client = await connectClient(t, port);

  faults.add({ from: CLIENT_ADDRESS, direction: 'up', kind: 'delay', params: { delayMs: 150 } });
  const elapsed = await timeEcho(client, Buffer.from('ping'));
  t.ok(elapsed >= 150, `echo took ${elapsed.toFixed(1)} ms, expected at least 150 ms`);

  faults.healAll();
  faults.add({ from: CLIENT_ADDRESS, direction: 'both', kind: 'delay', params: { delayMs: 20, jitterMs: 20 } });
  const message = Buffer.alloc(200 * 1024);
  for (let i = 0; i < message.length; i += 4) message.writeUInt32BE(i / 4, i);
  const before = client.length;
  for (let offset = 0; offset < message.length; offset += 1024) {
    client.socket.write(message.subarray(offset, offset + 1024));
    if (offset % (16 * 1024) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  t.ok(await client.bytes(before + message.length), 'every byte echoed');
  t.ok(client.data.subarray(before).equals(message), 'bytes arrive in the order sent');
});

void t.test('tcp delay applies to other clients only when matched', async (t) => {
  const faults = new FaultTable();
  const server = await startServer(t);
  const { port } = await startProxy(t, server.port, faults);
  faults.add({ from: OTHER_CLIENT_ADDRESS, direction: 'both', kind: 'delay', params: { delayMs: 2_000 } });
  const client = await connectClient(t, port);
  const elapsed = await timeEcho(client, Buffer.from('fast'));
  t.ok(elapsed < 1_500, `unmatched client echo took ${elapsed.toFixed(1)} ms, expected well below the 2000 ms delay`);
});

void t.test('tcp jitter stays within bounds', async (t) => {
  const faults = new FaultTable();
  const server = await startServer(t);
  const { port } = await startProxy(t, server.port, faults);
  const client = await connectClient(t, port);
  faults.add({ from: CLIENT_ADDRESS, direction: 'down', kind: 'delay', params: { delayMs: 80, jitterMs: 40 } });

  const samples: number[] = [];
  for (let i = 0; i < 15; i++) samples.push(await timeEcho(client, Buffer.from(`m${i}`)));
  const min = Math.min(...samples);
  const max = Math.max(...samples);
  t.ok(min >= 40, `fastest echo took ${min.toFixed(1)} ms, expected at least delay - jitter = 40 ms`);
  t.ok(max < 80 + 40 + 2_000, `slowest echo took ${max.toFixed(1)} ms, expected below 2120 ms`);
  t.ok(max - min > 5, `echo times spread over ${(max - min).toFixed(1)} ms, expected jitter to vary them`);
});

void t.test('tcp bandwidth cap limits throughput', async (t) => {
  const faults = new FaultTable();
  const server = await startServer(t, () => undefined);
  const { port } = await startProxy(t, server.port, faults);
  const capBytesPerSecond = 256 * 1024;
  faults.add({ from: CLIENT_ADDRESS, direction: 'up', kind: 'bandwidth', params: { bytesPerSecond: capBytesPerSecond } });
  const client = await connectClient(t, port);
  const upstream = await server.nextAccepted();

  const total = 512 * 1024;
  const start = performance.now();
  client.socket.write(Buffer.alloc(total, 1));
  t.ok(await upstream.bytes(total, 20_000), 'all bytes arrive');
  const seconds = (performance.now() - start) / 1000;
  const rate = total / seconds;
  t.ok(rate <= capBytesPerSecond * 1.15, `throughput ${Math.round(rate)} B/s, cap ${capBytesPerSecond} B/s`);
});

void t.test('tcp blackhole drops bytes, heal resumes', async (t) => {
  const faults = new FaultTable();
  const server = await startServer(t);
  const { proxy, port } = await startProxy(t, server.port, faults);
  const client = await connectClient(t, port);
  const upstream = await server.nextAccepted();
  await timeEcho(client, Buffer.from('a'));

  const rule = faults.add({ from: CLIENT_ADDRESS, direction: 'both', kind: 'blackhole' });
  client.socket.write('lost');
  t.notOk(await upstream.bytes(5, SILENCE_WAIT_MS), 'server receives nothing');
  t.equal(client.data.toString(), 'a');
  t.equal(proxy.counters().droppedBytesUp, 4);
  t.notOk(client.closed, 'client socket stays open');
  t.notOk(upstream.closed, 'server socket stays open');

  faults.remove(rule.id);
  await timeEcho(client, Buffer.from('b'));
  t.equal(client.data.toString(), 'ab');
});

void t.test('tcp blackhole holds FIN, half-open', async (t) => {
  const faults = new FaultTable();
  const server = await startServer(t, () => undefined);
  const { port } = await startProxy(t, server.port, faults);
  const client = await connectClient(t, port);
  const upstream = await server.nextAccepted();

  const rule = faults.add({ from: CLIENT_ADDRESS, direction: 'up', kind: 'blackhole' });
  client.socket.end();
  t.notOk(await upstream.until(() => upstream.ended, SILENCE_WAIT_MS), 'server sees no FIN while blackholed');
  t.notOk(upstream.closed, 'server socket stays open');

  faults.remove(rule.id);
  t.ok(await upstream.until(() => upstream.ended), 'server sees the FIN after heal');
});

void t.test('tcp reset closes both ends', async (t) => {
  const faults = new FaultTable();
  const server = await startServer(t);
  const { proxy, port } = await startProxy(t, server.port, faults);
  const client = await connectClient(t, port);
  const upstream = await server.nextAccepted();
  await timeEcho(client, Buffer.from('x'));

  const rule = faults.add({ from: CLIENT_ADDRESS, direction: 'both', kind: 'reset' });
  t.ok(await client.until(() => client.closed), 'client socket closes');
  t.ok(await upstream.until(() => upstream.closed), 'server socket closes');
  t.equal(client.error?.code, 'ECONNRESET');
  t.equal(upstream.error?.code, 'ECONNRESET');

  const rejected = connect({ host: PROXY_ADDRESS, port, localAddress: CLIENT_ADDRESS });
  const rejectedCollector = new ByteCollector(rejected);
  t.teardown(() => {
    rejected.destroy();
  });
  t.ok(await rejectedCollector.until(() => rejectedCollector.closed), 'new connection closes while reset is in force');
  t.equal(rejectedCollector.error?.code, 'ECONNRESET');
  t.equal(proxy.counters().resets, 2);

  faults.remove(rule.id);
  const healed = await connectClient(t, port);
  await timeEcho(healed, Buffer.from('ok'));
  t.equal(healed.data.toString(), 'ok');
});

void t.test('tcp server RST reaches the client', async (t) => {
  const server = await startServer(t, (socket) => {
    socket.once('data', () => socket.resetAndDestroy());
  });
  const { port } = await startProxy(t, server.port, new FaultTable());
  const client = await connectClient(t, port);
  client.socket.write('bye');
  t.ok(await client.until(() => client.closed), 'client socket closes');
  t.equal(client.error?.code, 'ECONNRESET');
});

void t.test('tcp FIN crosses both ways', async (t) => {
  const server = await startServer(t, (socket) => {
    socket.on('end', () => socket.end('done'));
  });
  const { proxy, port } = await startProxy(t, server.port, new FaultTable());
  const client = await connectClient(t, port);
  client.socket.end('req');
  t.ok(await client.until(() => client.ended), 'client sees the server FIN');
  t.equal(client.data.toString(), 'done');
  t.ok(await client.until(() => client.closed), 'client socket closes');
  t.equal(client.error, undefined);
  const drained = await client.until(() => proxy.counters().openConnections === 0);
  t.ok(drained, 'proxy forgets the closed connection');
});

/** Writes until the socket's buffer stays full for stallMs; returns the bytes the socket flushed to the kernel. */
async function writeUntilStalled(socket: Socket, limit: number, stallMs: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 2);
  let written = 0;
  while (written < limit) {
    written += chunk.length;
    if (!socket.write(chunk)) {
      const drained = await Promise.race([once(socket, 'drain').then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), stallMs))]);
      if (!drained) return written - socket.writableLength;
    }
  }
  return written - socket.writableLength;
}

for (const path of ['fast path', 'slow path'] as const) {
  void t.test(`tcp backpressure on the ${path}`, async (t) => {
    const faults = new FaultTable();
    if (path === 'slow path') faults.add({ from: CLIENT_ADDRESS, direction: 'up', kind: 'delay', params: { delayMs: 0 } });
    const server = await startServer(t, (socket) => socket.pause());
    const { port } = await startProxy(t, server.port, faults);
    const client = await connectClient(t, port);
    const upstream = await server.nextAccepted();

    const limit = 128 * 1024 * 1024;
    const flushed = await writeUntilStalled(client.socket, limit, 1_000);
    t.ok(flushed < limit, `client flushed ${flushed} bytes before stalling, expected the proxy to stop reading before ${limit}`);

    const sent = flushed + client.socket.writableLength;
    upstream.socket.resume();
    t.ok(await upstream.bytes(sent, 30_000), 'every byte arrives after the server reads again');
    t.equal(upstream.length, sent);
  });
}

void t.test('tcp delay queue stays bounded', async (t) => {
  const faults = new FaultTable();
  faults.add({ from: CLIENT_ADDRESS, direction: 'up', kind: 'delay', params: { delayMs: 300 } });
  const server = await startServer(t, () => undefined);
  const maxQueuedBytes = 1024 * 1024;
  const { proxy, port } = await startProxy(t, server.port, faults, true, maxQueuedBytes);
  const client = await connectClient(t, port);
  const upstream = await server.nextAccepted();

  let maxHeld = 0;
  const sampler = setInterval(() => {
    maxHeld = Math.max(maxHeld, proxy.counters().heldBytes);
  }, 5);
  t.teardown(() => clearInterval(sampler));
  const total = 8 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 3);
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!client.socket.write(chunk)) await once(client.socket, 'drain');
  }
  t.ok(await upstream.bytes(total, 60_000), 'every byte arrives');
  clearInterval(sampler);
  t.ok(maxHeld > 0, `proxy held ${maxHeld} bytes at most`);
  t.ok(maxHeld <= maxQueuedBytes + 64 * 1024, `held at most ${maxHeld} bytes, limit ${maxQueuedBytes} plus one read`);
});
