import t from 'tap';

import { METHODS, parseMethod } from '../src/routing/method.js';
import type { ChooserNode } from '../src/routing/node-chooser.js';
import { NodeChooser } from '../src/routing/node-chooser.js';
import { PrefixError } from '../src/routing/prefix.js';
import { createRng } from '../src/routing/rng.js';
import type { Method } from '../src/routing/method.js';

function node(name: string, fields: Partial<ChooserNode> = {}): ChooserNode {
  return { name, online: true, accepting: true, configCurrent: true, prefixes: [], ...fields };
}

function chooser(method: Method, nodes: readonly ChooserNode[], seed = 'chooser'): NodeChooser {
  const result = new NodeChooser({ rng: createRng(seed) }, { method });
  result.setNodes(nodes);
  return result;
}

const WINTER = new Date('2026-01-15T12:00:00Z');

// Four nodes with nested prefixes around 127.30.1.5 and one shared /16 elsewhere.
const prefixNodes = [
  node('global', { prefixes: ['127.0.0.0/8'] }),
  node('region', { prefixes: ['127.30.0.0/16', '127.40.0.0/16'] }),
  node('site', { prefixes: ['127.30.1.0/255.255.255.0'] }),
  node('host', { prefixes: ['127.30.1.5', '127.40.0.0/16'] }),
];

void t.test('parseMethod', (t) => {
  t.same(METHODS, ['random', 'timezone', 'srv', 'a-record', 'anycast'], 'all methods');
  for (const method of METHODS) {
    t.equal(parseMethod(method), method, method);
  }
  t.throws(() => parseMethod('geo'), {
    name: 'ConfigError',
    message: 'method "geo" is invalid; expected one of random, timezone, srv, a-record, anycast',
  });
  t.throws(() => parseMethod('Random'), { name: 'ConfigError' }, 'names are case-sensitive');
  t.end();
});

void t.test('chooser prefix longest candidate wins', (t) => {
  const cases: { ip: string; patch?: [string, Partial<ChooserNode>]; node: string; prefix: string }[] = [
    { ip: '127.30.1.5', node: 'host', prefix: '127.30.1.5/32' },
    { ip: '127.30.1.6', node: 'site', prefix: '127.30.1.0/24' },
    { ip: '127.30.2.1', node: 'region', prefix: '127.30.0.0/16' },
    { ip: '127.31.0.1', node: 'global', prefix: '127.0.0.0/8' },
    { ip: '::ffff:127.30.1.5', node: 'host', prefix: '127.30.1.5/32' },
    { ip: '127.30.1.5', patch: ['host', { online: false }], node: 'site', prefix: '127.30.1.0/24' },
    { ip: '127.30.1.5', patch: ['host', { accepting: false }], node: 'site', prefix: '127.30.1.0/24' },
    { ip: '127.30.1.5', patch: ['host', { configCurrent: false }], node: 'site', prefix: '127.30.1.0/24' },
    { ip: '127.30.1.6', patch: ['site', { accepting: false }], node: 'region', prefix: '127.30.0.0/16' },
    { ip: '127.30.2.1', patch: ['region', { online: false }], node: 'global', prefix: '127.0.0.0/8' },
  ];
  for (const { ip, patch, node: expected, prefix } of cases) {
    const subject = chooser('random', prefixNodes);
    if (patch !== undefined) {
      subject.updateNode(patch[0], patch[1]);
    }
    const choice = subject.choose({ clientIp: ip, utcOffsetMinutes: 0 });
    const label = `${ip}${patch === undefined ? '' : ` with ${patch[0]} ${JSON.stringify(patch[1])}`}`;
    t.equal(choice.kind === 'node' ? choice.node : choice.kind, expected, `${label}: node`);
    t.equal(choice.reason.prefix, prefix, `${label}: prefix`);
  }
  t.end();
});

void t.test('chooser prefix reason', (t) => {
  const choice = chooser('random', prefixNodes).choose({ clientIp: '127.30.2.1', utcOffsetMinutes: 0 });
  t.same(choice.reason, {
    method: 'prefix',
    prefix: '127.30.0.0/16',
    prefixLength: 16,
    candidates: 4,
    tied: 1,
    text: 'prefix 127.30.0.0/16 (length 16), 1 of 4 candidates',
  });
  t.end();
});

void t.test('chooser prefix tie', (t) => {
  const subject = chooser('random', prefixNodes);
  const choice = subject.choose({ clientIp: '127.40.9.9', utcOffsetMinutes: 0 });
  t.ok(choice.kind === 'node' && ['region', 'host'].includes(choice.node), 'one of the tied nodes');
  t.equal(choice.reason.tied, 2, 'two tied');
  t.equal(choice.reason.text, 'prefix 127.40.0.0/16 (length 16), 2 tied of 4 candidates', 'text');

  subject.updateNode('host', { online: false });
  const alone = subject.choose({ clientIp: '127.40.9.9', utcOffsetMinutes: 0 });
  t.equal(alone.kind === 'node' ? alone.node : alone.kind, 'region', 'the remaining tied node');
  t.equal(alone.reason.text, 'prefix 127.40.0.0/16 (length 16), 1 of 3 candidates', 'text after one goes offline');
  t.end();
});

void t.test('chooser prefix overrides every method', (t) => {
  for (const method of METHODS) {
    const choice = chooser(method, prefixNodes).choose({ clientIp: '127.30.1.6', utcOffsetMinutes: 0, at: WINTER });
    t.equal(choice.kind === 'node' ? choice.node : choice.kind, 'site', method);
  }
  t.end();
});

void t.test('chooser client without prefix match', (t) => {
  for (const ip of ['10.0.0.1', '::1', '2001:db8::5']) {
    const choice = chooser('random', prefixNodes).choose({ clientIp: ip, utcOffsetMinutes: 0 });
    t.equal(choice.reason.method, 'random', `${ip} falls to the method`);
  }
  t.end();
});

void t.test('chooser no candidates', (t) => {
  const nodes = [
    node('off', { online: false, prefixes: ['127.0.0.0/8'] }),
    node('closed', { accepting: false }),
    node('stale', { configCurrent: false }),
  ];
  for (const method of METHODS) {
    const choice = chooser(method, nodes).choose({ clientIp: '127.0.0.1', utcOffsetMinutes: 0 });
    t.same(
      choice,
      {
        kind: 'none',
        reason: {
          method,
          candidates: 0,
          tied: 0,
          text: 'no candidate: 0 of 3 traffic nodes are online, accepting and on the current configuration',
        },
      },
      method,
    );
  }
  const empty = chooser('random', []).choose({ clientIp: '127.0.0.1', utcOffsetMinutes: 0 });
  t.equal(empty.kind, 'none', 'no nodes at all');
  t.end();
});

void t.test('chooser random method', (t) => {
  const nodes = [node('a'), node('b'), node('c'), node('d'), node('off', { online: false })];
  const choice = chooser('random', nodes).choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 0 });
  t.ok(choice.kind === 'node' && ['a', 'b', 'c', 'd'].includes(choice.node), 'a candidate');
  t.same(choice.reason, { method: 'random', candidates: 4, tied: 4, text: 'random among 4 candidates' });
  t.end();
});

void t.test('chooser delegated methods', (t) => {
  const nodes = [node('a'), node('b', { accepting: false })];
  const texts: Record<string, string> = {
    srv: "srv: delegated to the client's DNS SRV lookup, 1 candidate",
    'a-record': "a-record: delegated to the client's DNS A record lookup, 1 candidate",
    anycast: 'anycast: delegated to anycast routing in the network, 1 candidate',
  };
  for (const method of ['srv', 'a-record', 'anycast'] as const) {
    const choice = chooser(method, nodes).choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 0 });
    t.same(choice, { kind: 'delegated', method, reason: { method, candidates: 1, tied: 0, text: texts[method] } }, method);
  }
  t.end();
});

void t.test('chooser timezone fixed offsets', (t) => {
  const nodes = [
    node('kolkata', { timezone: '+05:30' }),
    node('kathmandu', { timezone: '+05:45' }),
    node('marquesas', { timezone: '-09:30' }),
    node('chatham', { timezone: '+12:45' }),
    node('kiritimati', { timezone: '+14:00' }),
    node('baker', { timezone: '-12:00' }),
  ];
  const cases: { client: number; node: string; distance: number }[] = [
    { client: 330, node: 'kolkata', distance: 0 },
    { client: 345, node: 'kathmandu', distance: 0 },
    { client: 340, node: 'kathmandu', distance: 5 },
    { client: 300, node: 'kolkata', distance: 30 },
    { client: -570, node: 'marquesas', distance: 0 },
    { client: -540, node: 'marquesas', distance: 30 },
    // -10:00 and +14:00 are the same clock time a day apart, so they meet on the circle.
    { client: -600, node: 'kiritimati', distance: 0 },
    { client: 765, node: 'chatham', distance: 0 },
    { client: 780, node: 'chatham', distance: 15 },
    { client: 800, node: 'chatham', distance: 35 },
    { client: 820, node: 'kiritimati', distance: 20 },
    { client: 840, node: 'kiritimati', distance: 0 },
    { client: -720, node: 'baker', distance: 0 },
    { client: -700, node: 'baker', distance: 20 },
  ];
  for (const { client, node: expected, distance } of cases) {
    const choice = chooser('timezone', nodes).choose({ clientIp: '10.0.0.1', utcOffsetMinutes: client, at: WINTER });
    t.equal(choice.kind === 'node' ? choice.node : choice.kind, expected, `client ${client}: node`);
    t.match(choice.reason.text, `(distance ${distance} min)`, `client ${client}: distance`);
  }
  t.end();
});

void t.test('chooser timezone date line', (t) => {
  const nodes = [node('pacific-west', { timezone: '-11:00' }), node('utc', { timezone: '+00:00' })];
  const choice = chooser('timezone', nodes).choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 720, at: WINTER });
  t.equal(choice.kind === 'node' ? choice.node : choice.kind, 'pacific-west', 'node across the date line');
  t.same(choice.reason, {
    method: 'timezone',
    candidates: 2,
    tied: 1,
    text: 'timezone: node offset -660 nearest to client +720 (distance 60 min), 1 of 2',
  });
  t.end();
});

void t.test('chooser timezone reason with tie', (t) => {
  const nodes = [
    node('berlin', { timezone: 'Europe/Berlin' }),
    node('paris', { timezone: '+01:00' }),
    node('tokyo', { timezone: 'Asia/Tokyo' }),
    node('new-york', { timezone: 'America/New_York' }),
  ];
  const choice = chooser('timezone', nodes).choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 60, at: WINTER });
  t.ok(choice.kind === 'node' && ['berlin', 'paris'].includes(choice.node), 'one of the tied nodes');
  t.same(choice.reason, {
    method: 'timezone',
    candidates: 4,
    tied: 2,
    text: 'timezone: node offset +60 nearest to client +60 (distance 0 min), 2 tied of 4',
  });
  t.end();
});

void t.test('chooser timezone daylight saving 2026', (t) => {
  // Each pair sets a zone against a fixed offset 30 minutes beside the zone's
  // summer (or winter) offset, so the choice flips at the transition.
  const berlin = [node('berlin', { timezone: 'Europe/Berlin' }), node('fixed', { timezone: '+01:30' })];
  const newYork = [node('new-york', { timezone: 'America/New_York' }), node('fixed', { timezone: '-04:30' })];
  const cases: { nodes: ChooserNode[]; at: string; client: number; node: string; offset: string }[] = [
    { nodes: berlin, at: '2026-03-29T00:59:59Z', client: 120, node: 'fixed', offset: '+90' },
    { nodes: berlin, at: '2026-03-29T01:00:00Z', client: 120, node: 'berlin', offset: '+120' },
    { nodes: berlin, at: '2026-10-25T00:59:59Z', client: 120, node: 'berlin', offset: '+120' },
    { nodes: berlin, at: '2026-10-25T01:00:00Z', client: 120, node: 'fixed', offset: '+90' },
    { nodes: berlin, at: '2026-03-29T00:59:59Z', client: 60, node: 'berlin', offset: '+60' },
    { nodes: berlin, at: '2026-03-29T01:00:00Z', client: 60, node: 'fixed', offset: '+90' },
    { nodes: newYork, at: '2026-03-08T06:59:59Z', client: -240, node: 'fixed', offset: '-270' },
    { nodes: newYork, at: '2026-03-08T07:00:00Z', client: -240, node: 'new-york', offset: '-240' },
    { nodes: newYork, at: '2026-11-01T05:59:59Z', client: -240, node: 'new-york', offset: '-240' },
    { nodes: newYork, at: '2026-11-01T06:00:00Z', client: -240, node: 'fixed', offset: '-270' },
    { nodes: newYork, at: '2026-03-08T06:59:59Z', client: -300, node: 'new-york', offset: '-300' },
  ];
  for (const { nodes, at, client, node: expected, offset } of cases) {
    const choice = chooser('timezone', nodes).choose({ clientIp: '10.0.0.1', utcOffsetMinutes: client, at: new Date(at) });
    const label = `${nodes[0]!.name} at ${at}, client ${client}`;
    t.equal(choice.kind === 'node' ? choice.node : choice.kind, expected, `${label}: node`);
    t.match(choice.reason.text, `node offset ${offset} `, `${label}: node offset`);
  }
  t.end();
});

void t.test('chooser timezone nodes without zone', (t) => {
  const mixed = [node('tokyo', { timezone: '+09:00' }), node('bare'), node('blank', { timezone: '' })];
  const choice = chooser('timezone', mixed).choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 0, at: WINTER });
  t.equal(choice.kind === 'node' ? choice.node : choice.kind, 'tokyo', 'only the node with a zone');
  t.equal(
    choice.reason.text,
    'timezone: node offset +540 nearest to client +0 (distance 540 min), 1 of 1 (2 candidates without a timezone skipped)',
    'text',
  );

  const none = chooser('timezone', [node('bare'), node('blank', { timezone: '' })]);
  const fallback = none.choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 0 });
  t.equal(fallback.reason.method, 'random', 'falls back to random');
  t.equal(fallback.reason.text, 'random among 2 candidates (timezone method, but no candidate has a timezone)', 'text');
  t.end();
});

void t.test('chooser timezone at defaults to now', (t) => {
  const choice = chooser('timezone', [node('berlin', { timezone: 'Europe/Berlin' })]).choose({
    clientIp: '10.0.0.1',
    utcOffsetMinutes: 60,
  });
  t.equal(choice.kind === 'node' ? choice.node : choice.kind, 'berlin');
  t.end();
});

void t.test('chooser setMethod', (t) => {
  const subject = chooser('random', [node('a', { timezone: '+01:00' })]);
  subject.setMethod('srv');
  t.equal(subject.choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 0 }).kind, 'delegated', 'srv delegates');
  subject.setMethod('timezone');
  t.equal(subject.choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 0 }).reason.method, 'timezone', 'timezone picks');
  t.throws(() => subject.setMethod('geo' as Method), { name: 'ConfigError' }, 'unknown method');
  t.throws(() => new NodeChooser({ rng: createRng(1) }, { method: 'nearest' as Method }), { name: 'ConfigError' }, 'constructor');
  t.end();
});

void t.test('chooser updateNode', (t) => {
  const subject = chooser('random', [node('a', { prefixes: ['127.0.0.0/8'] }), node('b')]);
  subject.updateNode('a', { online: false });
  t.equal(subject.choose({ clientIp: '127.0.0.1', utcOffsetMinutes: 0 }).reason.method, 'random', 'offline node skipped');
  subject.updateNode('a', { online: true, accepting: undefined });
  t.equal(subject.choose({ clientIp: '127.0.0.1', utcOffsetMinutes: 0 }).reason.method, 'prefix', 'back online');
  t.throws(() => subject.updateNode('zz', { online: false }), {
    name: 'ConfigError',
    message: 'traffic node "zz" is not known to the chooser; known nodes: a, b',
  });
  t.end();
});

void t.test('chooser setNodes validation', (t) => {
  const subject = chooser('random', [node('a', { prefixes: ['127.0.0.0/8'] })]);
  t.throws(
    () => subject.setNodes([node('b'), node('eu-traffic1', { prefixes: ['10.0.0.0/8', '10.1.0.0/16', '10.0.0.0/33'] })]),
    new PrefixError({ nodeName: 'eu-traffic1', line: 3 }, '10.0.0.0/33', 'the mask must be 0-32 or a contiguous dotted mask'),
  );
  t.throws(() => subject.setNodes([node('a'), node('a')]), {
    name: 'ConfigError',
    message: 'trafficNodes[1].name "a" is a duplicate; traffic node names must be unique',
  });
  t.throws(() => subject.setNodes([node('')]), { message: 'trafficNodes[0].name is missing; every traffic node needs a unique name' });
  t.throws(() => subject.setNodes([node('x', { timezone: '+05:20' })]), { name: 'TimezoneError' }, 'bad timezone');
  const choice = subject.choose({ clientIp: '127.0.0.1', utcOffsetMinutes: 0 });
  t.equal(choice.kind === 'node' ? choice.node : choice.kind, 'a', 'failed setNodes keeps the previous nodes');
  t.end();
});

void t.test('chooser setNodes copies input', (t) => {
  const input = node('a', { prefixes: ['127.0.0.0/8'] });
  const subject = chooser('random', [input]);
  input.online = false;
  t.equal(subject.choose({ clientIp: '127.0.0.1', utcOffsetMinutes: 0 }).kind, 'node', 'later edits to the input do not apply');
  t.end();
});

void t.test('chooser rejects bad client input', (t) => {
  const subject = chooser('random', [node('a')]);
  t.throws(() => subject.choose({ clientIp: 'client.example.test', utcOffsetMinutes: 0 }), TypeError, 'IP');
  t.throws(() => subject.choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 841 }), RangeError, 'offset');
  t.end();
});

void t.test('chooser explain lists tie', (t) => {
  const subject = chooser('random', prefixNodes, 'explain');
  const explanation = subject.explain({ clientIp: '127.40.9.9', utcOffsetMinutes: 0 }, createRng('explain-pick'));
  t.same(explanation.tied, ['region', 'host'], 'tied nodes in configuration order');
  t.same(explanation.candidates, ['global', 'region', 'site', 'host'], 'every candidate');
  t.equal(explanation.choice.reason.text, 'prefix 127.40.0.0/16 (length 16), 2 tied of 4 candidates', 'reason as choose gives it');
  t.same(
    explanation.nodes.map((entry) => [entry.name, entry.candidate]),
    [['global', true], ['region', true], ['site', true], ['host', true]],
    'node list',
  );
  t.end();
});

void t.test('chooser explain leaves generator alone', (t) => {
  const nodes = [node('a'), node('b'), node('c'), node('d')];
  const explained = chooser('random', nodes, 'replay');
  const plain = chooser('random', nodes, 'replay');
  for (let i = 0; i < 20; i++) explained.explain({ clientIp: '10.0.0.1', utcOffsetMinutes: 0 }, createRng(`side-${i}`));
  const picks = (subject: NodeChooser): string[] =>
    Array.from({ length: 50 }, () => {
      const choice = subject.choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 0 });
      return choice.kind === 'node' ? choice.node : choice.kind;
    });
  t.same(picks(explained), picks(plain), 'same picks with and without explanations in between');
  t.end();
});

void t.test('chooser explain same pick as choose', (t) => {
  const nodes = [node('berlin', { timezone: 'Europe/Berlin' }), node('paris', { timezone: '+01:00' }), node('tokyo', { timezone: 'Asia/Tokyo' })];
  for (const seed of ['s1', 's2', 's3', 's4', 's5', 's6']) {
    const explanation = chooser('timezone', nodes).explain({ clientIp: '10.0.0.1', utcOffsetMinutes: 60, at: WINTER }, createRng(seed));
    const choice = chooser('timezone', nodes, seed).choose({ clientIp: '10.0.0.1', utcOffsetMinutes: 60, at: WINTER });
    t.same(explanation.choice, choice, `seed ${seed}: explanation equals the choice of a chooser with that seed`);
    t.same(explanation.tied, ['berlin', 'paris'], `seed ${seed}: tie`);
    t.same(explanation.candidates, ['berlin', 'paris', 'tokyo'], `seed ${seed}: candidates with a timezone`);
  }
  t.end();
});

void t.test('chooser explain without candidates', (t) => {
  const subject = chooser('srv', [node('off', { online: false }), node('closed', { accepting: false })]);
  const explanation = subject.explain({ clientIp: '10.0.0.1', utcOffsetMinutes: 0 }, createRng(1));
  t.equal(explanation.choice.kind, 'none', 'none');
  t.same(explanation.candidates, [], 'no candidates');
  t.same(explanation.tied, [], 'no tie');
  t.same(
    explanation.nodes.map((entry) => [entry.name, entry.online, entry.accepting, entry.candidate]),
    [['off', false, true, false], ['closed', true, false, false]],
    'states',
  );
  t.end();
});
