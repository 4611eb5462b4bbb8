import type { WebSocket } from 'ws';
import t from 'tap';

import { silentLogger } from '../src/logging/logger.js';
import { ensureClusterCerts } from '../src/net/certs.js';
import { Channel, type ChannelClose } from '../src/net/channel.js';
import { connectChannel } from '../src/net/ws-client.js';
import { WsServer } from '../src/net/ws-server.js';

const ADDRESS = '127.98.0.1';
const HEARTBEAT = { intervalMs: 100, timeoutMs: 400 };

/** A channel dialled over TLS to a server in this process, and the server's side of it as a raw WebSocket. */
async function connectedPair(t: { teardown(fn: () => unknown): void }): Promise<{ client: Channel; serverSocket: WebSocket }> {
  const certs = await ensureClusterCerts();
  const logger = silentLogger();
  let accepted: (ws: WebSocket) => void = () => undefined;
  const serverSocket = new Promise<WebSocket>((resolve) => (accepted = resolve));
  const server = new WsServer({ logger }, { host: ADDRESS, port: 0, tls: { cert: certs.cert, key: certs.key }, paths: { '/test': (ws: WebSocket) => accepted(ws) } });
  const port = await server.listen();
  t.teardown(() => server.close());
  const lookup = (): void => {
    throw new Error('the test dials an IP address, so no lookup happens');
  };
  const client = await connectChannel({ logger }, { host: ADDRESS, port, path: '/test', ca: certs.ca, tlsName: 'test.support.example.test', lookup, heartbeat: HEARTBEAT });
  return { client, serverSocket: await serverSocket };
}

/** Two channels over one TLS WebSocket in this process, both with heartbeats. */
async function channelPair(t: { teardown(fn: () => unknown): void }): Promise<{ client: Channel; server: Channel }> {
  const { client, serverSocket } = await connectedPair(t);
  return { client, server: new Channel(serverSocket, { logger: silentLogger() }, { heartbeat: HEARTBEAT }) };
}

function busyWait(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // Blocks the event loop, as a long synchronous task or a stopped process does.
  }
}

void t.test('stalled event loop keeps channels', async (t) => {
  const { client, server } = await channelPair(t);
  const closes: ChannelClose[] = [];
  client.on('close', (close) => closes.push(close));
  server.on('close', (close) => closes.push(close));
  t.teardown(() => client.terminate('test finished'));

  busyWait(HEARTBEAT.timeoutMs * 3);
  await new Promise((resolve) => setTimeout(resolve, HEARTBEAT.intervalMs * 3));
  t.same(closes, [], 'neither side dropped the other after this process stalled');
  t.equal(client.isOpen, true, 'client channel open');
  t.equal(server.isOpen, true, 'server channel open');
});

void t.test('silent peer still times out', async (t) => {
  const { client, serverSocket } = await connectedPair(t);
  const closed = new Promise<ChannelClose>((resolve) => client.once('close', resolve));
  // The server side stops reading and has no heartbeat of its own, so it neither answers pings nor sends any.
  serverSocket.pause();
  t.teardown(() => serverSocket.terminate());
  const close = await closed;
  t.equal(close.local, true, 'the client dropped the connection');
  t.match(close.reason, /heartbeat timeout/, 'because of the heartbeat timeout');
});
