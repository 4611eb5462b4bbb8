import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';

import { silentLogger } from '../src/logging/logger.js';
import { FaultTable } from '../src/netfault/fault-table.js';
import { UdpProxy } from '../src/netfault/udp-proxy.js';

const PROXY_ADDRESS = '127.77.2.1';
const SERVER_ADDRESS = '127.77.2.10';
const CLIENT_ADDRESS = '127.77.2.20';
/** Generous wait for datagrams that should arrive, so a loaded machine does not fail the test. */
const ARRIVAL_WAIT_MS = 10_000;
/** Wait that shows datagrams do not arrive: many loopback round trips. */
const SILENCE_WAIT_MS = 400;

/** A UDP socket that records every datagram it receives. */
class Peer {
  readonly received: { data: Buffer; from: RemoteInfo; atMs: number }[] = [];
  private waiter: (() => void) | undefined;

  constructor(readonly socket: Socket) {
    socket.on('message', (data, from) => {
      this.received.push({ data, from, atMs: performance.now() });
      this.waiter?.();
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  async send(data: Buffer | string, port: number, address: string): Promise<void> {
    await new Promise<void>((resolve, reject) => this.socket.send(data, port, address, (error) => (error ? reject(error) : resolve())));
  }

  /** Resolves true once `count` datagrams have arrived, false after waitMs. */
  async waitFor(count: number, waitMs = ARRIVAL_WAIT_MS): Promise<boolean> {
    const deadline = performance.now() + waitMs;
    while (this.received.length < count) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return true;
  }
}

/** Polls a condition every 10 ms; resolves false when it does not hold within waitMs. */
async function waitUntil(condition: () => boolean, waitMs = ARRIVAL_WAIT_MS): Promise<boolean> {
  const deadline = performance.now() + waitMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

async function openPeer(t: Test, address: string): Promise<Peer> {
  const socket = createSocket('udp4');
  socket.bind(0, address);
  await once(socket, 'listening');
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return new Peer(socket);
}

/** Echo server that replies to each datagram with `<sender ip> <payload>`. */
async function startEchoServer(t: Test): Promise<Peer> {
  const server = await openPeer(t, SERVER_ADDRESS);
  server.socket.on('message', (data, from) => {
    server.socket.send(Buffer.concat([Buffer.from(`${from.address} `), data]), from.port, from.address);
  });
  return server;
}

async function startProxy(t: Test, targetPort: number, faults: FaultTable): Promise<{ proxy: UdpProxy; port: number }> {
  const proxy = new UdpProxy({ logger: silentLogger() }, { listen: { address: PROXY_ADDRESS, port: 0 }, target: { address: SERVER_ADDRESS, port: targetPort }, preserveSource: true, faults, seed: 'udp-test' });
  const { port } = await proxy.listen();
  t.teardown(() => proxy.close());
  return { proxy, port };
}

void t.test('udp proxy preserves source IP', async (t) => {
  const server = await startEchoServer(t);
  const { proxy, port } = await startProxy(t, server.port, new FaultTable());
  const client = await openPeer(t, CLIENT_ADDRESS);
  await client.send('hello', port, PROXY_ADDRESS);
  t.ok(await client.waitFor(1), 'reply arrives');
  t.equal(client.received[0]?.data.toString(), `${CLIENT_ADDRESS} hello`);
  t.equal(client.received[0]?.from.address, PROXY_ADDRESS);
  t.equal(proxy.counters().sessions, 1);
});

void t.test('udp delay holds datagrams, keeps order', async (t) => {
  const faults = new FaultTable();
  const server = await startEchoServer(t);
  const { port } = await startProxy(t, server.port, faults);
  const client = await openPeer(t, CLIENT_ADDRESS);
  faults.add({ from: CLIENT_ADDRESS, direction: 'up', kind: 'delay', params: { delayMs: 120, jitterMs: 30 } });

  const start = performance.now();
  const count = 20;
  for (let i = 0; i < count; i++) await client.send(String(i), port, PROXY_ADDRESS);
  t.ok(await client.waitFor(count), 'every reply arrives');
  const first = client.received[0]?.atMs ?? 0;
  t.ok(first - start >= 90, `first reply after ${(first - start).toFixed(1)} ms, expected at least delay - jitter = 90 ms`);
  const order = client.received.map((datagram) => datagram.data.toString().split(' ')[1]);
  t.same(order, Array.from({ length: count }, (_, i) => String(i)));
});

void t.test('udp loss rate with a fixed seed', async (t) => {
  const faults = new FaultTable();
  const server = await startEchoServer(t);
  const { proxy, port } = await startProxy(t, server.port, faults);
  const client = await openPeer(t, CLIENT_ADDRESS);
  const probability = 0.3;
  faults.add({ from: CLIENT_ADDRESS, direction: 'up', kind: 'loss', params: { probability } });

  // Batches of 50 with a wait for the replies keep the kernel's socket buffers
  // far from full, so every missing reply is one the proxy dropped.
  const total = 2_000;
  const batch = 50;
  for (let sent = 0; sent < total; sent += batch) {
    for (let i = 0; i < batch; i++) await client.send(`d${sent + i}`, port, PROXY_ADDRESS);
    const handled = await waitUntil(() => proxy.counters().datagramsUp + proxy.counters().lostDatagrams >= sent + batch);
    t.ok(handled, `proxy receives batch ${sent / batch}`);
    t.ok(await client.waitFor(proxy.counters().datagramsUp), `replies of batch ${sent / batch} arrive`);
  }
  const lost = proxy.counters().lostDatagrams;
  const spread = 4 * Math.sqrt(total * probability * (1 - probability));
  t.ok(Math.abs(lost - total * probability) <= spread, `lost ${lost} of ${total}, expected ${total * probability} +- ${spread.toFixed(0)}`);
  t.equal(client.received.length, total - lost);
  t.equal(proxy.counters().datagramsUp, total - lost);
});

void t.test('udp blackhole drops, heal resumes', async (t) => {
  const faults = new FaultTable();
  const server = await startEchoServer(t);
  const { proxy, port } = await startProxy(t, server.port, faults);
  const client = await openPeer(t, CLIENT_ADDRESS);

  const rule = faults.add({ from: CLIENT_ADDRESS, direction: 'down', kind: 'blackhole' });
  await client.send('lost', port, PROXY_ADDRESS);
  t.notOk(await client.waitFor(1, SILENCE_WAIT_MS), 'no reply while blackholed');
  t.equal(proxy.counters().blackholedDatagrams, 1);
  t.equal(proxy.counters().datagramsUp, 1);

  faults.remove(rule.id);
  await client.send('back', port, PROXY_ADDRESS);
  t.ok(await client.waitFor(1), 'reply after heal');
  t.equal(client.received[0]?.data.toString(), `${CLIENT_ADDRESS} back`);
});

void t.test('udp sessions per client port', async (t) => {
  const server = await startEchoServer(t);
  const { proxy, port } = await startProxy(t, server.port, new FaultTable());
  const first = await openPeer(t, CLIENT_ADDRESS);
  const second = await openPeer(t, CLIENT_ADDRESS);
  await first.send('one', port, PROXY_ADDRESS);
  await second.send('two', port, PROXY_ADDRESS);
  t.ok(await first.waitFor(1), 'first client gets its reply');
  t.ok(await second.waitFor(1), 'second client gets its reply');
  t.equal(first.received[0]?.data.toString(), `${CLIENT_ADDRESS} one`);
  t.equal(second.received[0]?.data.toString(), `${CLIENT_ADDRESS} two`);
  t.equal(proxy.counters().openSessions, 2);
});

void t.test('udp idle sessions close', async (t) => {
  const server = await startEchoServer(t);
  const proxy = new UdpProxy({ logger: silentLogger() }, { listen: { address: PROXY_ADDRESS, port: 0 }, target: { address: SERVER_ADDRESS, port: server.port }, preserveSource: true, faults: new FaultTable(), sessionIdleMs: 100 });
  const { port } = await proxy.listen();
  t.teardown(() => proxy.close());
  const client = await openPeer(t, CLIENT_ADDRESS);
  await client.send('x', port, PROXY_ADDRESS);
  t.ok(await client.waitFor(1), 'reply arrives');
  t.ok(await waitUntil(() => proxy.counters().openSessions === 0), 'idle session closes');
});
