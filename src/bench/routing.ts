/**
 * Prefix index benchmark: longest-prefix lookups per second of PrefixIndex and of a
 * linear scan over the same prefixes, measured in the same run, with 10% of the
 * nodes offline so that lookups also walk past prefixes of non-candidate nodes.
 */
import { performance } from 'node:perf_hooks';

import { NodeChooser } from '../routing/node-chooser.js';
import { LinearPrefixScan, PrefixIndex } from '../routing/prefix-index.js';
import type { CandidateFlags, PrefixAssignment } from '../routing/prefix-index.js';
import { formatIpv4, maskOfLength } from '../routing/prefix.js';
import type { Rng } from '../routing/rng.js';
import { createRng } from '../routing/rng.js';
import type { BenchResult } from './types.js';

export interface RoutingBenchOptions {
  prefixCount?: number;
  nodeCount?: number;
  /** Minimum measured time per implementation, in milliseconds. */
  minDurationMs?: number;
  seed?: string;
}

export const DEFAULT_BENCH_PREFIX_COUNT = 10_000;
export const DEFAULT_BENCH_NODE_COUNT = 100;
export const DEFAULT_BENCH_MIN_DURATION_MS = 1_000;
const OFFLINE_NODE_SHARE = 0.1;
const ADDRESS_COUNT = 1 << 16;
const CHECKED_ADDRESS_COUNT = 4_096;
const SHORTEST_PREFIX_LENGTH = 8;

export async function benchRouting(options: RoutingBenchOptions = {}): Promise<BenchResult> {
  const prefixCount = options.prefixCount ?? DEFAULT_BENCH_PREFIX_COUNT;
  const nodeCount = options.nodeCount ?? DEFAULT_BENCH_NODE_COUNT;
  const minDurationMs = options.minDurationMs ?? DEFAULT_BENCH_MIN_DURATION_MS;
  const rng = createRng(options.seed ?? 'routing-bench');

  const assignments = randomAssignments(rng, prefixCount, nodeCount);
  const addresses = randomAddresses(rng, assignments, ADDRESS_COUNT);
  const isCandidate = candidateFlags(rng, nodeCount);

  const buildStart = performance.now();
  const index = PrefixIndex.build(assignments);
  const buildMs = performance.now() - buildStart;
  const scan = new LinearPrefixScan(assignments);

  const mismatches = countMismatches(index, scan, addresses.subarray(0, CHECKED_ADDRESS_COUNT), isCandidate);
  const indexRate = measureLookups((address) => index.lookup(address, isCandidate), addresses, minDurationMs);
  const linearRate = measureLookups((address) => scan.lookup(address, isCandidate), addresses, minDurationMs);
  const speedup = indexRate / linearRate;
  const chooseRate = measureChooser(assignments, nodeCount, isCandidate, addresses, minDurationMs);
  const offline = nodeCount - isCandidate.reduce((sum, flag) => sum + flag, 0);

  // Yield once so a runner that awaits several benchmarks can interleave its own output.
  await Promise.resolve();
  return {
    name: 'routing',
    lines: [
      `prefix index: ${prefixCount} prefixes over ${nodeCount} nodes (${offline} offline), ` +
        `${index.entryCount} distinct, ${index.intervalCount} intervals, built in ${buildMs.toFixed(1)} ms`,
      `index lookups: ${Math.round(indexRate).toLocaleString('en-US')} per second`,
      `linear scan lookups: ${Math.round(linearRate).toLocaleString('en-US')} per second`,
      `index / linear scan: ${speedup.toFixed(1)}x`,
      `full choices (NodeChooser.choose with the reason text, prefix or random): ${Math.round(chooseRate).toLocaleString('en-US')} per second`,
      `index checked against the linear scan on ${CHECKED_ADDRESS_COUNT} addresses: ${mismatches} mismatches`,
    ],
    metrics: {
      prefixes: prefixCount,
      nodes: nodeCount,
      offlineNodes: offline,
      distinctPrefixes: index.entryCount,
      intervals: index.intervalCount,
      buildMs,
      indexLookupsPerSecond: indexRate,
      linearLookupsPerSecond: linearRate,
      speedupOverLinear: speedup,
      chooserChoicesPerSecond: chooseRate,
      mismatches,
    },
  };
}

/** Random prefixes of length 8-32, each assigned to a random node. */
function randomAssignments(rng: Rng, prefixCount: number, nodeCount: number): PrefixAssignment[] {
  const assignments: PrefixAssignment[] = [];
  for (let i = 0; i < prefixCount; i++) {
    const length = SHORTEST_PREFIX_LENGTH + rng.nextInt(33 - SHORTEST_PREFIX_LENGTH);
    const network = (rng.nextUint32() & maskOfLength(length)) >>> 0;
    const prefix = { network, length, text: `${formatIpv4(network)}/${length}` };
    assignments.push({ prefix, node: rng.nextInt(nodeCount) });
  }
  return assignments;
}

/** Half the addresses fall inside a random prefix, the other half anywhere in the IPv4 space. */
function randomAddresses(rng: Rng, assignments: readonly PrefixAssignment[], count: number): Uint32Array {
  const addresses = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      const { prefix } = assignments[rng.nextInt(assignments.length)]!;
      addresses[i] = (prefix.network | (rng.nextUint32() & ~maskOfLength(prefix.length))) >>> 0;
    } else {
      addresses[i] = rng.nextUint32();
    }
  }
  return addresses;
}

function candidateFlags(rng: Rng, nodeCount: number): CandidateFlags {
  const flags = new Uint8Array(nodeCount).fill(1);
  for (let offline = 0; offline < Math.round(nodeCount * OFFLINE_NODE_SHARE); ) {
    const node = rng.nextInt(nodeCount);
    if (flags[node] === 1) {
      flags[node] = 0;
      offline++;
    }
  }
  return flags;
}

function countMismatches(
  index: PrefixIndex,
  scan: LinearPrefixScan,
  addresses: Uint32Array,
  isCandidate: CandidateFlags,
): number {
  let mismatches = 0;
  for (const address of addresses) {
    const entry = index.lookup(address, isCandidate);
    const position = scan.lookup(address, isCandidate);
    const indexed = entry < 0 ? 'none' : index.prefixOf(entry).text;
    const scanned = position < 0 ? 'none' : scan.prefixAt(position).text;
    if (indexed !== scanned) {
      mismatches++;
    }
  }
  return mismatches;
}

/**
 * Runs `lookup` over the addresses in passes until at least `minDurationMs` has
 * passed, after one untimed warm-up pass, and returns lookups per second.
 */
function measureLookups(lookup: (address: number) => number, addresses: Uint32Array, minDurationMs: number): number {
  const passSize = Math.min(addresses.length, 1_024);
  let checksum = 0;
  for (let i = 0; i < passSize; i++) {
    checksum += lookup(addresses[i]!);
  }

  let lookups = 0;
  let offset = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minDurationMs) {
    for (let i = 0; i < passSize; i++) {
      checksum += lookup(addresses[(offset + i) % addresses.length]!);
    }
    offset = (offset + passSize) % addresses.length;
    lookups += passSize;
    elapsed = performance.now() - start;
  }
  // The checksum keeps the lookups observable so the compiler cannot drop them.
  if (checksum === Number.MIN_SAFE_INTEGER) {
    throw new Error('unreachable checksum value');
  }
  return (lookups / elapsed) * 1_000;
}

/**
 * Measures whole choices through NodeChooser.choose on the same prefixes and
 * node states: the index lookup plus the address parsing, the tie pick and
 * the reason text that every session choice also pays for.
 */
function measureChooser(assignments: readonly PrefixAssignment[], nodeCount: number, isCandidate: CandidateFlags, addresses: Uint32Array, minDurationMs: number): number {
  const prefixesByNode = Array.from({ length: nodeCount }, () => [] as string[]);
  for (const { prefix, node } of assignments) prefixesByNode[node]!.push(prefix.text);
  const chooser = new NodeChooser({ rng: createRng('routing-bench-chooser') }, { method: 'random' });
  chooser.setNodes(prefixesByNode.map((prefixes, index) => ({ name: `node${index}`, online: isCandidate[index] === 1, accepting: true, configCurrent: true, prefixes })));
  const clientIps = Array.from(addresses.subarray(0, 4096), (address) => formatIpv4(address));
  let picked = 0;
  const rate = measureLookups(
    (position) => {
      const choice = chooser.choose({ clientIp: clientIps[position]!, utcOffsetMinutes: 0 });
      if (choice.kind === 'node') picked++;
      return picked;
    },
    Uint32Array.from(clientIps.keys()),
    minDurationMs,
  );
  return rate;
}
