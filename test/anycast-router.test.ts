import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import t, { type Test } from 'tap';

import { parseAnycastConfig } from '../src/anycast/config.js';
import { parseRouteTable, RouteTableError } from '../src/anycast/route-table.js';
import { AnycastRouter } from '../src/anycast/router.js';
import { silentLogger } from '../src/logging/logger.js';

const ANYCAST_ADDRESS = '127.77.3.1';
const EU_NODE_ADDRESS = '127.77.3.10';
const US_NODE_ADDRESS = '127.77.3.11';
const DEFAULT_NODE_ADDRESS = '127.77.3.12';
const EU_CLIENT = '127.77.3.100';
const US_CLIENT = '127.77.3.200';
const OTHER_CLIENT = '127.77.4.50';

const SAMPLE_TARGET = { address: '127.0.0.10', port: 8443 };

void t.test('route table longest prefix wins', (t) => {
  const table = parseRouteTable(
    [
      { prefix: '10.0.0.0/8', target: { address: '127.0.0.10', port: 1 }, node: 'wide' },
      { prefix: '10.1.0.0/16', target: { address: '127.0.0.11', port: 2 }, node: 'narrow' },
    ],
    { address: '127.0.0.12', port: 3, node: 'fallback' },
  );
  t.same(table.choose('10.1.2.3'), { node: 'narrow', target: { address: '127.0.0.11', port: 2 }, reason: 'prefix', prefix: '10.1.0.0/16' });
  t.equal(table.choose('10.2.0.1').node, 'wide');
  t.same(table.choose('192.0.2.1'), { node: 'fallback', target: { address: '127.0.0.12', port: 3 }, reason: 'default' });
  t.end();
});

void t.test('route table unwraps mapped addresses', (t) => {
  const table = parseRouteTable([{ prefix: '127.20.0.0/24', target: SAMPLE_TARGET, node: 'eu' }], { ...SAMPLE_TARGET, node: 'fallback' });
  t.equal(table.choose('::ffff:127.20.0.5').node, 'eu');
  t.equal(table.choose('::1').node, 'fallback');
  t.end();
});

void t.test('route table empty routes use default', (t) => {
  const table = parseRouteTable([], { ...SAMPLE_TARGET, node: 'only' });
  t.equal(table.choose('127.0.0.1').reason, 'default');
  t.end();
});

const invalidTables: { name: string; routes: unknown; fallback?: unknown; message: RegExp }[] = [
  {
    name: 'bad mask',
    routes: [{ prefix: '10.0.0.0/8', target: SAMPLE_TARGET, node: 'a' }, { prefix: '10.0.0.0/33', target: SAMPLE_TARGET, node: 'b' }],
    message: /^routes line 2 \(routes\[1\]\)\.prefix is "10\.0\.0\.0\/33"; not a valid prefix: the mask must be 0-32/,
  },
  { name: 'host bits', routes: [{ prefix: '10.1.2.3/8', target: SAMPLE_TARGET, node: 'a' }], message: /line 1 .*"10\.1\.2\.3\/8".*write the network address 10\.0\.0\.0\/8/ },
  { name: 'public target', routes: [{ prefix: '10.0.0.0/8', target: { address: '192.0.2.1', port: 443 }, node: 'a' }], message: /line 1 \(routes\[0\]\)\.target\.address is "192\.0\.2\.1"; expected a loopback IP address/ },
  { name: 'bad port', routes: [{ prefix: '10.0.0.0/8', target: { address: '127.0.0.1', port: 70000 }, node: 'a' }], message: /line 1 \(routes\[0\]\)\.target\.port is 70000; expected an integer 1-65535/ },
  { name: 'missing node', routes: [{ prefix: '10.0.0.0/8', target: SAMPLE_TARGET }], message: /line 1 \(routes\[0\]\)\.node is missing; expected the traffic node name/ },
  { name: 'unknown field', routes: [{ prefix: '10.0.0.0/8', target: SAMPLE_TARGET, node: 'a', weight: 2 }], message: /line 1 \(routes\[0\]\)\.weight is 2; unknown field/ },
  {
    name: 'duplicate prefix',
    routes: [{ prefix: '10.0.0.0/8', target: SAMPLE_TARGET, node: 'a' }, { prefix: '10.0.0.0/255.0.0.0', target: SAMPLE_TARGET, node: 'b' }],
    message: /routes line 2 \(routes\[1\]\)\.prefix is "10\.0\.0\.0\/8"; line 1 has the same prefix/,
  },
  { name: 'routes not a list', routes: { prefix: '10.0.0.0/8' }, message: /^routes is \{"prefix":"10\.0\.0\.0\/8"\}; expected a list/ },
  { name: 'missing default', routes: [], fallback: null, message: /^default is null; expected an object/ },
  { name: 'default without node', routes: [], fallback: SAMPLE_TARGET, message: /^default\.node is missing/ },
];

for (const { name, routes, fallback, message } of invalidTables) {
  void t.test(`route table rejects ${name}`, (t) => {
    const parse = (): unknown => parseRouteTable(routes, fallback === undefined ? { ...SAMPLE_TARGET, node: 'fallback' } : fallback);
    t.throws(parse, RouteTableError);
    t.throws(parse, { message });
    t.end();
  });
}

void t.test('anycast config rejects bad fields', (t) => {
  const valid = { name: 'anycast', address: '127.0.0.5', port: 0, routes: [], default: { ...SAMPLE_TARGET, node: 'x' } };
  t.equal(parseAnycastConfig(valid).name, 'anycast');
  t.throws(() => parseAnycastConfig({ ...valid, address: '10.0.0.1' }), { message: /^address is "10\.0\.0\.1"; expected the anycast IP address, a loopback address/ });
  t.throws(() => parseAnycastConfig({ ...valid, port: -1 }), { message: /^port is -1; expected an integer 0-65535/ });
  t.throws(() => parseAnycastConfig({ ...valid, name: '' }), { message: /^name is ""/ });
  t.throws(() => parseAnycastConfig({ ...valid, defualt: {} }), { message: /^field "defualt" is unknown/ });
  t.end();
});

/** A traffic node stand-in that replies to each connection with `<name> <client address>` and closes it. */
async function startNode(t: Test, name: string, address: string): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.end(`${name} ${socket.remoteAddress}`);
  });
  server.listen(0, address);
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('node has no address');
  return bound.port;
}

/** Connects from `localAddress` to the router and returns the node's reply. */
async function askThroughRouter(port: number, localAddress: string): Promise<string> {
  const socket = connect({ host: ANYCAST_ADDRESS, port, localAddress });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  socket.destroy();
  return Buffer.concat(chunks).toString();
}

void t.test('anycast router routes by source prefix', async (t) => {
  const euPort = await startNode(t, 'eu', EU_NODE_ADDRESS);
  const usPort = await startNode(t, 'us', US_NODE_ADDRESS);
  const defaultPort = await startNode(t, 'fallback', DEFAULT_NODE_ADDRESS);
  const table = parseRouteTable(
    [
      { prefix: '127.77.3.0/25', target: { address: EU_NODE_ADDRESS, port: euPort }, node: 'eu' },
      { prefix: '127.77.3.128/25', target: { address: US_NODE_ADDRESS, port: usPort }, node: 'us' },
    ],
    { address: DEFAULT_NODE_ADDRESS, port: defaultPort, node: 'fallback' },
  );
  const router = new AnycastRouter({ logger: silentLogger() }, { listen: { address: ANYCAST_ADDRESS, port: 0 }, table });
  const { port } = await router.listen();
  t.teardown(() => router.close());

  t.equal(await askThroughRouter(port, EU_CLIENT), `eu ${EU_CLIENT}`);
  t.equal(await askThroughRouter(port, US_CLIENT), `us ${US_CLIENT}`);
  t.equal(await askThroughRouter(port, OTHER_CLIENT), `fallback ${OTHER_CLIENT}`);

  const status = router.status();
  t.same(status.connectionsByNode, { eu: 1, us: 1, fallback: 1 });
  t.same(status.connectionsByReason, { prefix: 2, default: 1 });
  t.equal(status.counters.connections, 3);
});
