import type { Cluster } from '../launcher/cluster.js';
import type { PrimaryClaim } from './failover-invariants.js';

/** Time between two rounds of status requests. */
export const ROLE_SAMPLE_INTERVAL_MS = 250;
/** Time one status request may take; a master that does not reply in time is left out of that round. */
const STATUS_TIMEOUT_MS = 2000;

/** The part of a master's `status` reply the sampler reads. */
interface RoleStatus {
  role?: unknown;
  term?: unknown;
  failover?: { fenced?: unknown };
}

/**
 * Asks every running master for its role and term, again and again, while
 * an experiment breaks the pair. Each master that answers "primary" and is
 * not fenced (refusing commands until the DNS server confirms it after a
 * pause) counts as a primary claim of its term.
 */
export class RoleSampler {
  readonly claims: PrimaryClaim[] = [];
  /** Status replies received. */
  replies = 0;
  private readonly excluded = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> = Promise.resolve();

  constructor(private readonly cluster: Cluster, private readonly masters: readonly string[]) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.round = this.round.then(() => this.sample());
    }, ROLE_SAMPLE_INTERVAL_MS);
  }

  /** Leaves a master out of the rounds, such as one paused with SIGSTOP, whose requests would only queue up. */
  exclude(name: string): void {
    this.excluded.add(name);
  }

  include(name: string): void {
    this.excluded.delete(name);
  }

  /** Stops the rounds and waits for the one under way. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
  }

  private async sample(): Promise<void> {
    await Promise.all(this.masters.map(async (name) => {
      const handle = this.cluster.nodes.get(name);
      if (this.excluded.has(name) || handle === undefined || !handle.running) return;
      let status: RoleStatus;
      try {
        status = (await handle.request('status', {}, STATUS_TIMEOUT_MS)) as RoleStatus;
      } catch {
        // A master that is starting, stopping or busy is sampled again in a later round.
        return;
      }
      this.replies += 1;
      if (status.role === 'primary' && typeof status.term === 'number' && status.failover?.fenced !== true) {
        this.claims.push({ master: name, term: status.term, atMs: Date.now(), source: 'status reply' });
      }
    }));
  }
}
