import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { Packet, TCPClient } from 'dns2';
import t, { type Test } from 'tap';
import { ClusterDnsServer } from '../src/dns/server.js';
import { silentLogger } from '../src/logging/logger.js';
import { EU_CLIENT, exampleZone, TEST_DNS_ADDRESS, US_CLIENT } from './fixtures/dns-zone-example.js';
import { buildQuery, tcpFrame, tcpRaw, udpExchange } from './fixtures/dns-wire.js';

async function startServer(t: Test, zone = exampleZone()): Promise<{ server: ClusterDnsServer; address: string; port: number }> {
  const server = new ClusterDnsServer({ logger: silentLogger() }, { address: TEST_DNS_ADDRESS, port: 0, zone });
  const bound = await server.listen();
  t.teardown(() => server.close());
  return { server, ...bound };
}

function resolverFor(address: string, port: number, localAddress?: string): Resolver {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([`${address}:${port}`]);
  if (localAddress !== undefined) resolver.setLocalAddress(localAddress);
  return resolver;
}

function parse(reply: Buffer | undefined): Packet {
  if (reply === undefined) throw new Error('no reply from the DNS server');
  return Packet.parse(reply);
}

void t.test('server A record over UDP', async (t) => {
  const { address, port } = await startServer(t);
  const resolver = resolverFor(address, port);
  t.same(await resolver.resolve4('us-traffic1.support.example.test'), ['127.20.0.10']);
  t.same(await resolver.resolve4('support.example.test'), ['127.10.0.1'], 'site hostname at the apex');
  const withTtl = await resolver.resolve4('master1.support.example.test', { ttl: true });
  t.equal(withTtl[0]?.ttl, 1, 'TTL is one second');
});

void t.test('server SRV record', async (t) => {
  const { address, port } = await startServer(t);
  const records = await resolverFor(address, port).resolveSrv('_atlas._tcp.support.example.test');
  t.same(records, [
    { name: 'us-traffic1.support.example.test', port: 443, priority: 10, weight: 60 },
    { name: 'eu-traffic1.support.example.test', port: 8443, priority: 20, weight: 40 },
  ]);
});

void t.test('server SRV service not available', async (t) => {
  const zone = exampleZone();
  zone.srv = { ...zone.srv, '_closed._tcp.support.example.test': [{ priority: 0, weight: 0, port: 0, target: '.' }] };
  const { address, port } = await startServer(t, zone);
  const records = await resolverFor(address, port).resolveSrv('_closed._tcp.support.example.test');
  t.same(records, [{ name: '', port: 0, priority: 0, weight: 0 }], 'root target arrives as an empty name');
});

void t.test('server SRV answer on the wire', async (t) => {
  const { address, port } = await startServer(t);
  const reply = await udpExchange(address, port, buildQuery('_atlas._tcp.support.example.test', Packet.TYPE.SRV));
  const packet = parse(reply);
  t.equal(packet.header.aa, 1, 'authoritative');
  t.equal(packet.answers.length, 2, 'two SRV records');
  t.same(
    packet.additionals.map((record) => [record.name, record.address]),
    [
      ['us-traffic1.support.example.test', '127.20.0.10'],
      ['eu-traffic1.support.example.test', '127.30.0.10'],
    ],
    'targets come with their A records',
  );
  // RDATA of the first record: priority 10, weight 60, port 443, then the target without compression.
  const rdata = Buffer.concat([Buffer.from([0, 10, 0, 60, 0x01, 0xbb]), Buffer.from('\x0bus-traffic1\x07support\x07example\x04test\x00', 'latin1')]);
  t.ok(reply !== undefined && reply.includes(rdata), 'SRV target name is not compressed');
});

void t.test('server negative answers', async (t) => {
  const { address, port } = await startServer(t);
  const resolver = resolverFor(address, port);
  await t.rejects(resolver.resolve4('nope.support.example.test'), { code: 'ENOTFOUND' }, 'unknown name is NXDOMAIN');
  await t.rejects(resolver.resolve4('example.com'), { code: 'EREFUSED' }, 'outside the zone is REFUSED');
  await t.rejects(resolver.resolve4('support.example.test.evil.test'), { code: 'EREFUSED' }, 'zone name as a prefix is outside');
  await t.rejects(resolver.resolve6('us-traffic1.support.example.test'), { code: 'ENODATA' }, 'AAAA for a known name has no records');
  await t.rejects(resolver.resolve4('_atlas._tcp.support.example.test'), { code: 'ENODATA' }, 'A for an SRV name has no records');

  const nxdomain = parse(await udpExchange(address, port, buildQuery('nope.support.example.test', Packet.TYPE.A)));
  t.equal(nxdomain.header.rcode, 3, 'rcode NXDOMAIN');
  t.equal(nxdomain.authorities[0]?.type, Packet.TYPE.SOA, 'NXDOMAIN carries the SOA');
  const refused = parse(await udpExchange(address, port, buildQuery('example.com', Packet.TYPE.A)));
  t.equal(refused.header.rcode, 5, 'rcode REFUSED');
  t.equal(refused.answers.length, 0, 'REFUSED has no answers');
  const aaaa = parse(await udpExchange(address, port, buildQuery('us-traffic1.support.example.test', Packet.TYPE.AAAA)));
  t.equal(aaaa.header.rcode, 0, 'AAAA rcode NOERROR');
  t.equal(aaaa.answers.length, 0, 'AAAA has no answers');
});

void t.test('server views by source address', async (t) => {
  const { address, port } = await startServer(t);
  t.same(await resolverFor(address, port, US_CLIENT).resolve4('traffic.support.example.test'), ['127.20.0.10'], 'us view');
  t.same(await resolverFor(address, port, EU_CLIENT).resolve4('traffic.support.example.test'), ['127.30.0.10'], 'eu view');
  t.same(await resolverFor(address, port, EU_CLIENT).resolve4('us-traffic1.support.example.test'), ['127.20.0.10'], 'eu view falls back to base');
  const srv = parse(await udpExchange(address, port, buildQuery('_atlas._tcp.support.example.test', Packet.TYPE.SRV), 1000, EU_CLIENT));
  t.equal(srv.answers.length, 2, 'SRV answered in a view');
});

void t.test('server record change at run time', async (t) => {
  const { server, address, port } = await startServer(t);
  const resolver = resolverFor(address, port);
  t.same(await resolver.resolve4('support.example.test'), ['127.10.0.1'], 'before');

  server.setRecord('support.example.test', ['127.11.0.1']);
  t.same(await resolver.resolve4('support.example.test'), ['127.11.0.1'], 'after setRecord');

  server.setRecord('traffic.support.example.test', ['127.30.0.11'], 'eu');
  t.same(await resolverFor(address, port, EU_CLIENT).resolve4('traffic.support.example.test'), ['127.30.0.11'], 'view record changed');

  server.setZone({ a: { 'only.support.example.test': ['127.12.0.1'] } });
  t.same(await resolver.resolve4('only.support.example.test'), ['127.12.0.1'], 'new zone answers');
  await t.rejects(resolver.resolve4('support.example.test'), { code: 'ENODATA' }, 'old record gone from the apex');

  t.throws(() => server.setZone({ a: { 'x.example.com': ['127.0.0.1'] } }), /not inside the zone/, 'invalid zone rejected');
  t.same(await resolver.resolve4('only.support.example.test'), ['127.12.0.1'], 'invalid zone left the old one');
});

void t.test('server over TCP', async (t) => {
  const { address, port } = await startServer(t);
  const resolve = TCPClient({ dns: address, port });
  const a = await resolve('us-traffic1.support.example.test', 'A');
  t.same(a.answers.map((record) => record.address), ['127.20.0.10'], 'A over TCP');
  const srv = await resolve('_atlas._tcp.support.example.test', 'SRV');
  t.same(
    srv.answers.map((record) => [record.priority, record.weight, record.port, record.target]),
    [
      [10, 60, 443, 'us-traffic1.support.example.test'],
      [20, 40, 8443, 'eu-traffic1.support.example.test'],
    ],
    'SRV over TCP',
  );
  const nx = await resolve('nope.support.example.test', 'A');
  t.equal(nx.header.rcode, 3, 'NXDOMAIN over TCP');
});

void t.test('server truncates large UDP answers', async (t) => {
  const addresses = Array.from({ length: 40 }, (_, index) => `127.60.0.${index + 1}`);
  const zone = exampleZone();
  zone.a = { ...zone.a, 'many.support.example.test': addresses };
  const { server, address, port } = await startServer(t, zone);

  const udp = parse(await udpExchange(address, port, buildQuery('many.support.example.test', Packet.TYPE.A)));
  t.equal(udp.header.tc, 1, 'TC bit set without EDNS');
  t.equal(udp.answers.length, 0, 'truncated answer has no records');

  const resolved = await resolverFor(address, port).resolve4('many.support.example.test');
  t.equal(resolved.length, 40, "node's resolver retries over TCP and gets all records");
  t.ok(server.stats().truncated >= 2, 'truncations counted');
});

void t.test('server survives malformed packets', async (t) => {
  const { server, address, port } = await startServer(t);
  const header = (qdcount: number, flags = 0x0100): Buffer => {
    const bytes = Buffer.alloc(12);
    bytes.writeUInt16BE(0x4242, 0);
    bytes.writeUInt16BE(flags, 2);
    bytes.writeUInt16BE(qdcount, 4);
    return bytes;
  };

  t.equal(await udpExchange(address, port, Buffer.from([1, 2, 3]), 300), undefined, 'three bytes get no reply');
  const loop = Buffer.concat([header(1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  t.equal(parse(await udpExchange(address, port, loop)).header.rcode, 1, 'compression pointer loop gets FORMERR');
  const countsBomb = header(65535);
  countsBomb.writeUInt16BE(65535, 6);
  countsBomb.writeUInt16BE(65535, 8);
  countsBomb.writeUInt16BE(65535, 10);
  t.equal(await udpExchange(address, port, countsBomb, 300), undefined, 'header claiming more records than fit gets no reply');
  t.equal(parse(await udpExchange(address, port, header(0))).header.rcode, 1, 'query without a question gets FORMERR');
  t.equal(parse(await udpExchange(address, port, Buffer.concat([header(2), buildQuery('a.support.example.test', 1).subarray(12), buildQuery('b.support.example.test', 1).subarray(12)]))).header.rcode, 1, 'two questions get FORMERR');
  const response = Buffer.from(buildQuery('us-traffic1.support.example.test', Packet.TYPE.A));
  response.writeUInt16BE(0x8100, 2);
  t.equal(await udpExchange(address, port, response, 300), undefined, 'a response sent to the server gets no reply');
  const notQuery = Buffer.from(buildQuery('us-traffic1.support.example.test', Packet.TYPE.A));
  notQuery.writeUInt16BE(0x2100, 2);
  t.equal(parse(await udpExchange(address, port, notQuery)).header.rcode, 4, 'opcode UPDATE gets NOTIMP');
  const random = Buffer.from(Array.from({ length: 300 }, (_, index) => (index * 131 + 7) & 0xff));
  await udpExchange(address, port, random, 300);

  const garbage = await tcpRaw(address, port, tcpFrame(Buffer.from([9, 9, 9, 9, 9])));
  t.equal(garbage.closedByServer, true, 'TCP connection with a short message is closed');
  const cut = await tcpRaw(address, port, Buffer.concat([Buffer.from([0, 100]), Buffer.alloc(10)]), { endAfterWrite: true });
  t.equal(cut.closedByServer, true, 'TCP connection ending mid-message is closed');

  t.ok(server.stats().malformed >= 6, `malformed packets counted (${server.stats().malformed})`);
  t.same(await resolverFor(address, port).resolve4('us-traffic1.support.example.test'), ['127.20.0.10'], 'UDP still answers');
  const tcp = await TCPClient({ dns: address, port })('us-traffic1.support.example.test', 'A');
  t.same(tcp.answers.map((record) => record.address), ['127.20.0.10'], 'TCP still answers');
});

void t.test('server rejects a busy port', async (t) => {
  const blocker = createSocket('udp4');
  await new Promise<void>((resolve) => blocker.bind(0, TEST_DNS_ADDRESS, resolve));
  t.teardown(() => blocker.close());
  const port = blocker.address().port;
  const server = new ClusterDnsServer({ logger: silentLogger() }, { address: TEST_DNS_ADDRESS, port, zone: exampleZone() });
  await t.rejects(server.listen(), new RegExp(`binding UDP ${TEST_DNS_ADDRESS.replaceAll('.', '\\.')}:${port} failed: .*EADDRINUSE.*choose a free port`));
});

void t.test('server options validation', (t) => {
  t.throws(() => new ClusterDnsServer({ logger: silentLogger() }, { address: '10.1.2.3', port: 0, zone: exampleZone() }), /address: expected a loopback IP address/);
  t.throws(() => new ClusterDnsServer({ logger: silentLogger() }, { address: TEST_DNS_ADDRESS, port: 70000, zone: exampleZone() }), /port: expected an integer from 0 to 65535, got 70000/);
  t.end();
});

void t.test('server close frees the port', async (t) => {
  const server = new ClusterDnsServer({ logger: silentLogger() }, { address: TEST_DNS_ADDRESS, port: 0, zone: exampleZone() });
  const { port } = await server.listen();
  await server.close();
  await server.close();
  t.equal(server.address(), undefined, 'no address after close');

  const again = new ClusterDnsServer({ logger: silentLogger() }, { address: TEST_DNS_ADDRESS, port, zone: exampleZone() });
  t.same(await again.listen(), { address: TEST_DNS_ADDRESS, port }, 'same port can be bound again');
  await again.close();
});
