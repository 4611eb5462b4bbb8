/**
 * Invariant checks of the master failover experiments, as pure functions
 * over timeline events and status samples, so each can be tested with a
 * history that breaks it.
 */
import type { ChildEvent } from '../launcher/child-process.js';
import type { StreamStats } from '../launcher/cluster-driver.js';

/** A statement that a master serves as the primary of a term: its own event, a DNS grant, or a status reply. */
export interface PrimaryClaim {
  master: string;
  term: number;
  atMs: number;
  /** Source of the claim, such as "became-primary event" or "status reply". */
  source: string;
}

/**
 * Primary claims in timeline events: a master's `became-primary` and
 * `claim-confirmed`, and the DNS server's `dns-claim-granted`, which names
 * the owner of the site hostname.
 */
export function primaryClaimsFromEvents(events: readonly ChildEvent[]): PrimaryClaim[] {
  const claims: PrimaryClaim[] = [];
  for (const event of events) {
    const term = event.data?.term;
    if (typeof term !== 'number') continue;
    if (event.event === 'became-primary' || event.event === 'claim-confirmed') {
      claims.push({ master: event.name, term, atMs: event.atMs, source: `${event.event} event` });
    } else if (event.event === 'dns-claim-granted' && typeof event.data?.owner === 'string') {
      claims.push({ master: event.data.owner, term, atMs: event.atMs, source: `${event.name} grant` });
    }
  }
  return claims;
}

/**
 * Returns one line per term that more than one master claimed, naming each
 * master with its first claim. The list is empty when every term has at most
 * one primary.
 */
export function findTermConflicts(claims: readonly PrimaryClaim[]): string[] {
  const byTerm = new Map<number, Map<string, PrimaryClaim>>();
  for (const claim of [...claims].sort((a, b) => a.atMs - b.atMs)) {
    const masters = byTerm.get(claim.term) ?? new Map<string, PrimaryClaim>();
    if (!masters.has(claim.master)) masters.set(claim.master, claim);
    byTerm.set(claim.term, masters);
  }
  const conflicts: string[] = [];
  for (const [term, masters] of [...byTerm.entries()].sort((a, b) => a[0] - b[0])) {
    if (masters.size < 2) continue;
    const holders = [...masters.values()].map((claim) => `${claim.master} (${claim.source})`);
    conflicts.push(`term ${term} claimed by ${holders.join(' and ')}`);
  }
  return conflicts;
}

/** Terms and their primary as one line, such as "term 1: master1; term 2: master2". */
export function describeTerms(claims: readonly PrimaryClaim[]): string {
  const byTerm = new Map<number, Set<string>>();
  for (const claim of claims) byTerm.set(claim.term, (byTerm.get(claim.term) ?? new Set<string>()).add(claim.master));
  const terms = [...byTerm.entries()].sort((a, b) => a[0] - b[0]).map(([term, masters]) => `term ${term}: ${[...masters].join(', ')}`);
  return terms.length === 0 ? 'no primary claim recorded' : terms.join('; ');
}

/**
 * Returns one line per `master-joined` event in which a traffic node
 * accepted a master under a lower term than one it had accepted before. The
 * list is empty when every node only ever moved to higher terms.
 */
export function findTermRegressions(events: readonly ChildEvent[]): string[] {
  const highest = new Map<string, { term: number; master: string }>();
  const regressions: string[] = [];
  for (const event of [...events].sort((a, b) => a.atMs - b.atMs)) {
    if (event.event !== 'master-joined') continue;
    const term = event.data?.term;
    const master = event.data?.master;
    if (typeof term !== 'number' || typeof master !== 'string') continue;
    const before = highest.get(event.name);
    if (before !== undefined && term < before.term) {
      regressions.push(`${event.name} accepted ${master} under term ${term} after ${before.master} under term ${before.term}`);
      continue;
    }
    highest.set(event.name, { term, master });
  }
  return regressions;
}

/** A stream as one client receives it, at one moment. */
export interface ReceivedStream {
  client: string;
  stats: StreamStats;
}

/** Frames a stream lost, corrupted or reordered, as text; empty when it has none. */
export function streamDamage(stream: StreamStats): string {
  const problems = [
    stream.lost > 0 ? `${stream.lost} lost` : '',
    stream.corrupted > 0 ? `${stream.corrupted} corrupted` : '',
    stream.reordered > 0 ? `${stream.reordered} reordered` : '',
  ].filter((problem) => problem !== '');
  return problems.join(', ');
}

/**
 * Compares the streams received before a fault with the same streams after
 * the recovery. Returns the streams that did not gain a verified frame in
 * between, or vanished, as lines; an empty list when every stream kept
 * flowing.
 */
export function findStalledStreams(before: readonly ReceivedStream[], after: readonly ReceivedStream[]): string[] {
  const stalled: string[] = [];
  for (const earlier of before) {
    const later = after.find((entry) => entry.client === earlier.client && entry.stats.stream === earlier.stats.stream);
    if (later === undefined) {
      stalled.push(`${earlier.client} no longer receives ${earlier.stats.stream}`);
    } else if (later.stats.verified <= earlier.stats.verified) {
      stalled.push(`${earlier.client} verified no frame of ${earlier.stats.stream} between the fault and the recovery (${earlier.stats.verified} then ${later.stats.verified})`);
    }
  }
  return stalled;
}
