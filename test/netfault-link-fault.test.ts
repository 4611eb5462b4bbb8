import t from 'tap';

import { compileLinkFault, describeLinkFault, validateLinkFault, type LinkProcess } from '../src/netfault/link-fault.js';
import { ConfigError } from '../src/util/errors.js';

const PROCESSES = new Map<string, LinkProcess>([
  ['master1', { name: 'master1', address: '127.100.0.1', fronted: ['tcp'] }],
  ['us-traffic1', { name: 'us-traffic1', address: '127.100.0.10', fronted: ['tcp'] }],
  ['dns', { name: 'dns', address: '127.100.0.53', fronted: ['udp', 'tcp'] }],
  ['stun', { name: 'stun', address: '127.100.0.5', fronted: ['udp'] }],
  ['rep-us', { name: 'rep-us', address: '127.20.0.5', fronted: [] }],
  ['customer-eu', { name: 'customer-eu', address: '127.30.0.5', fronted: [] }],
]);

void t.test('client to server link', (t) => {
  const fault = validateLinkFault({ a: 'rep-us', b: 'us-traffic1', kind: 'delay', delayMs: 200, jitterMs: 50, direction: 'a-to-b' }, PROCESSES, 'f1');
  const rules = compileLinkFault(fault, PROCESSES);
  t.same(rules, [{ server: 'us-traffic1', rule: { from: '127.20.0.5', direction: 'up', kind: 'delay', params: { delayMs: 200, jitterMs: 50 } } }], 'one rule on the server, client to server is up');
  t.equal(fault.id, 'f1', 'fallback id used');
  t.equal(describeLinkFault(fault), 'delay 200±50 ms rep-us -> us-traffic1', 'description');
  t.end();
});

void t.test('server to client direction', (t) => {
  const fault = validateLinkFault({ a: 'us-traffic1', b: 'rep-us', kind: 'bandwidth', bytesPerSecond: 1000, direction: 'a-to-b' }, PROCESSES, 'f2');
  const rules = compileLinkFault(fault, PROCESSES);
  t.same(rules.map((entry) => [entry.server, entry.rule.from, entry.rule.direction]), [['us-traffic1', '127.20.0.5', 'down']], 'server to client is down on the server');
  t.end();
});

void t.test('link between two servers', (t) => {
  const fault = validateLinkFault({ a: 'master1', b: 'us-traffic1', kind: 'blackhole', direction: 'b-to-a' }, PROCESSES, 'f3');
  const rules = compileLinkFault(fault, PROCESSES);
  t.same(
    rules.map((entry) => [entry.server, entry.rule.from, entry.rule.direction]),
    [
      ['us-traffic1', '127.100.0.1', 'down'],
      ['master1', '127.100.0.10', 'up'],
    ],
    'both listeners covered, each with its direction',
  );
  t.end();
});

void t.test('process and everyone', (t) => {
  const fault = validateLinkFault({ a: 'us-traffic1', b: '*', kind: 'blackhole' }, PROCESSES, 'f4');
  const rules = compileLinkFault(fault, PROCESSES);
  t.same(rules[0], { server: 'us-traffic1', rule: { direction: 'both', kind: 'blackhole', params: {} } }, 'every client of its own listeners');
  t.same(rules.slice(1).map((entry) => entry.server).sort(), ['dns', 'master1', 'stun'], 'every other fronted server');
  t.ok(rules.slice(1).every((entry) => entry.rule.from === '127.100.0.10'), 'other servers match its address');
  t.end();
});

void t.test('client and everyone', (t) => {
  const fault = validateLinkFault({ a: 'customer-eu', b: '*', kind: 'loss', probability: 0.5, direction: 'a-to-b' }, PROCESSES, 'f5');
  const rules = compileLinkFault(fault, PROCESSES);
  t.same(rules.map((entry) => entry.server).sort(), ['dns', 'stun'], 'rule on every server with a UDP listener');
  t.ok(rules.every((entry) => entry.rule.direction === 'up' && entry.rule.from === '127.30.0.5'), 'client to server is up');
  t.end();
});

void t.test('fault kind on the wrong protocol', (t) => {
  const cases: { name: string; input: unknown; message: RegExp }[] = [
    { name: 'loss on a TCP link', input: { a: 'customer-eu', b: 'us-traffic1', kind: 'loss', probability: 0.5 }, message: /^link fault loss between customer-eu and us-traffic1 cannot act: loss acts on UDP only.*us-traffic1 only on TCP.*use delay or blackhole for TCP connections/ },
    { name: 'bandwidth on a UDP link', input: { a: 'customer-eu', b: 'stun', kind: 'bandwidth', bytesPerSecond: 1000 }, message: /^link fault bandwidth between customer-eu and stun cannot act: bandwidth acts on TCP only.*stun only on UDP/ },
    { name: 'reset on a UDP link', input: { a: 'rep-us', b: 'stun', kind: 'reset' }, message: /reset acts on TCP only/ },
    { name: 'two clients', input: { a: 'rep-us', b: 'customer-eu', kind: 'delay', delayMs: 5 }, message: /neither side has a listener behind the fault layer/ },
  ];
  for (const entry of cases) {
    const fault = validateLinkFault(entry.input, PROCESSES, 'x');
    t.throws(() => compileLinkFault(fault, PROCESSES), { message: entry.message }, entry.name);
  }
  const lossToDns = compileLinkFault(validateLinkFault({ a: 'customer-eu', b: 'dns', kind: 'loss', probability: 0.5 }, PROCESSES, 'y'), PROCESSES);
  t.same(lossToDns.map((entry) => entry.server), ['dns'], 'loss acts on the DNS server, which listens on UDP');
  t.end();
});

void t.test('link faults rejected', (t) => {
  const cases: { name: string; input: unknown; message: RegExp }[] = [
    { name: 'unknown process', input: { a: 'nobody', b: 'dns', kind: 'blackhole' }, message: /link fault a is "nobody"; expected the name of a process of this cluster: master1/ },
    { name: 'same process twice', input: { a: 'dns', b: 'dns', kind: 'blackhole' }, message: /a and b are both "dns"/ },
    { name: 'unknown kind', input: { a: 'dns', b: '*', kind: 'drop' }, message: /kind is "drop"; expected one of delay, bandwidth, blackhole, reset, loss/ },
    { name: 'reset one way', input: { a: 'dns', b: '*', kind: 'reset', direction: 'a-to-b' }, message: /reset closes both directions/ },
    { name: 'negative delay', input: { a: 'dns', b: '*', kind: 'delay', delayMs: -1 }, message: /delayMs is -1; expected a number from 0 to 600000/ },
    { name: 'missing rate', input: { a: 'dns', b: '*', kind: 'bandwidth' }, message: /bytesPerSecond is missing/ },
    { name: 'parameter of another kind', input: { a: 'dns', b: '*', kind: 'blackhole', delayMs: 5 }, message: /delayMs does not apply to a blackhole fault, which takes no parameters/ },
    { name: 'unknown field', input: { a: 'dns', b: '*', kind: 'blackhole', rate: 5 }, message: /field "rate" is unknown/ },
    { name: 'bad direction', input: { a: 'dns', b: '*', kind: 'blackhole', direction: 'up' }, message: /direction is "up"; expected one of both, a-to-b, b-to-a/ },
    { name: 'bad id', input: { id: 'a b', a: 'dns', b: '*', kind: 'blackhole' }, message: /id is "a b"/ },
  ];
  for (const entry of cases) {
    t.throws(() => validateLinkFault(entry.input, PROCESSES, 'x'), ConfigError, `${entry.name}: ConfigError`);
    t.throws(() => validateLinkFault(entry.input, PROCESSES, 'x'), { message: entry.message }, `${entry.name}: message`);
  }
  t.end();
});

void t.test('link between two clients', (t) => {
  const fault = validateLinkFault({ a: 'rep-us', b: 'customer-eu', kind: 'blackhole' }, PROCESSES, 'f6');
  t.throws(() => compileLinkFault(fault, PROCESSES), { message: /neither side has a listener behind the fault layer/ }, 'no connection runs between them');
  t.end();
});
