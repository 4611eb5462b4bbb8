import t from 'tap';

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
