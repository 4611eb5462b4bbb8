// `atlas-sim route --topology FILE`: the offline explanation per method, and flag validation.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import type { SourcedExplanation } from '../src/cli/route-sources.js';
import { cliEntry } from '../src/launcher/project-root.js';

type TopologyExplanation = Extract<SourcedExplanation, { source: 'topology' }>;

const NODES = [
  { name: 'us-east', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York', srvPriority: 20, srvWeight: 50 },
  { name: 'us-east-lab', prefixes: ['127.20.5.0/24'], timezone: 'America/New_York', srvPriority: 20, srvWeight: 0 },
  { name: 'eu-central', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin', srvPriority: 10, srvWeight: 100 },
  { name: 'india', timezone: '+05:30', srvPriority: 10, srvWeight: 100 },
  { name: 'closed', accepting: false, timezone: '+09:00' },
];

const RESOLVERS = [
  { name: 'us-dns', sources: ['127.20.0.0/16', '10.0.0.0/8'], trafficNodes: ['us-east', 'india'] },
  { name: 'eu-dns', sources: ['127.30.0.0/16', '10.1.0.0/16'], trafficNodes: ['eu-central'] },
];
const ANYCAST = { routes: [{ prefix: '10.0.0.0/8', node: 'us-east' }, { prefix: '10.1.0.0/16', node: 'eu-central' }], defaultNode: 'india' };

const parent = await mkdtemp(join(tmpdir(), 'atlas-route-topology-'));
t.teardown(() => rm(parent, { recursive: true, force: true }));

async function topologyFile(method: string): Promise<string> {
  const file = join(parent, `${method}.json`);
  const topology = { clusterName: `route-${method}`, method, masters: [{ name: 'master1' }], trafficNodes: NODES, clients: [], resolvers: RESOLVERS, anycast: ANYCAST };
  await writeFile(file, JSON.stringify(topology));
  return file;
}

function route(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliEntry(), 'route', ...args], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

async function explain(method: string, ...args: string[]): Promise<TopologyExplanation> {
  const run = await route('--topology', await topologyFile(method), '--json', ...args);
  if (run.code !== 0) throw new Error(`route exited with ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as TopologyExplanation;
}

void t.test('route topology overlapping prefixes', async (t) => {
  const inside = await explain('random', '--ip', '127.20.5.9', '--tz', '-05:00', '--seed', 'x');
  t.equal(inside.node, 'us-east-lab', 'the /24 inside the /16 wins');
  t.equal(inside.reason.text, 'prefix 127.20.5.0/24 (length 24), 1 of 4 candidates', 'reason');
  t.equal(inside.seed, 'x', 'seed from --seed');
  t.equal(inside.seedSource, 'option', 'seed source');

  const outside = await explain('random', '--ip', '127.20.6.9', '--tz', '-05:00', '--seed', 'x');
  t.equal(outside.node, 'us-east', 'the /16 outside the /24');
  t.equal(outside.reason.prefixLength, 16, 'prefix length');
});

void t.test('route topology timezone method', async (t) => {
  const cases: { tz: string; at: string; tied: string[]; distance: number }[] = [
    { tz: '+05:30', at: '2026-01-15T12:00:00Z', tied: ['india'], distance: 0 },
    { tz: '+05:45', at: '2026-01-15T12:00:00Z', tied: ['india'], distance: 15 },
    { tz: 'Asia/Tokyo', at: '2026-01-15T12:00:00Z', tied: ['india'], distance: 210 },
    { tz: '+01:00', at: '2026-01-15T12:00:00Z', tied: ['eu-central'], distance: 0 },
    { tz: '+01:00', at: '2026-07-15T12:00:00Z', tied: ['eu-central'], distance: 60 },
    { tz: '-240', at: '2026-07-15T12:00:00Z', tied: ['us-east', 'us-east-lab'], distance: 0 },
  ];
  for (const { tz, at, tied, distance } of cases) {
    const explanation = await explain('timezone', '--ip', '10.1.2.3', '--tz', tz, '--at', at, '--seed', 'tz');
    const label = `${tz} at ${at}`;
    t.same(explanation.tied, tied, `${label}: nearest nodes`);
    t.ok(tied.includes(explanation.node ?? ''), `${label}: node is one of the nearest`);
    t.match(explanation.reason.text, `(distance ${distance} min)`, `${label}: distance`);
    t.notOk(explanation.candidates.includes('closed'), `${label}: a node not accepting is no candidate`);
  }
});

void t.test('route topology same seed same pick', async (t) => {
  const picks = async (seed: string): Promise<string[]> => {
    const answers: string[] = [];
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) answers.push((await explain('random', '--ip', ip, '--tz', '0', '--seed', seed)).node ?? '');
    return answers;
  };
  t.same(await picks('replay'), await picks('replay'), 'the same seed picks the same nodes');
  const random = await explain('random', '--ip', '10.0.0.1', '--tz', '0');
  t.equal(random.seedSource, 'random', 'a topology without a seed gets a random one');
  t.match(random.seed, /^[0-9a-f]{8}$/, 'the random seed is printed');
});

void t.test('route topology srv order', async (t) => {
  const explanation = await explain('srv', '--ip', '10.1.2.3', '--tz', '0', '--seed', 'srv');
  t.equal(explanation.kind, 'delegated', 'the client chooses');
  t.equal(explanation.node, undefined, 'no node from the master');
  const order = explanation.delegation?.srvOrder ?? [];
  t.same(order.map((record) => record.priority), [10, 10, 10, 20, 20], 'every node has a record, priorities ascend');
  t.same(order.slice(0, 3).map((record) => record.node).sort(), ['closed', 'eu-central', 'india'], 'priority 10 first, with the node that is not accepting');
  const reached = order.find((record) => record.node !== 'closed');
  t.equal(explanation.delegation?.node, reached?.node, 'the client reaches the first record of a candidate');
  t.equal(explanation.delegation?.landingReason, `srv priority 10 weight 100`, 'landing reason of a priority 10 node');
});

void t.test('route topology a-record views', async (t) => {
  const cases: { args: string[]; resolver: string; node: string }[] = [
    { args: ['--ip', '10.1.2.3'], resolver: 'eu-dns', node: 'eu-central' },
    { args: ['--ip', '10.9.2.3'], resolver: 'us-dns', node: 'us-east' },
    { args: ['--ip', '10.1.2.3', '--resolver', 'us-dns'], resolver: 'us-dns', node: 'us-east' },
  ];
  for (const { args, resolver, node } of cases) {
    const explanation = await explain('a-record', ...args, '--tz', '0', '--seed', 'd');
    const label = args.join(' ');
    t.equal(explanation.kind, 'delegated', `${label}: delegated`);
    t.equal(explanation.delegation?.resolver, resolver, `${label}: resolver view`);
    t.equal(explanation.delegation?.node, node, `${label}: first address of the view`);
    t.equal(explanation.delegation?.landingReason, `a-record via ${resolver}`, `${label}: landing reason`);
  }
});

void t.test('route topology anycast routes', async (t) => {
  const cases: { ip: string; node: string; landing: string }[] = [
    { ip: '10.1.2.3', node: 'eu-central', landing: 'anycast route 10.1.0.0/16' },
    { ip: '10.9.2.3', node: 'us-east', landing: 'anycast route 10.0.0.0/8' },
    { ip: '172.16.0.1', node: 'india', landing: 'anycast default route' },
  ];
  for (const { ip, node, landing } of cases) {
    const explanation = await explain('anycast', '--ip', ip, '--tz', '0', '--seed', 'd');
    t.equal(explanation.delegation?.node, node, `${ip}: node`);
    t.equal(explanation.delegation?.landingReason, landing, `${ip}: landing reason`);
    t.equal(explanation.reason.candidates, 4, `${ip}: candidates`);
  }
});

void t.test('route topology text output', async (t) => {
  const run = await route('--topology', await topologyFile('random'), '--ip', '127.30.0.9', '--tz', '+01:00', '--seed', 'text');
  t.equal(run.code, 0, 'exit 0');
  t.match(run.stdout, /node:\s+eu-central/, 'node line');
  t.match(run.stdout, /reason:\s+prefix 127\.30\.0\.0\/16 \(length 16\), 1 of 4 candidates/, 'reason line');
  t.match(run.stdout, /closed\s+online, not accepting\s+no/, 'node table row');
});

void t.test('route takes an IPv4-mapped address', async (t) => {
  const run = await route('--topology', await topologyFile('random'), '--ip', '::ffff:127.30.0.9', '--tz', '+01:00', '--seed', 'text');
  t.equal(run.code, 0, `exit 0: ${run.stderr}`);
  t.match(run.stdout, /reason:\s+prefix 127\.30\.0\.0\/16/, 'matched as 127.30.0.9');
});

void t.test('route rejects bad flags offline', async (t) => {
  const file = await topologyFile('random');
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['--ip', 'eu-client'], message: /--ip "eu-client" is not an IP address/ },
    { args: ['--ip', '::1'], message: /--ip "::1" is an IPv6 address, but routing rules match IPv4 only; give the client address in dotted form/ },
    { args: ['--ip', '2001:db8::1'], message: /--ip "2001:db8::1" is an IPv6 address/ },
    { args: ['--ip', '10.0.0.1', '--tz', '+25:00'], message: /--tz "\+25:00" is invalid: a fixed offset must be from -12:00 to \+14:00/ },
    { args: ['--ip', '10.0.0.1', '--tz', '+05:20'], message: /--tz "\+05:20" is invalid: the minutes of a fixed offset must be 00, 15, 30 or 45/ },
    { args: ['--ip', '10.0.0.1', '--tz', 'Mars/Olympus'], message: /--tz "Mars\/Olympus" is neither a UTC offset nor an IANA zone name/ },
    { args: ['--ip', '10.0.0.1', '--resolver', 'mars-dns'], message: /--resolver "mars-dns" is not a resolver view of this cluster; known resolver views: us-dns, eu-dns/ },
    { args: ['--ip', '10.0.0.1', '--at', 'yesterday'], message: /--at "yesterday" is not an ISO 8601 time/ },
    { args: ['--ip', '10.0.0.1', '--run-dir', parent], message: /--topology and --run-dir exclude each other/ },
  ];
  for (const { args, message } of cases) {
    const run = await route('--topology', file, ...args);
    t.equal(run.code, 2, `${args.join(' ')}: exit 2`);
    t.match(run.stderr, message, `${args.join(' ')}: message`);
  }
  const seedWithoutTopology = await route('--ip', '10.0.0.1', '--seed', 'x');
  t.match(seedWithoutTopology.stderr, /--seed applies only with --topology/, '--seed needs --topology');
});
