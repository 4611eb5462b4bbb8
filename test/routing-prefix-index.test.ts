import t from 'tap';

import { LinearPrefixScan, PrefixIndex } from '../src/routing/prefix-index.js';
import type { PrefixAssignment } from '../src/routing/prefix-index.js';
import { formatIpv4, maskOfLength, parseClientAddress, parsePrefix } from '../src/routing/prefix.js';
import { createRng } from '../src/routing/rng.js';
import type { Rng } from '../src/routing/rng.js';

function assign(text: string, node: number): PrefixAssignment {
  return { prefix: parsePrefix(text, { nodeName: `node${node}`, line: 1 }), node };
}

function address(text: string): number {
  const parsed = parseClientAddress(text);
  if (parsed === null) {
    throw new Error(`test address ${text} is not IPv4`);
  }
  return parsed;
}

function flags(nodeCount: number, offline: readonly number[] = []): Uint8Array {
  const result = new Uint8Array(nodeCount).fill(1);
  for (const node of offline) {
    result[node] = 0;
  }
  return result;
}

function matchText(index: PrefixIndex, ip: string, isCandidate: Uint8Array): string {
  const entry = index.lookup(address(ip), isCandidate);
  return entry < 0 ? 'none' : index.prefixOf(entry).text;
}

// Nodes 0-3 serve nested prefixes around 10.1.2.3; node 4 serves a disjoint one.
const nested = [
  assign('10.0.0.0/8', 0),
  assign('10.1.0.0/16', 1),
  assign('10.1.2.0/24', 2),
  assign('10.1.2.3', 3),
  assign('192.168.0.0/16', 4),
];

void t.test('PrefixIndex nested prefixes', (t) => {
  const index = PrefixIndex.build(nested);
  const cases: { ip: string; offline: number[]; expected: string }[] = [
    { ip: '10.1.2.3', offline: [], expected: '10.1.2.3/32' },
    { ip: '10.1.2.4', offline: [], expected: '10.1.2.0/24' },
    { ip: '10.1.2.2', offline: [], expected: '10.1.2.0/24' },
    { ip: '10.1.3.1', offline: [], expected: '10.1.0.0/16' },
    { ip: '10.2.0.0', offline: [], expected: '10.0.0.0/8' },
    { ip: '10.255.255.255', offline: [], expected: '10.0.0.0/8' },
    { ip: '9.255.255.255', offline: [], expected: 'none' },
    { ip: '11.0.0.0', offline: [], expected: 'none' },
    { ip: '192.168.77.1', offline: [], expected: '192.168.0.0/16' },
    { ip: '10.1.2.3', offline: [3], expected: '10.1.2.0/24' },
    { ip: '10.1.2.3', offline: [2, 3], expected: '10.1.0.0/16' },
    { ip: '10.1.2.3', offline: [1, 2, 3], expected: '10.0.0.0/8' },
    { ip: '10.1.2.3', offline: [1, 3], expected: '10.1.2.0/24' },
    { ip: '10.1.2.3', offline: [0, 1, 2, 3], expected: 'none' },
    { ip: '10.1.2.4', offline: [2], expected: '10.1.0.0/16' },
    { ip: '192.168.77.1', offline: [4], expected: 'none' },
  ];
  for (const { ip, offline, expected } of cases) {
    t.equal(matchText(index, ip, flags(5, offline)), expected, `${ip} with nodes [${offline.join(',')}] offline`);
  }
  t.end();
});

void t.test('PrefixIndex shared prefix', (t) => {
  const index = PrefixIndex.build([assign('10.0.0.0/8', 0), assign('10.0.0.0/8', 2), assign('10.0.0.0/8', 0)]);
  const entry = index.lookup(address('10.9.9.9'), flags(3));
  t.equal(index.entryCount, 1, 'one entry for the shared prefix');
  t.same(Array.from(index.nodesOf(entry)), [0, 2], 'both nodes listed once');
  t.equal(index.lookup(address('10.9.9.9'), flags(3, [0])), entry, 'still matched with one node offline');
  t.equal(index.lookup(address('10.9.9.9'), flags(3, [0, 2])), -1, 'no match with both offline');
  t.end();
});

void t.test('PrefixIndex address space edges', (t) => {
  const index = PrefixIndex.build([
    assign('0.0.0.0/0', 0),
    assign('0.0.0.0', 1),
    assign('255.255.255.255', 2),
    assign('128.0.0.0/1', 3),
  ]);
  const all = flags(4);
  t.equal(matchText(index, '0.0.0.0', all), '0.0.0.0/32', 'lowest address');
  t.equal(matchText(index, '0.0.0.1', all), '0.0.0.0/0', 'after lowest address');
  t.equal(matchText(index, '127.255.255.255', all), '0.0.0.0/0', 'before upper half');
  t.equal(matchText(index, '128.0.0.0', all), '128.0.0.0/1', 'upper half start');
  t.equal(matchText(index, '255.255.255.254', all), '128.0.0.0/1', 'before highest address');
  t.equal(matchText(index, '255.255.255.255', all), '255.255.255.255/32', 'highest address');
  t.equal(matchText(index, '255.255.255.255', flags(4, [2, 3])), '0.0.0.0/0', 'default route as fallback');
  t.end();
});

void t.test('PrefixIndex empty', (t) => {
  const index = PrefixIndex.build([]);
  t.equal(index.lookup(address('10.0.0.1'), flags(0)), -1, 'no match');
  t.equal(index.intervalCount, 1, 'one interval covers the space');
  t.end();
});

void t.test('PrefixIndex rejects bad input', (t) => {
  const prefix = parsePrefix('10.0.0.0/8', { nodeName: 'n', line: 1 });
  t.throws(() => PrefixIndex.build([{ prefix, node: -1 }]), RangeError, 'negative node index');
  t.throws(() => PrefixIndex.build([{ prefix, node: 1.5 }]), RangeError, 'fractional node index');
  const index = PrefixIndex.build([{ prefix, node: 0 }]);
  t.throws(() => index.prefixOf(1), RangeError, 'prefixOf out of range');
  t.throws(() => index.nodesOf(-1), RangeError, 'nodesOf out of range');
  t.end();
});

/** Random prefixes of every length 0-32; short ones are rare so that nesting is deep but not total. */
function randomAssignments(rng: Rng, count: number, nodeCount: number): PrefixAssignment[] {
  const result: PrefixAssignment[] = [];
  for (let i = 0; i < count; i++) {
    const length = rng.nextInt(10) === 0 ? rng.nextInt(33) : 12 + rng.nextInt(21);
    // Networks inside 10.0.0.0/8 for most prefixes, so they overlap often.
    const base = rng.nextInt(4) === 0 ? rng.nextUint32() : (0x0a000000 | (rng.nextUint32() & 0x00ffffff)) >>> 0;
    const network = (base & maskOfLength(length)) >>> 0;
    result.push({ prefix: { network, length, text: `${formatIpv4(network)}/${length}` }, node: rng.nextInt(nodeCount) });
  }
  return result;
}

/** Addresses at and around every prefix boundary, plus random ones. */
function probeAddresses(rng: Rng, assignments: readonly PrefixAssignment[]): number[] {
  const probes: number[] = [0, 0xffffffff];
  for (const { prefix } of assignments) {
    const end = prefix.network + 2 ** (32 - prefix.length) - 1;
    probes.push(prefix.network, end, (prefix.network - 1) >>> 0, (end + 1) >>> 0);
    probes.push((prefix.network | (rng.nextUint32() & ~maskOfLength(prefix.length))) >>> 0);
  }
  for (let i = 0; i < 2_000; i++) {
    probes.push(rng.nextUint32());
  }
  return probes;
}

void t.test('PrefixIndex matches linear scan', (t) => {
  for (const seed of ['index-1', 'index-2', 'index-3', 'index-4']) {
    const rng = createRng(seed);
    const nodeCount = 20;
    const assignments = randomAssignments(rng, 600, nodeCount);
    const index = PrefixIndex.build(assignments);
    const scan = new LinearPrefixScan(assignments);
    const probes = probeAddresses(rng, assignments);

    const mismatches: string[] = [];
    for (let round = 0; round < 4; round++) {
      // Round 0 has every node online; later rounds take a growing random share offline.
      const isCandidate = new Uint8Array(nodeCount).map(() => (rng.nextInt(4) < round ? 0 : 1));
      for (const probe of probes) {
        const entry = index.lookup(probe, isCandidate);
        const position = scan.lookup(probe, isCandidate);
        const indexed = entry < 0 ? 'none' : index.prefixOf(entry).text;
        const scanned = position < 0 ? 'none' : scan.prefixAt(position).text;
        if (indexed !== scanned) {
          mismatches.push(`${formatIpv4(probe)} round ${round}: index ${indexed}, scan ${scanned}`);
        }
      }
    }
    t.same(mismatches.slice(0, 5), [], `seed ${seed}: ${probes.length * 4} lookups agree`);
  }
  t.end();
});

void t.test('LinearPrefixScan prefixAt range', (t) => {
  const scan = new LinearPrefixScan(nested);
  t.throws(() => scan.prefixAt(5), RangeError);
  t.end();
});
