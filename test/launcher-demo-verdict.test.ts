import t from 'tap';

import type { DemoRules } from '../src/launcher/demo-prediction.js';
import { expectedHomeNodes, judgeDemo, type DemoNode, type DemoObservation } from '../src/launcher/demo-verdict.js';

function node(name: string, prefixes: string[], clients: DemoNode['clients'] = [], state: Partial<DemoNode> = {}): DemoNode {
  return { name, address: '', online: true, accepting: true, prefixes, clients, ...state };
}

/** Returns an observation of a correct session: rep home us-1, customer home eu-1. */
function goodObservation(): DemoObservation {
  const entry = (client: string, stream: string, direction: 'publish' | 'subscribe'): DemoNode['clients'][number] => ({ client, clientId: `${client}-id`, address: '', stream, direction, reason: '' });
  const stream = (name: string, from: string, to: string, through: string): DemoObservation['streams'][number] => ({
    stream: name, from, to, node: through, publisherNode: through, framesSent: 10, received: 10, verified: 10, lost: 0, reordered: 0, duplicated: 0, corrupted: 0, done: true, meanLatencyMs: 1,
  });
  return {
    masterName: 'master1',
    frameCount: 10,
    connections: [
      { client: 'rep', role: 'representative', address: '127.20.0.5', kind: 'master', node: 'master1', reason: '', state: 'open' },
      { client: 'rep', role: 'representative', address: '127.20.0.5', kind: 'home', node: 'us-1', reason: '', state: 'joined' },
      { client: 'rep', role: 'representative', address: '127.20.0.5', kind: 'cross', node: 'eu-1', reason: '', state: 'joined' },
      { client: 'cust', role: 'customer', address: '127.30.0.5', kind: 'master', node: 'master1', reason: '', state: 'open' },
      { client: 'cust', role: 'customer', address: '127.30.0.5', kind: 'home', node: 'eu-1', reason: '', state: 'joined' },
      { client: 'cust', role: 'customer', address: '127.30.0.5', kind: 'cross', node: 'us-1', reason: '', state: 'joined' },
    ],
    streams: [stream('customer-screen', 'cust', 'rep', 'eu-1'), stream('rep-screen', 'rep', 'cust', 'us-1')],
    nodes: [
      node('us-1', ['127.20.0.0/16'], [entry('rep', 'rep-screen', 'publish'), entry('cust', 'rep-screen', 'subscribe')]),
      node('us-2', ['127.20.0.0/16']),
      node('eu-1', ['127.30.0.0/16'], [entry('cust', 'customer-screen', 'publish'), entry('rep', 'customer-screen', 'subscribe')]),
    ],
  };
}

function failedRules(observation: DemoObservation): string[] {
  return judgeDemo(observation).checks.filter((check) => !check.ok).map((check) => check.rule);
}

void t.test('expected home nodes', (t) => {
  const nodes = [node('wide', ['127.0.0.0/8']), node('us-1', ['127.20.0.0/16']), node('us-2', ['127.20.0.0/16']), node('host', ['127.20.0.9'])];
  t.same(expectedHomeNodes('127.20.0.5', nodes).nodes, ['us-1', 'us-2'], 'equal-length tie keeps both');
  t.same(expectedHomeNodes('127.20.0.9', nodes).nodes, ['host'], 'single address wins');
  t.same(expectedHomeNodes('127.40.0.1', nodes).nodes, ['wide'], 'shorter prefix when it is the only match');
  t.same(expectedHomeNodes('127.40.0.1', [node('a', ['127.20.0.0/16']), node('b', [])]).nodes, ['a', 'b'], 'no match allows every candidate');
  const offline = [node('us-1', ['127.20.0.0/16'], [], { online: false }), node('eu-1', ['127.30.0.0/16'])];
  t.same(expectedHomeNodes('127.20.0.5', offline).nodes, ['eu-1'], 'offline node is no candidate');
  const closed = [node('us-1', ['127.20.0.0/16'], [], { accepting: false }), node('eu-1', [])];
  t.same(expectedHomeNodes('127.20.0.5', closed).nodes, ['eu-1'], 'node not accepting is no candidate');
  t.end();
});

void t.test('verdict passes a correct session', (t) => {
  const verdict = judgeDemo(goodObservation());
  t.equal(verdict.ok, true, 'ok');
  t.same(verdict.checks.filter((check) => !check.ok), [], 'no failed check');
  t.end();
});

void t.test('verdict fails a wrong home node', (t) => {
  const observation = goodObservation();
  observation.connections[1]!.node = 'eu-1';
  t.ok(failedRules(observation).includes('rep home node obeys the prefix rule'));
  t.end();
});

void t.test('verdict fails a wrong cross node', (t) => {
  const observation = goodObservation();
  observation.connections[5]!.node = 'us-2';
  t.ok(failedRules(observation).includes("customer's screen-share connection goes to the representative's home node"));
  t.end();
});

void t.test('verdict fails lost frames', (t) => {
  const observation = goodObservation();
  observation.streams[0]!.verified = 9;
  observation.streams[0]!.lost = 1;
  t.same(failedRules(observation), ['customer-screen delivered every frame intact']);
  t.end();
});

void t.test('verdict fails a stream on another node', (t) => {
  const observation = goodObservation();
  observation.nodes[2]!.clients = [];
  const failed = failedRules(observation);
  t.ok(failed.includes('customer-screen publish connection of cust is on the node it names'), 'publisher not reported');
  t.ok(failed.includes('customer-screen subscribe connection of rep is on the node it names'), 'subscriber not reported');
  t.end();
});

void t.test('verdict fails an empty observation', (t) => {
  const verdict = judgeDemo({ masterName: 'master1', frameCount: 10, connections: [], streams: [], nodes: [] });
  t.equal(verdict.ok, false, 'not ok');
  t.end();
});

void t.test('expected home nodes by method', (t) => {
  const at = new Date('2026-07-01T12:00:00Z');
  const nodes = [
    node('us-1', [], [], { timezone: 'America/New_York', srvPriority: 20, srvWeight: 100 }),
    node('eu-1', [], [], { timezone: 'Europe/Berlin', srvPriority: 10, srvWeight: 60 }),
    node('eu-2', [], [], { timezone: 'Europe/Paris', srvPriority: 10, srvWeight: 0 }),
    node('in-1', [], [], { timezone: '+05:30', srvPriority: 5, srvWeight: 10, online: false }),
  ];
  const resolvers = [
    { name: 'eu-dns', sources: ['127.30.0.0/16'], trafficNodes: ['in-1', 'eu-2'] },
    { name: 'eu-host', sources: ['127.30.0.9'], trafficNodes: ['us-1'] },
  ];
  const anycast = { routes: [{ prefix: '127.30.0.0/16', node: 'eu-1' }, { prefix: '127.30.0.0/24', node: 'us-1' }], defaultNode: 'eu-2' };
  const cases: [string, DemoRules, string, string | undefined, string[], string | undefined][] = [
    ['random allows every candidate', { method: 'random' }, '127.30.0.5', undefined, ['us-1', 'eu-1', 'eu-2'], undefined],
    ['timezone ties on equal offsets', { method: 'timezone' }, '127.30.0.5', 'Europe/Rome', ['eu-1', 'eu-2'], undefined],
    ['timezone skips offline half-hour node', { method: 'timezone' }, '127.30.0.5', 'Asia/Kolkata', ['eu-1', 'eu-2'], undefined],
    ['srv lowest online priority', { method: 'srv' }, '127.30.0.5', undefined, ['eu-1', 'eu-2'], 'srv priority 10 weight 60'],
    ['a-record view skips offline node', { method: 'a-record', resolvers }, '127.30.0.5', undefined, ['eu-2'], 'a-record via eu-dns'],
    ['a-record longest source wins', { method: 'a-record', resolvers }, '127.30.0.9', undefined, ['us-1'], 'a-record via eu-host'],
    ['a-record outside views', { method: 'a-record', resolvers }, '127.40.0.5', undefined, ['us-1', 'eu-1', 'eu-2'], 'a-record via the default view'],
    ['anycast longest route', { method: 'anycast', anycast }, '127.30.0.5', undefined, ['us-1'], 'anycast route 127.30.0.0/24'],
    ['anycast shorter route', { method: 'anycast', anycast }, '127.30.1.5', undefined, ['eu-1'], 'anycast route 127.30.0.0/16'],
    ['anycast default', { method: 'anycast', anycast }, '127.40.0.5', undefined, ['eu-2'], 'anycast default route'],
  ];
  for (const [name, rules, address, timezone, expected, reason] of cases) {
    const prediction = expectedHomeNodes(address, nodes, { rules, at, ...(timezone === undefined ? {} : { timezone }) });
    t.same(prediction.nodes, expected, `${name}: nodes (${prediction.rule})`);
    t.equal(prediction.reasonFor?.(expected[0]!), reason, `${name}: reason`);
  }
  t.same(expectedHomeNodes('127.30.0.5', [node('p', ['127.30.0.0/16']), ...nodes], { rules: { method: 'anycast', anycast }, at }).nodes, ['p'], 'a prefix wins over the method');
  t.end();
});

void t.test('home reason must explain the landing', (t) => {
  const observation = goodObservation();
  observation.nodes = observation.nodes.map((entry) => ({ ...entry, prefixes: [] }));
  observation.rules = { method: 'anycast', anycast: { routes: [{ prefix: '127.30.0.0/16', node: 'eu-1' }], defaultNode: 'us-1' } };
  const customerHome = observation.connections.find((connection) => connection.client === 'cust' && connection.kind === 'home')!;
  const repHome = observation.connections.find((connection) => connection.client === 'rep' && connection.kind === 'home')!;
  customerHome.reason = 'anycast route 127.30.0.0/16';
  repHome.reason = 'anycast default route';
  t.same(failedRules(observation), [], 'matching reasons pass');
  repHome.reason = 'random among 3 candidates';
  t.same(failedRules(observation), ['rep home reason explains the landing'], 'a wrong reason fails');
  t.end();
});
