/**
 * Chooses the traffic node for a client, in the order the product applies its rules:
 *
 * 1. Candidates are nodes that are online, on the current configuration and accepting
 *    new client connections. With no candidate the result is `none`, whatever the method.
 * 2. The longest prefix containing the client's IPv4 address among candidates wins,
 *    with ties (the same prefix on several nodes) broken at random.
 * 3. Otherwise the cluster method decides: random, timezone (nearest UTC offset on the
 *    24-hour circle), or a delegated result for srv, a-record and anycast, where the
 *    client resolves its node itself.
 *
 * Every random pick draws from the injected seeded Rng, and every result carries its reason.
 */
import { ConfigError } from '../util/errors.js';
import type { DelegatedMethod, Method } from './method.js';
import { isDelegatedMethod, parseMethod } from './method.js';
import type { PrefixAssignment } from './prefix-index.js';
import { PrefixIndex } from './prefix-index.js';
import { parseClientAddress, parsePrefixList } from './prefix.js';
import type { Rng } from './rng.js';
import type { NodeTimezone } from './timezone.js';
import {
  circularDistanceMinutes,
  formatOffsetMinutes,
  offsetAt,
  parseNodeTimezone,
  validateClientOffset,
} from './timezone.js';

/** Reason for a choice, for logs, the route explanation command and the connected-clients report. */
export interface ChoiceReason {
  /** `prefix` when a prefix matched, else the method that decided. */
  method: 'prefix' | Method;
  /** Canonical matched prefix, such as 127.30.0.0/16. */
  prefix?: string;
  prefixLength?: number;
  /** Candidate nodes considered. */
  candidates: number;
  /** Candidates equally good before the random pick; 0 when the master did not pick. */
  tied: number;
  /** One-line human explanation. */
  text: string;
}

export interface ChooserNode {
  name: string;
  online: boolean;
  accepting: boolean;
  configCurrent: boolean;
  /** Prefix lines `a.b.c.d[/mask]`; see prefix.ts for the accepted forms. */
  prefixes: readonly string[];
  /** IANA zone name or fixed offset `±HH:MM`; undefined or "" for none. */
  timezone?: string;
}

export type Choice =
  | { kind: 'node'; node: string; reason: ChoiceReason }
  | { kind: 'delegated'; method: DelegatedMethod; reason: ChoiceReason }
  | { kind: 'none'; reason: ChoiceReason };

/** A choice with what led to it, as the route explanation command shows it. */
export interface ChoiceExplanation {
  choice: Choice;
  /** Nodes the rule that decided considered: every candidate, or under the timezone method the candidates with a timezone. */
  candidates: string[];
  /** Nodes equally good before the random pick; empty when the master does not pick. */
  tied: string[];
  /** Every node of the chooser, with its status and whether it is a candidate. */
  nodes: (NodeStatus & { name: string; candidate: boolean })[];
}

/** Outcome of the rules before the random pick. `candidates` lists node indexes. */
type Decision =
  | { kind: 'none'; candidates: readonly number[]; reason: ChoiceReason }
  | { kind: 'delegated'; method: DelegatedMethod; candidates: readonly number[]; reason: ChoiceReason }
  | { kind: 'pick'; candidates: readonly number[]; among: readonly number[]; describe: (chosen: number) => ChoiceReason };

export interface NodeChooserDeps {
  rng: Rng;
}

export interface NodeChooserOptions {
  method: Method;
}

export interface ChooseInput {
  /** Client address as the socket reports it; IPv4-mapped IPv6 is unwrapped. */
  clientIp: string;
  /** Client's current UTC offset in minutes, positive east of Greenwich (Asia/Tokyo is +540). */
  utcOffsetMinutes: number;
  /** Moment at which node zones are evaluated for the timezone method; now when absent. */
  at?: Date;
}

export type NodeStatus = Pick<ChooserNode, 'online' | 'accepting' | 'configCurrent'>;

interface NodeState {
  name: string;
  status: NodeStatus;
  timezone: NodeTimezone | undefined;
}

const DELEGATION_TEXT: Record<DelegatedMethod, string> = {
  srv: "delegated to the client's DNS SRV lookup",
  'a-record': "delegated to the client's DNS A record lookup",
  anycast: 'delegated to anycast routing in the network',
};

export class NodeChooser {
  private readonly rng: Rng;
  private method: Method;
  private nodes: NodeState[] = [];
  private indexByName = new Map<string, number>();
  /** 1 for each node index that is a candidate; updated in place by updateNode. */
  private candidateFlags = new Uint8Array(0);
  /** Cache of candidateIndexes(); undefined after a change to candidateFlags. */
  private candidateList: readonly number[] | undefined;
  private prefixIndex = PrefixIndex.build([]);

  constructor(deps: NodeChooserDeps, options: NodeChooserOptions) {
    this.rng = deps.rng;
    this.method = parseMethod(options.method);
  }

  /**
   * Replaces the node list, validating every prefix and timezone before anything
   * changes. Throws ConfigError for a missing or duplicate name, PrefixError for an
   * invalid prefix line and TimezoneError for an invalid timezone.
   */
  setNodes(nodes: readonly ChooserNode[]): void {
    const indexByName = new Map<string, number>();
    const states: NodeState[] = [];
    const assignments: PrefixAssignment[] = [];

    nodes.forEach((node, index) => {
      if (typeof node.name !== 'string' || node.name === '') {
        throw new ConfigError(`trafficNodes[${index}].name is missing; every traffic node needs a unique name`);
      }
      if (indexByName.has(node.name)) {
        throw new ConfigError(`trafficNodes[${index}].name "${node.name}" is a duplicate; traffic node names must be unique`);
      }
      indexByName.set(node.name, index);

      for (const prefix of parsePrefixList(node.prefixes, node.name)) {
        assignments.push({ prefix, node: index });
      }
      const timezone =
        node.timezone === undefined || node.timezone === '' ? undefined : parseNodeTimezone(node.timezone, node.name);
      const status = { online: node.online, accepting: node.accepting, configCurrent: node.configCurrent };
      states.push({ name: node.name, status, timezone });
    });

    const prefixIndex = PrefixIndex.build(assignments);
    this.nodes = states;
    this.indexByName = indexByName;
    this.prefixIndex = prefixIndex;
    this.candidateFlags = new Uint8Array(states.length);
    states.forEach((_, index) => this.refreshCandidate(index));
  }

  /** Sets the cluster-wide method. Throws ConfigError for an unknown name. */
  setMethod(method: Method): void {
    this.method = parseMethod(method);
  }

  /** Changes a node's status flags without rebuilding the prefix index. Throws ConfigError for an unknown name. */
  updateNode(name: string, patch: Partial<NodeStatus>): void {
    const index = this.indexByName.get(name);
    if (index === undefined) {
      const known = this.nodes.map((node) => node.name).join(', ') || 'none';
      throw new ConfigError(`traffic node "${name}" is not known to the chooser; known nodes: ${known}`);
    }
    const state = this.nodes[index]!;
    state.status = { ...state.status, ...definedFields(patch) };
    this.refreshCandidate(index);
  }

  /**
   * Chooses a node for a client, drawing any random pick from the chooser's
   * generator. Throws RangeError for an offset outside -720..+840 minutes and
   * TypeError for a client IP that is not an IP address.
   */
  choose(input: ChooseInput): Choice {
    return this.settle(this.decide(input), this.rng);
  }

  /**
   * Runs the same rules as choose() and also lists the candidates and the
   * nodes tied for the random pick, for the route explanation command. The
   * pick draws from `rng`, never from the chooser's own generator, so an
   * explanation does not change the choices of later sessions. Throws as choose() does.
   */
  explain(input: ChooseInput, rng: Rng): ChoiceExplanation {
    const decision = this.decide(input);
    const choice = this.settle(decision, rng);
    const names = (indexes: readonly number[]): string[] => indexes.map((index) => this.nodes[index]!.name);
    return {
      choice,
      candidates: names(decision.candidates),
      tied: decision.kind === 'pick' ? names(decision.among) : [],
      nodes: this.nodes.map((node, index) => ({ name: node.name, ...node.status, candidate: this.candidateFlags[index] === 1 })),
    };
  }

  /** Applies the rules up to the random pick. */
  private decide(input: ChooseInput): Decision {
    validateClientOffset(input.utcOffsetMinutes);
    const address = parseClientAddress(input.clientIp);
    const candidates = this.candidateIndexes();

    if (candidates.length === 0) {
      const text = `no candidate: 0 of ${this.nodes.length} traffic nodes are online, accepting and on the current configuration`;
      return { kind: 'none', candidates, reason: { method: this.method, candidates: 0, tied: 0, text } };
    }

    if (address !== null) {
      const byPrefix = this.decideByPrefix(address, candidates);
      if (byPrefix !== undefined) {
        return byPrefix;
      }
    }

    const method = this.method;
    if (isDelegatedMethod(method)) {
      const text = `${method}: ${DELEGATION_TEXT[method]}, ${countCandidates(candidates.length)}`;
      return { kind: 'delegated', method, candidates, reason: { method, candidates: candidates.length, tied: 0, text } };
    }
    if (method === 'timezone') {
      return this.decideByTimezone(candidates, input.utcOffsetMinutes, input.at ?? new Date());
    }
    return decideAtRandom(candidates, '');
  }

  /** Draws the pick of a decision from `rng` and builds the choice with its reason. */
  private settle(decision: Decision, rng: Rng): Choice {
    if (decision.kind === 'none') return { kind: 'none', reason: decision.reason };
    if (decision.kind === 'delegated') return { kind: 'delegated', method: decision.method, reason: decision.reason };
    const chosen = decision.among[rng.nextInt(decision.among.length)]!;
    return { kind: 'node', node: this.nodes[chosen]!.name, reason: decision.describe(chosen) };
  }

  private decideByPrefix(address: number, candidates: readonly number[]): Decision | undefined {
    const entry = this.prefixIndex.lookup(address, this.candidateFlags);
    if (entry < 0) {
      return undefined;
    }
    const prefix = this.prefixIndex.prefixOf(entry);
    const tied = Array.from(this.prefixIndex.nodesOf(entry)).filter((index) => this.candidateFlags[index] === 1);
    const share = tied.length > 1 ? `${tied.length} tied of` : '1 of';
    const reason: ChoiceReason = {
      method: 'prefix',
      prefix: prefix.text,
      prefixLength: prefix.length,
      candidates: candidates.length,
      tied: tied.length,
      text: `prefix ${prefix.text} (length ${prefix.length}), ${share} ${countCandidates(candidates.length)}`,
    };
    return { kind: 'pick', candidates, among: tied, describe: () => reason };
  }

  private decideByTimezone(candidates: readonly number[], clientOffset: number, at: Date): Decision {
    const zoned = candidates.filter((index) => this.nodes[index]!.timezone !== undefined);
    if (zoned.length === 0) {
      // NOTE: when no candidate has a timezone, the timezone method falls back to random.
      // Configuration validation is expected to require a timezone on every node.
      return decideAtRandom(candidates, ' (timezone method, but no candidate has a timezone)');
    }

    let nearest = Number.POSITIVE_INFINITY;
    let tied: number[] = [];
    const offsets = new Map<number, number>();
    for (const index of zoned) {
      const offset = offsetAt(this.nodes[index]!.timezone!, at);
      offsets.set(index, offset);
      const distance = circularDistanceMinutes(offset, clientOffset);
      if (distance < nearest) {
        nearest = distance;
        tied = [];
      }
      if (distance === nearest) {
        tied.push(index);
      }
    }

    const skipped = candidates.length - zoned.length;
    const share = tied.length > 1 ? `${tied.length} tied of ${zoned.length}` : `1 of ${zoned.length}`;
    const skippedText = skipped > 0 ? ` (${countCandidates(skipped)} without a timezone skipped)` : '';
    // Tied nodes share the distance but not always the offset (+60 and -60 for a client at +0), so the text names the chosen one.
    const describe = (chosen: number): ChoiceReason => ({
      method: 'timezone',
      candidates: zoned.length,
      tied: tied.length,
      text:
        `timezone: node offset ${formatOffsetMinutes(offsets.get(chosen)!)} nearest to client ` +
        `${formatOffsetMinutes(clientOffset)} (distance ${nearest} min), ${share}${skippedText}`,
    });
    return { kind: 'pick', candidates: zoned, among: tied, describe };
  }

  /** Returns the candidate indexes, rebuilt only after a status change; callers must not modify the array. */
  private candidateIndexes(): readonly number[] {
    if (this.candidateList !== undefined) {
      return this.candidateList;
    }
    const indexes: number[] = [];
    for (let i = 0; i < this.candidateFlags.length; i++) {
      if (this.candidateFlags[i] === 1) {
        indexes.push(i);
      }
    }
    this.candidateList = indexes;
    return indexes;
  }

  private refreshCandidate(index: number): void {
    this.candidateList = undefined;
    const { online, accepting, configCurrent } = this.nodes[index]!.status;
    this.candidateFlags[index] = online && accepting && configCurrent ? 1 : 0;
  }
}

function decideAtRandom(candidates: readonly number[], note: string): Decision {
  const reason: ChoiceReason = {
    method: 'random',
    candidates: candidates.length,
    tied: candidates.length,
    text: `random among ${countCandidates(candidates.length)}${note}`,
  };
  return { kind: 'pick', candidates, among: candidates, describe: () => reason };
}

function countCandidates(count: number): string {
  return count === 1 ? '1 candidate' : `${count} candidates`;
}

/** Copies only the fields that are present, so `{ online: undefined }` leaves the flag unchanged. */
function definedFields(patch: Partial<NodeStatus>): Partial<NodeStatus> {
  const result: Partial<NodeStatus> = {};
  for (const key of ['online', 'accepting', 'configCurrent'] as const) {
    const value = patch[key];
    if (value !== undefined) {
      result[key] = value;
    }
  }
  return result;
}
