import { readFile } from 'node:fs/promises';
import t, { type Test } from 'tap';

import { DEFAULT_TOPOLOGY } from '../src/config/default-topology.js';
import { TopologyError, type TopologyProblem } from '../src/config/topology.js';
import { validateClientSpec, validateTopology } from '../src/config/topology-validation.js';
import { clientTimezoneEnv } from '../src/launcher/cluster-plan.js';

/** Returns a new small valid topology, so each case may break one field. */
function baseTopology(): Record<string, unknown> {
  return {
    clusterName: 'test',
    masters: [{ name: 'master1' }],
    trafficNodes: [{ name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' }],
    clients: [{ name: 'rep-us', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York' }],
  };
}

/** Validates and returns the problems, or fails the test when the topology is valid. */
function problemsOf(t: Test, value: unknown): TopologyProblem[] {
  try {
    validateTopology(value, 'case.json');
  } catch (error) {
    t.ok(error instanceof TopologyError, 'throws TopologyError');
    return (error as TopologyError).problems;
  }
  t.fail('topology was accepted');
  return [];
}

void t.test('default topology is valid', (t) => {
  const { topology, warnings } = validateTopology(DEFAULT_TOPOLOGY);
  t.same(topology, DEFAULT_TOPOLOGY, 'validation changes nothing');
  t.same(warnings, [], 'no warnings');
  t.end();
});

void t.test('shipped default.json matches default', async (t) => {
  const file = new URL('../topologies/default.json', import.meta.url);
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  t.same(validateTopology(parsed).topology, DEFAULT_TOPOLOGY);
});

void t.test('defaults fill missing fields', (t) => {
  const { topology } = validateTopology({ masters: [{ name: 'm1' }], trafficNodes: [{ name: 't1', timezone: '+01:00' }] });
  t.equal(topology.method, 'random', 'method');
  t.same(topology.heartbeat, { intervalMs: 500, timeoutMs: 2000 }, 'heartbeat');
  t.equal(topology.masters[0]?.model, 'Virtual', 'master model');
  t.equal(topology.trafficNodes[0]?.accepting, true, 'accepting');
  t.same(topology.trafficNodes[0]?.prefixes, [], 'prefixes');
  t.equal(topology.trafficNodes[0]?.srvPriority, 10, 'srv priority');
  t.equal(topology.trafficNodes[0]?.srvWeight, 100, 'srv weight');
  t.same(topology.clients, [], 'clients');
  t.same(topology.frames, { count: 300, sizeBytes: 16384, intervalMs: 5 }, 'frames');
  t.equal(topology.seed, undefined, 'seed');
  t.end();
});

void t.test('numeric seed becomes a string', (t) => {
  t.equal(validateTopology({ ...baseTopology(), seed: 42 }).topology.seed, '42');
  t.end();
});

void t.test('fractional seed names both accepted types', (t) => {
  t.throws(() => validateTopology({ ...baseTopology(), seed: 12.5 }), { message: /seed: 12\.5 must be a non-empty string or an integer/ });
  t.end();
});

void t.test('topology passed in code', (t) => {
  t.throws(() => validateTopology({ ...baseTopology(), method: 'nearest' }, 'topology'), { message: /^invalid topology:\n {2}method: "nearest"/ }, 'says "invalid topology" once');
  t.end();
});

void t.test('invalid fields name field, value and fix', (t) => {
  const cases: { name: string; edit: (topology: Record<string, unknown>) => void; field: string; value: unknown; fix: RegExp }[] = [
    { name: 'uppercase node name', edit: (x) => ((x.trafficNodes as object[])[0] = { name: 'US_1', timezone: '+00:00' }), field: 'trafficNodes[0].name', value: 'US_1', fix: /DNS label.*lowercase/ },
    { name: 'reserved node name', edit: (x) => ((x.masters as object[])[0] = { name: 'dns' }), field: 'masters[0].name', value: 'dns', fix: /reserved/ },
    { name: 'duplicate name', edit: (x) => ((x.masters as object[])[0] = { name: 'us-traffic1' }), field: 'trafficNodes[0].name', value: 'us-traffic1', fix: /already the name of masters\[0\]\.name/ },
    { name: 'bad prefix', edit: (x) => ((x.trafficNodes as object[])[0] = { name: 't1', timezone: '+00:00', prefixes: ['127.20.0.1/16'] }), field: 'trafficNodes[0].prefixes[0]', value: '127.20.0.1/16', fix: /write the network address 127\.20\.0\.0\/16/ },
    { name: 'bad timezone', edit: (x) => ((x.trafficNodes as object[])[0] = { name: 't1', timezone: 'Mars/Olympus' }), field: 'trafficNodes[0].timezone', value: 'Mars/Olympus', fix: /IANA zone name/ },
    { name: 'unknown method', edit: (x) => (x.method = 'closest'), field: 'method', value: 'closest', fix: /use one of random, timezone/ },
    { name: 'unknown model', edit: (x) => ((x.masters as object[])[0] = { name: 'm1', model: 'B500' }), field: 'masters[0].model', value: 'B500', fix: /B300, B400, Virtual/ },
    { name: 'three masters', edit: (x) => (x.masters = [{ name: 'm1' }, { name: 'm2' }, { name: 'm3' }]), field: 'masters', value: 3, fix: /one or two masters/ },
    { name: 'backup of another model', edit: (x) => (x.masters = [{ name: 'm1', model: 'B400' }, { name: 'm2', model: 'B300' }]), field: 'masters[1].model', value: 'B300', fix: /both masters of a failover pair must be the same model/ },
    { name: 'no traffic nodes', edit: (x) => (x.trafficNodes = []), field: 'trafficNodes', value: [], fix: /at least one traffic node/ },
    { name: 'heartbeat timeout too short', edit: (x) => (x.heartbeat = { intervalMs: 1000, timeoutMs: 1000 }), field: 'heartbeat.timeoutMs', value: 1000, fix: /greater than heartbeat\.intervalMs/ },
    { name: 'frame too large', edit: (x) => (x.frames = { sizeBytes: 2 * 1024 * 1024 }), field: 'frames.sizeBytes', value: 2 * 1024 * 1024, fix: /integer from 1 to/ },
    { name: 'client address not loopback', edit: (x) => ((x.clients as object[])[0] = { name: 'c1', role: 'customer', address: '10.0.0.5', timezone: '+00:00' }), field: 'clients[0].address', value: '10.0.0.5', fix: /127\.0\.0\.0\/8/ },
    { name: 'client address in node range', edit: (x) => ((x.clients as object[])[0] = { name: 'c1', role: 'customer', address: '127.150.0.5', timezone: '+00:00' }), field: 'clients[0].address', value: '127.150.0.5', fix: /launcher gives cluster nodes/ },
    { name: 'client role unknown', edit: (x) => ((x.clients as object[])[0] = { name: 'c1', role: 'agent', address: '127.20.0.5', timezone: '+00:00' }), field: 'clients[0].role', value: 'agent', fix: /"customer" or "representative"/ },
    { name: 'client half-hour offset', edit: (x) => ((x.clients as object[])[0] = { name: 'c1', role: 'customer', address: '127.20.0.5', timezone: '+05:30' }), field: 'clients[0].timezone', value: '+05:30', fix: /IANA zone name such as Asia\/Kolkata/ },
    { name: 'accepting not boolean', edit: (x) => ((x.trafficNodes as object[])[0] = { name: 't1', timezone: '+00:00', accepting: 'yes' }), field: 'trafficNodes[0].accepting', value: 'yes', fix: /true or false/ },
  ];
  for (const testCase of cases) {
    const topology = baseTopology();
    testCase.edit(topology);
    const problems = problemsOf(t, topology);
    t.equal(problems.length, 1, `${testCase.name}: one problem`);
    t.equal(problems[0]?.field, testCase.field, `${testCase.name}: field`);
    t.same(problems[0]?.value, testCase.value, `${testCase.name}: value`);
    t.match(problems[0]?.message ?? '', testCase.fix, `${testCase.name}: fix`);
  }
  t.end();
});

void t.test('error message lists every problem', (t) => {
  const topology = baseTopology();
  topology.method = 'nearest';
  (topology.trafficNodes as object[])[0] = { name: 'Bad Name', timezone: '+00:00' };
  try {
    validateTopology(topology, 'cluster.json');
    t.fail('topology was accepted');
  } catch (error) {
    const message = (error as Error).message;
    t.match(message, /^cluster\.json is an invalid topology:/, 'names the source');
    t.match(message, /method: "nearest" is not a traffic node selection method/, 'method line');
    t.match(message, /trafficNodes\[0\]\.name: "Bad Name" is not a DNS label/, 'name line');
  }
  t.end();
});

void t.test('root that is not an object is rejected', (t) => {
  const problems = problemsOf(t, []);
  t.equal(problems[0]?.field, '(root)');
  t.end();
});

void t.test('mixed traffic node models warn', (t) => {
  const topology = baseTopology();
  topology.trafficNodes = [
    { name: 't1', model: 'B300', timezone: '+00:00' },
    { name: 't2', model: 'B400', timezone: '+00:00' },
  ];
  const { warnings } = validateTopology(topology);
  t.equal(warnings.length, 1, 'one warning');
  t.match(warnings[0] ?? '', /mix appliance models \(B300, B400\)/, 'names the models');
  t.end();
});

void t.test('client spec validates alone', (t) => {
  const client = validateClientSpec({ name: 'c2', role: 'customer', address: '127.30.0.9', timezone: 'Europe/Berlin' });
  t.equal(client.displayName, 'c2', 'display name defaults to the name');
  t.throws(() => validateClientSpec({ name: 'c2', role: 'customer', address: '8.8.8.8', timezone: 'Europe/Berlin' }), TopologyError, 'public address rejected');
  t.end();
});

void t.test('client timezone maps to TZ', (t) => {
  t.equal(clientTimezoneEnv('Europe/Berlin'), 'Europe/Berlin', 'IANA name unchanged');
  t.equal(clientTimezoneEnv('+02:00'), 'Etc/GMT-2', 'east offset inverted');
  t.equal(clientTimezoneEnv('-05:00'), 'Etc/GMT+5', 'west offset inverted');
  t.equal(clientTimezoneEnv('+00:00'), 'Etc/UTC', 'zero offset');
  t.end();
});

void t.test('unknown keys are rejected by name', (t) => {
  const topology = baseTopology();
  topology.mehtod = 'srv';
  (topology.trafficNodes as Record<string, unknown>[])[0]!.srvWieght = 5;
  (topology.clients as Record<string, unknown>[])[0]!.resolver = 'eu-dns';
  topology.heartbeat = { intervalMs: 500, timeoutMs: 2000, jitter: 1 };
  const problems = problemsOf(t, topology);
  t.same(problems.map((problem) => problem.field).sort(), ['clients[0].resolver', 'heartbeat.jitter', 'mehtod', 'trafficNodes[0].srvWieght'], 'every unknown key named with its path');
  const method = problems.find((problem) => problem.field === 'mehtod');
  t.equal(method?.value, 'srv', 'value of the unknown key');
  t.match(method?.message ?? '', /unknown key.*method/, 'message lists the known keys');
  t.end();
});

void t.test('resolvers and anycast validate', (t) => {
  const topology = {
    ...baseTopology(),
    method: 'anycast',
    trafficNodes: [
      { name: 'us-traffic1', timezone: 'America/New_York' },
      { name: 'eu-traffic1', timezone: 'Europe/Berlin' },
    ],
    resolvers: [{ name: 'eu-dns', sources: ['127.30.0.0/16'], trafficNodes: ['eu-traffic1'] }],
    anycast: { routes: [{ prefix: '127.30.0.0/16', node: 'eu-traffic1' }], defaultNode: 'us-traffic1' },
  };
  const { topology: valid } = validateTopology(topology);
  t.same(valid.resolvers, topology.resolvers, 'resolvers kept');
  t.same(valid.anycast, topology.anycast, 'anycast kept');

  const cases: [string, Record<string, unknown>, string][] = [
    ['resolver node unknown', { resolvers: [{ name: 'eu-dns', sources: ['127.30.0.0/16'], trafficNodes: ['eu-traffic9'] }] }, 'resolvers[0].trafficNodes[0]'],
    ['resolver source invalid', { resolvers: [{ name: 'eu-dns', sources: ['127.30.0.1/16'], trafficNodes: ['eu-traffic1'] }] }, 'resolvers[0].sources[0]'],
    ['resolver without sources', { resolvers: [{ name: 'eu-dns', sources: [], trafficNodes: ['eu-traffic1'] }] }, 'resolvers[0].sources'],
    ['resolver name twice', { resolvers: [{ name: 'eu-dns', sources: ['127.30.0.0/16'], trafficNodes: ['eu-traffic1'] }, { name: 'eu-dns', sources: ['127.31.0.0/16'], trafficNodes: ['eu-traffic1'] }] }, 'resolvers[1].name'],
    ['anycast default unknown', { anycast: { routes: [], defaultNode: 'nowhere' } }, 'anycast.defaultNode'],
    ['anycast prefix twice', { anycast: { routes: [{ prefix: '127.30.0.0/16', node: 'eu-traffic1' }, { prefix: '127.30.0.0/16', node: 'us-traffic1' }], defaultNode: 'us-traffic1' } }, 'anycast.routes[1].prefix'],
    ['anycast route key unknown', { anycast: { routes: [{ prefix: '127.30.0.0/16', node: 'eu-traffic1', via: 'x' }], defaultNode: 'us-traffic1' } }, 'anycast.routes[0].via'],
    ['anycast method without table', { anycast: undefined }, 'anycast'],
  ];
  for (const [name, change, field] of cases) {
    const problems = problemsOf(t, { ...topology, ...change });
    t.same(problems.map((problem) => problem.field), [field], `${name}: ${problems.map((problem) => problem.message).join('; ')}`);
  }
  t.end();
});

void t.test('traffic is a reserved node name', (t) => {
  const problems = problemsOf(t, { ...baseTopology(), trafficNodes: [{ name: 'traffic', timezone: '+00:00' }], clients: [] });
  t.same(problems.map((problem) => problem.field), ['trafficNodes[0].name']);
  t.end();
});
