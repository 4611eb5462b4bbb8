import type { ChildEvent } from '../launcher/child-process.js';
import type { Cluster } from '../launcher/cluster.js';
import type { PrimaryClaim } from './failover-invariants.js';

/** Timeline events that state a term: a master's primary claims, the DNS server's grants and traffic nodes accepting a master. */
const TERM_EVENTS: ReadonlySet<string> = new Set(['became-primary', 'claim-confirmed', 'dns-claim-granted', 'master-joined']);

const histories = new WeakMap<Cluster, TermHistory>();

/**
 * Every term event and sampled primary claim of one cluster since it
 * started. The cluster's own timeline drops its oldest events after
 * MAX_KEPT_EVENTS, and the term invariants must cover the whole run.
 */
export class TermHistory {
  readonly events: ChildEvent[];
  /** Primary claims from status replies, added after each repeat. */
  readonly sampled: PrimaryClaim[] = [];

  private constructor(cluster: Cluster) {
    this.events = cluster.events.filter((event) => TERM_EVENTS.has(event.event));
    cluster.on('event', (event) => {
      if (TERM_EVENTS.has(event.event)) this.events.push(event);
    });
  }

  /** Returns the history of `cluster`, and starts recording on the first call. */
  static of(cluster: Cluster): TermHistory {
    let history = histories.get(cluster);
    if (history === undefined) {
      history = new TermHistory(cluster);
      histories.set(cluster, history);
    }
    return history;
  }
}
