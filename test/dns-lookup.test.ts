import { createSocket } from 'node:dgram';
import type { LookupAddress } from 'node:dns';
import { connect, createServer, type LookupFunction } from 'node:net';
import t, { type Test } from 'tap';
import { ClusterDnsServer } from '../src/dns/server.js';
import { silentLogger } from '../src/logging/logger.js';
import { ClusterDnsError, createClusterLookup, resolveClusterAddresses, resolveSrv } from '../src/net/lookup.js';
import { resolveTargets } from '../src/client/connector.js';
import { createRng } from '../src/routing/rng.js';
import { EU_CLIENT, exampleZone, TEST_DNS_ADDRESS, US_CLIENT } from './fixtures/dns-zone-example.js';

const TARGET_ADDRESS = '127.20.0.10';

async function startServer(t: Test, zone = exampleZone()): Promise<{ server: ClusterDnsServer; address: string; port: number }> {
  const server = new ClusterDnsServer({ logger: silentLogger() }, { address: TEST_DNS_ADDRESS, port: 0, zone });
  const bound = await server.listen();
  t.teardown(() => server.close());
  return { server, ...bound };
}

function lookupAsync(lookup: LookupFunction, hostname: string, options: { all?: boolean; family?: number }): Promise<{ address: string | LookupAddress[]; family: number | undefined }> {
  return new Promise((resolve, reject) => {
    lookup(hostname, options, (error, address, family) => {
      if (error) reject(error);
      else resolve({ address, family });
    });
  });
}

void t.test('lookup resolves a node hostname', async (t) => {
  const { address, port } = await startServer(t);
  const lookup = createClusterLookup({ server: { address, port }, logger: silentLogger() });
  t.same(await lookupAsync(lookup, 'us-traffic1.support.example.test', {}), { address: '127.20.0.10', family: 4 }, 'single address');
  t.same(await lookupAsync(lookup, 'us-traffic1.support.example.test', { all: true }), { address: [{ address: '127.20.0.10', family: 4 }], family: undefined }, 'all addresses');
  t.same(await lookupAsync(lookup, 'us-traffic1.support.example.test', { family: 4 }), { address: '127.20.0.10', family: 4 }, 'family 4');
});

void t.test('lookup serves net.connect', async (t) => {
  const { address, port } = await startServer(t);
  const target = createServer((socket) => socket.end('hello'));
  await new Promise<void>((resolve) => target.listen(0, TARGET_ADDRESS, resolve));
  t.teardown(() => new Promise<void>((resolve) => target.close(() => resolve())));
  const targetPort = (target.address() as { port: number }).port;

  const lookup = createClusterLookup({ server: { address, port }, logger: silentLogger() });
  const socket = connect({ host: 'us-traffic1.support.example.test', port: targetPort, lookup });
  const received = await new Promise<string>((resolve, reject) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
  t.equal(received, 'hello', 'connected by hostname');
  t.equal(socket.remoteAddress, TARGET_ADDRESS, 'reached the address from the cluster DNS');
});

void t.test('lookup passes IP literals through', async (t) => {
  const { server, address, port } = await startServer(t);
  const lookup = createClusterLookup({ server: { address, port }, logger: silentLogger() });
  const before = server.stats().queries;
  t.same(await lookupAsync(lookup, '127.20.0.10', {}), { address: '127.20.0.10', family: 4 }, 'IPv4 literal');
  t.same(await lookupAsync(lookup, '::1', { all: true }), { address: [{ address: '::1', family: 6 }], family: undefined }, 'IPv6 literal');
  t.equal(server.stats().queries, before, 'no query sent');
});

void t.test('lookup view follows local address', async (t) => {
  const { address, port } = await startServer(t);
  const us = createClusterLookup({ server: { address, port }, localAddress: US_CLIENT, logger: silentLogger() });
  const eu = createClusterLookup({ server: { address, port }, localAddress: EU_CLIENT, logger: silentLogger() });
  t.equal((await lookupAsync(us, 'traffic.support.example.test', {})).address, '127.20.0.10', 'us client');
  t.equal((await lookupAsync(eu, 'traffic.support.example.test', {})).address, '127.30.0.10', 'eu client');
});

void t.test('lookup errors name hostname and server', async (t) => {
  const { address, port } = await startServer(t);
  const lookup = createClusterLookup({ server: { address, port }, logger: silentLogger() });
  const server = `${address}:${port}`;

  const nxdomain = lookupAsync(lookup, 'us-traffic9.support.example.test', {});
  await t.rejects(nxdomain, { name: 'ClusterDnsError', code: 'ENOTFOUND', hostname: 'us-traffic9.support.example.test', dnsServer: server }, 'NXDOMAIN fields');
  await t.rejects(nxdomain, new RegExp(`"us-traffic9\\.support\\.example\\.test" at the cluster DNS server ${server.replaceAll('.', '\\.')} failed: no such name \\(NXDOMAIN\\)`), 'NXDOMAIN message');
  await t.rejects(lookupAsync(lookup, 'example.com', {}), /refused the query \(REFUSED\); it answers only names inside the cluster zone/, 'outside the zone');
  await t.rejects(lookupAsync(lookup, 'us-traffic1.support.example.test', { family: 6 }), /has no AAAA records/, 'no AAAA records');
  await t.rejects(lookupAsync(lookup, '_atlas._tcp.support.example.test', {}), /has no AAAA records/, 'no A and no AAAA records');
});

void t.test('lookup timeout names the server', async (t) => {
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, TEST_DNS_ADDRESS, resolve));
  t.teardown(() => silent.close());
  let queriesSeen = 0;
  silent.on('message', () => (queriesSeen += 1));
  const port = silent.address().port;

  const lookup = createClusterLookup({ server: { address: TEST_DNS_ADDRESS, port }, timeoutMs: 600, logger: silentLogger() });
  const started = Date.now();
  const failure = lookupAsync(lookup, 'us-traffic1.support.example.test', {});
  await t.rejects(failure, { code: 'ETIMEOUT' }, 'code ETIMEOUT');
  await t.rejects(failure, new RegExp(`no answer within 600 ms; check that the DNS process is running and listening on ${TEST_DNS_ADDRESS.replaceAll('.', '\\.')}:${port}`), 'message');
  t.ok(Date.now() - started < 5000, 'gave up well before the c-ares default');
  t.ok(queriesSeen >= 1, 'queries reached the silent server');
});

void t.test('lookup without a server', async (t) => {
  const free = createSocket('udp4');
  await new Promise<void>((resolve) => free.bind(0, TEST_DNS_ADDRESS, resolve));
  const port = free.address().port;
  await new Promise<void>((resolve) => free.close(() => resolve()));

  const lookup = createClusterLookup({ server: { address: TEST_DNS_ADDRESS, port }, timeoutMs: 1000, logger: silentLogger() });
  const error: unknown = await lookupAsync(lookup, 'us-traffic1.support.example.test', {}).catch((failure: unknown) => failure);
  t.ok(error instanceof ClusterDnsError, 'ClusterDnsError');
  t.match((error as ClusterDnsError).code, /^(ECONNREFUSED|ETIMEOUT)$/, 'refused or timed out');
  t.match((error as ClusterDnsError).message, `${TEST_DNS_ADDRESS}:${port}`, 'message names the server');
});

void t.test('resolveSrv through the cluster server', async (t) => {
  const { address, port } = await startServer(t);
  const options = { server: { address, port }, logger: silentLogger() };
  t.same(await resolveSrv(options, '_atlas._tcp.support.example.test'), [
    { name: 'us-traffic1.support.example.test', port: 443, priority: 10, weight: 60 },
    { name: 'eu-traffic1.support.example.test', port: 8443, priority: 20, weight: 40 },
  ]);
  await t.rejects(resolveSrv(options, '_nope._tcp.support.example.test'), { code: 'ENOTFOUND', message: /SRV records for "_nope\._tcp\.support\.example\.test"/ });
  t.same(await resolveClusterAddresses({ ...options, localAddress: EU_CLIENT }, 'traffic.support.example.test'), ['127.30.0.10'], 'resolveClusterAddresses');
});

void t.test('lookup caches answers for their TTL', async (t) => {
  const { server, address, port } = await startServer(t);
  const lookup = createClusterLookup({ server: { address, port }, logger: silentLogger() });
  const hostname = 'us-traffic1.support.example.test';

  t.same(await lookupAsync(lookup, hostname, {}), { address: '127.20.0.10', family: 4 }, 'first answer');
  const queriesAfterFirst = server.stats().queries;
  server.setRecord(hostname, ['127.20.0.99']);
  t.same(await lookupAsync(lookup, hostname, {}), { address: '127.20.0.10', family: 4 }, 'cached answer within the TTL');
  t.equal(server.stats().queries, queriesAfterFirst, 'no query while the answer is cached');

  // The zone's TTL is 1 s; waiting longer lets the cached answer expire.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  t.same(await lookupAsync(lookup, hostname, {}), { address: '127.20.0.99', family: 4 }, 'new answer after the TTL');
});

void t.test('srv priorities out of order on the wire', async (t) => {
  const zone = exampleZone();
  const name = '_atlas._tcp.support.example.test';
  // The server sends the records in this order: highest priority value first, a zero weight in the middle.
  zone.srv = {
    [name]: [
      { priority: 30, weight: 100, port: 443, target: 'late.support.example.test' },
      { priority: 10, weight: 0, port: 443, target: 'zero.support.example.test' },
      { priority: 20, weight: 100, port: 443, target: 'middle.support.example.test' },
      { priority: 10, weight: 100, port: 443, target: 'heavy.support.example.test' },
    ],
  };
  const { address, port } = await startServer(t, zone);
  const options = { server: { address, port }, logger: silentLogger() };

  const onWire = await resolveSrv(options, name);
  t.same(onWire.map((record) => record.priority), [30, 10, 20, 10], 'the answer keeps the server order');

  const firsts = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const targets = await resolveTargets(options, createRng(`wire-${i}`), { srvName: name });
    const hosts = targets.map((target) => target.host);
    t.same(hosts.slice(2), ['middle.support.example.test', 'late.support.example.test'], `draw ${i}: priorities 20 and 30 follow in order`);
    t.same([...hosts.slice(0, 2)].sort(), ['heavy.support.example.test', 'zero.support.example.test'], `draw ${i}: priority 10 first`);
    firsts.set(hosts[0]!, (firsts.get(hosts[0]!) ?? 0) + 1);
  }
  // With weights 100 and 0, RFC 2782 puts the zero-weight record first only on a draw of 0: 1 in 101.
  t.ok((firsts.get('zero.support.example.test') ?? 0) <= 12, `zero weight first at most 12 of 200 times (P < 0.001 for a correct order), got ${firsts.get('zero.support.example.test') ?? 0}`);
});
