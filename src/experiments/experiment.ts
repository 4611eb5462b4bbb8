/**
 * The experiment framework: an experiment starts a cluster once, then runs
 * its scenario `repeat` times on it. Each repeat breaks something on
 * purpose, records a timeline, measures durations (detection, recovery) and
 * checks invariants. The runner aggregates the durations (median, p99) and
 * fails the run when any invariant broke in any repeat.
 */
import type { StartClusterOptions, Cluster } from '../launcher/cluster.js';
import type { ChildEvent } from '../launcher/child-process.js';
import type { EventMatch } from '../launcher/cluster-driver.js';

/** Name of the experiment itself in timeline entries it adds. */
export const EXPERIMENT_PROCESS_NAME = 'experiment';

/** One line of a timeline: milliseconds since the repeat started, the process, the event. */
export interface TimelineEntry {
  atMs: number;
  process: string;
  event: string;
  detail: string;
}

export interface InvariantResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** Outcome of one repeat. */
export interface RepeatResult {
  repeat: number;
  /** Wall-clock start, milliseconds since the epoch. */
  startedAtMs: number;
  timeline: TimelineEntry[];
  /** Durations in milliseconds by name. */
  measurements: Record<string, number>;
  invariants: InvariantResult[];
  /** Set when the scenario threw; the repeat then counts as failed. */
  error?: string;
}

/** A measured duration and what it spans, as the report explains it. */
export interface MeasurementDefinition {
  name: string;
  description: string;
}

/** One experiment, as `atlas-sim experiment NAME` runs it. */
export interface ExperimentDefinition {
  /** Name on the command line, such as kill-traffic-node. */
  name: string;
  /** One line for the list of experiments. */
  summary: string;
  /** Options of the cluster the experiment starts (topology, heartbeat, frames). */
  cluster: () => StartClusterOptions;
  /** Durations the scenario measures, in report order. */
  measurements: readonly MeasurementDefinition[];
  /** Runs one repeat on the running cluster. A throw fails the repeat; later repeats still run. */
  run: (context: ExperimentContext) => Promise<void>;
  /** Brings the cluster back to its starting state after a failed repeat, when the next repeat needs that. */
  recover?: (context: ExperimentContext) => Promise<void>;
}

/** Context of one repeat: the cluster a scenario drives, and the measurements and invariants it records. */
export class ExperimentContext {
  readonly startedAtMs = Date.now();
  readonly measurements: Record<string, number> = {};
  readonly invariants: InvariantResult[] = [];

  constructor(readonly cluster: Cluster, readonly repeat: number) {}

  /** Adds a step of the experiment itself to the timeline, such as "kill traffic1". */
  mark(event: string, data: Record<string, unknown> = {}): void {
    this.cluster.report(event, data, EXPERIMENT_PROCESS_NAME);
  }

  /** Records a duration in milliseconds under `name`. */
  measure(name: string, ms: number): void {
    this.measurements[name] = Math.max(0, Math.round(ms));
  }

  /** Records an invariant; a false `ok` fails the experiment run. */
  check(name: string, ok: boolean, detail: string): boolean {
    this.invariants.push({ name, ok, detail });
    return ok;
  }

  /** Waits for a timeline event that happened in this repeat (or happens before the deadline). */
  waitForEvent(match: EventMatch, timeoutMs: number, sinceMs = this.startedAtMs): Promise<ChildEvent> {
    return this.cluster.waitForEvent(match, { timeoutMs, sinceMs });
  }

  /** Events of this repeat that match, in order. */
  eventsSince(match: EventMatch, sinceMs = this.startedAtMs): ChildEvent[] {
    return this.cluster.events.filter((event) => event.atMs >= sinceMs && event.event === match.event && (match.process === undefined || event.name === match.process) && (match.where === undefined || match.where(event.data ?? {})));
  }
}
