/**
 * Longest-prefix match over traffic node prefixes, with the set of candidate
 * nodes given at lookup time so that a node going offline needs no re-index.
 *
 * Prefixes form a laminar family: two prefixes are either disjoint or one contains
 * the other. The index splits the IPv4 space into disjoint intervals at every prefix
 * start and end, and stores for each interval the most specific prefix containing it.
 * Each prefix links to the next shorter prefix containing it. A lookup is a binary
 * search over the interval starts, then a walk up that chain to the first prefix
 * with at least one candidate node: O(log intervals + nesting depth).
 */
import type { Ipv4Prefix } from './prefix.js';
import { maskOfLength } from './prefix.js';

/** A prefix served by a node, the node given as an index into the caller's node list. */
export interface PrefixAssignment {
  prefix: Ipv4Prefix;
  node: number;
}

/**
 * Per-node candidate flags, indexed like the node indexes in PrefixAssignment:
 * 1 when the node may be chosen, 0 otherwise.
 */
export type CandidateFlags = Uint8Array;

interface EntryDraft {
  prefix: Ipv4Prefix;
  end: number;
  nodes: number[];
}

export class PrefixIndex {
  /** Interval start addresses, ascending; the first is 0 so every address falls in an interval. */
  private readonly starts: Uint32Array;
  /** Per interval: the most specific entry containing it, or -1. */
  private readonly deepest: Int32Array;
  /** Per entry: the next shorter entry containing it, or -1. */
  private readonly parents: Int32Array;
  /** Per entry: its nodes are entryNodes[nodeOffsets[entry] .. nodeOffsets[entry + 1]). */
  private readonly nodeOffsets: Int32Array;
  private readonly entryNodes: Int32Array;
  private readonly prefixes: readonly Ipv4Prefix[];

  private constructor(entries: readonly EntryDraft[], starts: number[], deepest: number[], parents: number[]) {
    this.starts = Uint32Array.from(starts);
    this.deepest = Int32Array.from(deepest);
    this.parents = Int32Array.from(parents);
    this.prefixes = entries.map((entry) => entry.prefix);

    const offsets = [0];
    const nodes: number[] = [];
    for (const entry of entries) {
      nodes.push(...entry.nodes);
      offsets.push(nodes.length);
    }
    this.nodeOffsets = Int32Array.from(offsets);
    this.entryNodes = Int32Array.from(nodes);
  }

  /**
   * Builds the index. The same prefix listed by several nodes becomes one entry
   * listing all of them, because they tie on length. A node listing a prefix twice counts once.
   */
  static build(assignments: readonly PrefixAssignment[]): PrefixIndex {
    const entries = mergeAssignments(assignments);
    const parents = linkParents(entries);
    const { starts, deepest } = buildIntervals(entries);
    return new PrefixIndex(entries, starts, deepest, parents);
  }

  /** Number of distinct prefixes. */
  get entryCount(): number {
    return this.prefixes.length;
  }

  /** Number of disjoint intervals in the table. */
  get intervalCount(): number {
    return this.starts.length;
  }

  /**
   * Returns the entry of the longest prefix that contains `address` (an unsigned
   * 32-bit integer) and lists at least one candidate node, or -1 when there is none.
   */
  lookup(address: number, isCandidate: CandidateFlags): number {
    const starts = this.starts;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (starts[middle]! <= address) {
        low = middle;
      } else {
        high = middle - 1;
      }
    }

    let entry = this.deepest[low]!;
    while (entry >= 0) {
      const end = this.nodeOffsets[entry + 1]!;
      for (let i = this.nodeOffsets[entry]!; i < end; i++) {
        if (isCandidate[this.entryNodes[i]!] === 1) {
          return entry;
        }
      }
      entry = this.parents[entry]!;
    }
    return -1;
  }

  /** Prefix of an entry returned by lookup. */
  prefixOf(entry: number): Ipv4Prefix {
    const prefix = this.prefixes[entry];
    if (prefix === undefined) {
      throw new RangeError(`prefix index entry ${entry} does not exist; the index has ${this.prefixes.length} entries`);
    }
    return prefix;
  }

  /** Nodes listing an entry's prefix, candidates or not, in the order they were first assigned. */
  nodesOf(entry: number): Int32Array {
    this.prefixOf(entry);
    return this.entryNodes.subarray(this.nodeOffsets[entry], this.nodeOffsets[entry + 1]);
  }
}

/** Merges assignments of the same prefix and sorts entries by network, then by length (outer first). */
function mergeAssignments(assignments: readonly PrefixAssignment[]): EntryDraft[] {
  const byText = new Map<string, EntryDraft>();
  for (const { prefix, node } of assignments) {
    if (!Number.isInteger(node) || node < 0) {
      throw new RangeError(`prefix ${prefix.text} is assigned to node index ${node}; expected a non-negative integer`);
    }
    let entry = byText.get(prefix.text);
    if (entry === undefined) {
      entry = { prefix, end: prefix.network + (2 ** (32 - prefix.length) - 1), nodes: [] };
      byText.set(prefix.text, entry);
    }
    if (!entry.nodes.includes(node)) {
      entry.nodes.push(node);
    }
  }
  return [...byText.values()].sort(
    (a, b) => a.prefix.network - b.prefix.network || a.prefix.length - b.prefix.length,
  );
}

/**
 * Links each entry to the next shorter entry containing it. In sorted order, an
 * entry's containing prefixes are exactly those still open on the stack.
 */
function linkParents(entries: readonly EntryDraft[]): number[] {
  const parents: number[] = [];
  const open: number[] = [];
  entries.forEach((entry, index) => {
    while (open.length > 0 && entries[open[open.length - 1]!]!.end < entry.prefix.network) {
      open.pop();
    }
    parents.push(open.length > 0 ? open[open.length - 1]! : -1);
    open.push(index);
  });
  return parents;
}

/**
 * Splits the address space at every prefix start and after every prefix end, and
 * records the most specific entry for each piece. Neighbouring pieces with the same
 * entry are merged.
 */
function buildIntervals(entries: readonly EntryDraft[]): { starts: number[]; deepest: number[] } {
  const boundarySet = new Set<number>([0]);
  for (const entry of entries) {
    boundarySet.add(entry.prefix.network);
    if (entry.end < 0xffffffff) {
      boundarySet.add(entry.end + 1);
    }
  }
  const boundaries = [...boundarySet].sort((a, b) => a - b);

  const starts: number[] = [];
  const deepest: number[] = [];
  const open: number[] = [];
  let next = 0;
  for (const boundary of boundaries) {
    while (open.length > 0 && entries[open[open.length - 1]!]!.end < boundary) {
      open.pop();
    }
    while (next < entries.length && entries[next]!.prefix.network === boundary) {
      open.push(next);
      next++;
    }
    const entry = open.length > 0 ? open[open.length - 1]! : -1;
    if (deepest.length === 0 || deepest[deepest.length - 1] !== entry) {
      starts.push(boundary);
      deepest.push(entry);
    }
  }
  return { starts, deepest };
}

/**
 * Reference longest-prefix match that tests every prefix for every address. Tests
 * use it as the oracle for PrefixIndex and the benchmark as its baseline.
 */
export class LinearPrefixScan {
  private readonly networks: Int32Array;
  private readonly masks: Int32Array;
  private readonly lengths: Int32Array;
  private readonly nodes: Int32Array;
  private readonly prefixes: readonly Ipv4Prefix[];

  constructor(assignments: readonly PrefixAssignment[]) {
    this.networks = Int32Array.from(assignments, (a) => a.prefix.network | 0);
    this.masks = Int32Array.from(assignments, (a) => maskOfLength(a.prefix.length) | 0);
    this.lengths = Int32Array.from(assignments, (a) => a.prefix.length);
    this.nodes = Int32Array.from(assignments, (a) => a.node);
    this.prefixes = assignments.map((a) => a.prefix);
  }

  /**
   * Returns the position in the assignment list of the first longest prefix that
   * contains `address` and whose node is a candidate, or -1.
   */
  lookup(address: number, isCandidate: CandidateFlags): number {
    const signedAddress = address | 0;
    let best = -1;
    let bestLength = -1;
    for (let i = 0; i < this.networks.length; i++) {
      if ((signedAddress & this.masks[i]!) === this.networks[i] && this.lengths[i]! > bestLength) {
        if (isCandidate[this.nodes[i]!] === 1) {
          best = i;
          bestLength = this.lengths[i]!;
        }
      }
    }
    return best;
  }

  /** Prefix at a position returned by lookup. */
  prefixAt(position: number): Ipv4Prefix {
    const prefix = this.prefixes[position];
    if (prefix === undefined) {
      throw new RangeError(`linear scan position ${position} does not exist; the scan has ${this.prefixes.length} prefixes`);
    }
    return prefix;
  }
}
