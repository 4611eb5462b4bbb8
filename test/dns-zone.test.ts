import t from 'tap';
import { parseIpv4Prefix } from '../src/dns/cidr.js';
import { Zone } from '../src/dns/zone.js';
import { exampleZone } from './fixtures/dns-zone-example.js';

void t.test('zone accepts the example', (t) => {
  const zone = Zone.fromDefinition(exampleZone());
  t.equal(zone.origin, 'support.example.test');
  t.same(zone.recordCounts, { a: 7, srv: 1, views: 2 });
  t.same(zone.viewNames, ['us', 'eu']);
  t.end();
});

void t.test('zone lookup', (t) => {
  const zone = Zone.fromDefinition(exampleZone());
  t.same(zone.lookup('US-Traffic1.support.example.test.').a, ['127.20.0.10'], 'case and trailing dot ignored');
  t.equal(zone.lookup('nope.support.example.test').exists, false, 'unknown name');
  t.equal(zone.lookup('support.example.test').exists, true, 'apex');
  t.equal(zone.lookup('_tcp.support.example.test').exists, true, 'empty non-terminal above an SRV name');
  t.same(zone.lookup('_tcp.support.example.test').a, [], 'empty non-terminal has no records');
  t.equal(zone.lookup('_atlas._tcp.support.example.test').srv.length, 2);
  t.end();
});

void t.test('zone view selection', (t) => {
  const definition = exampleZone();
  definition.views?.push({ name: 'eu-narrow', sources: ['127.30.0.0/24'], a: { 'traffic.support.example.test': ['127.30.0.99'] } });
  const zone = Zone.fromDefinition(definition);
  t.equal(zone.selectView('127.20.0.5'), 'us');
  t.equal(zone.selectView('127.30.1.5'), 'eu');
  t.equal(zone.selectView('127.30.0.5'), 'eu-narrow', 'longest prefix wins');
  t.equal(zone.selectView('::ffff:127.20.0.5'), 'us', 'IPv4-mapped address');
  t.equal(zone.selectView('127.40.0.5'), undefined, 'no view matches');
  t.equal(zone.selectView('::1'), undefined, 'IPv6 selects no view');
  t.same(zone.lookup('traffic.support.example.test', 'eu').a, ['127.30.0.10'], 'view override');
  t.same(zone.lookup('us-traffic1.support.example.test', 'eu').a, ['127.20.0.10'], 'view falls back to base');
  t.end();
});

void t.test('zone equal prefixes pick the first view', (t) => {
  const zone = Zone.fromDefinition({
    a: { 'x.support.example.test': ['127.0.0.1'] },
    views: [
      { name: 'first', sources: ['127.20.0.0/16'] },
      { name: 'second', sources: ['127.20.0.0/16'] },
    ],
  });
  t.equal(zone.selectView('127.20.3.4'), 'first');
  t.end();
});

void t.test('zone withAddresses', (t) => {
  const zone = Zone.fromDefinition(exampleZone());
  const moved = zone.withAddresses('support.example.test', ['127.11.0.1']);
  t.same(moved.lookup('support.example.test').a, ['127.11.0.1'], 'new zone has the new address');
  t.same(zone.lookup('support.example.test').a, ['127.10.0.1'], 'old zone unchanged');

  const removed = zone.withAddresses('master1.support.example.test', []);
  t.equal(removed.lookup('master1.support.example.test').exists, false, 'empty list removes the record');

  const inView = zone.withAddresses('traffic.support.example.test', ['127.30.0.11'], 'eu');
  t.same(inView.lookup('traffic.support.example.test', 'eu').a, ['127.30.0.11'], 'view record changed');
  t.same(inView.lookup('traffic.support.example.test', 'us').a, ['127.20.0.10'], 'other view unchanged');

  t.throws(() => zone.withAddresses('traffic.support.example.test', ['127.0.0.1'], 'asia'), /no view named "asia"; the zone has views us, eu/);
  t.throws(() => zone.withAddresses('traffic.example.com', ['127.0.0.1']), /not inside the zone support\.example\.test/);
  t.throws(() => zone.withAddresses('traffic.support.example.test', ['300.0.0.1']), /addresses\[0\]: expected an IPv4 address/);
  t.end();
});

void t.test('zone SRV root target', (t) => {
  const zone = Zone.fromDefinition({ srv: { '_closed._tcp.support.example.test': [{ priority: 0, weight: 0, port: 0, target: '.' }] } });
  t.same(zone.lookup('_closed._tcp.support.example.test').srv, [{ priority: 0, weight: 0, port: 0, target: '.' }]);
  t.end();
});

void t.test('zone definition round trip', (t) => {
  const zone = Zone.fromDefinition(exampleZone());
  const again = Zone.fromDefinition(zone.toDefinition());
  t.same(again.toDefinition(), zone.toDefinition());
  t.end();
});

void t.test('zone validation errors', (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', 'zone', /zone: expected an object/],
    ['unknown field', { records: {} }, /zone\.records: unknown field/],
    ['name outside the zone', { a: { 'us-traffic1': ['127.0.0.1'] } }, /zone\.a\["us-traffic1"\]: "us-traffic1" is not inside the zone support\.example\.test; write the full name, for example "us-traffic1\.support\.example\.test"/],
    ['invalid label', { a: { 'us_traffic-.support.example.test': ['127.0.0.1'] } }, /invalid label "us_traffic-"/],
    ['wildcard owner', { a: { '*.support.example.test': ['127.0.0.1'] } }, /invalid label "\*"/],
    ['empty address list', { a: { 'x.support.example.test': [] } }, /zone\.a\["x\.support\.example\.test"\]: expected a non-empty array of IPv4 addresses/],
    ['IPv6 address in A record', { a: { 'x.support.example.test': ['::1'] } }, /zone\.a\["x\.support\.example\.test"\]\[0\]: expected an IPv4 address/],
    ['duplicate name', { a: { 'x.support.example.test': ['127.0.0.1'], 'X.support.example.test.': ['127.0.0.2'] } }, /"x\.support\.example\.test" is listed twice/],
    ['SRV port 0', { srv: { '_a._tcp.support.example.test': [{ priority: 1, weight: 1, port: 0, target: 'x.support.example.test' }] } }, /\[0\]\.port: expected an integer from 1 to 65535, got 0/],
    ['SRV weight too big', { srv: { '_a._tcp.support.example.test': [{ priority: 1, weight: 70000, port: 1, target: 'x.support.example.test' }] } }, /\[0\]\.weight: expected an integer from 0 to 65535, got 70000/],
    ['SRV target missing', { srv: { '_a._tcp.support.example.test': [{ priority: 1, weight: 1, port: 1 }] } }, /\[0\]\.target: expected a domain name/],
    ['views not an array', { views: {} }, /zone\.views: expected an array of views/],
    ['view without name', { views: [{ sources: ['127.0.0.0/8'] }] }, /zone\.views\[0\]\.name: expected a non-empty string/],
    ['view without sources', { views: [{ name: 'us', sources: [] }] }, /zone\.views\[0\]\.sources: expected a non-empty array of IPv4 prefixes/],
    ['view with bad prefix', { views: [{ name: 'us', sources: ['127.20.0.0/33'] }] }, /zone\.views\[0\]\.sources\[0\]: invalid prefix "127\.20\.0\.0\/33": the length "33" must be an integer from 0 to 32/],
    ['duplicate view name', { views: [{ name: 'us', sources: ['127.20.0.0/16'] }, { name: 'us', sources: ['127.21.0.0/16'] }] }, /zone\.views\[1\]\.name: the view name "us" is used twice/],
    ['view record outside the zone', { views: [{ name: 'us', sources: ['127.20.0.0/16'], a: { 'traffic.example.com': ['127.0.0.1'] } }] }, /zone\.views\[0\]\.a\["traffic\.example\.com"\]: "traffic\.example\.com" is not inside the zone/],
  ];
  for (const [name, input, pattern] of cases) {
    t.throws(() => Zone.fromDefinition(input), pattern, name);
  }
  t.end();
});

void t.test('prefix parsing', (t) => {
  t.same(parseIpv4Prefix('127.20.0.5/16'), { text: '127.20.0.5/16', network: 0x7f140000, length: 16 }, 'host bits cleared');
  t.same(parseIpv4Prefix('127.20.0.5'), { text: '127.20.0.5', network: 0x7f140005, length: 32 }, 'bare address is /32');
  t.same(parseIpv4Prefix('0.0.0.0/0'), { text: '0.0.0.0/0', network: 0, length: 0 }, 'default route');
  t.match(parseIpv4Prefix('127.20.0/16'), /"127\.20\.0" is not an IPv4 address/);
  t.match(parseIpv4Prefix('127.20.0.0/1/2'), /expected a\.b\.c\.d or a\.b\.c\.d\/len/);
  t.match(parseIpv4Prefix('127.20.0.0/x'), /the length "x" must be an integer from 0 to 32/);
  t.end();
});
