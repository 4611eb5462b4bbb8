import { summarise } from '../bench/stats.js';
import type { ChildEvent } from '../launcher/child-process.js';
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { errorMessage } from '../util/errors.js';
import { ExperimentContext, type ExperimentDefinition, type InvariantResult, type RepeatResult, type TimelineEntry } from './experiment.js';

/** Largest number of repeats one run accepts. */
export const MAX_REPEATS = 1000;

export interface RunExperimentOptions {
  /** Number of repeats (default 1). */
  repeat?: number;
  /** Seed of every random choice in the cluster; random when absent. */
  seed?: string;
  /** Run folder of the cluster; runs/<timestamp>-<id> when absent. */
  runDir?: string;
  /** Keep the run folder after a passing run (a failing run always keeps it). */
  keepRunDir?: boolean;
  /** Called after each repeat, for progress output. */
  onRepeat?: (result: RepeatResult) => void;
}

/** A measured duration over every repeat that measured it. */
export interface MeasurementSummary {
  name: string;
  description: string;
  /** Repeats that measured it. */
  count: number;
  median: number;
  p99: number;
  min: number;
  max: number;
}

/** An invariant over every repeat: it passes only if it held in each one. */
export interface InvariantSummary {
  name: string;
  passed: boolean;
  /** Repeats in which it broke. */
  failures: number;
  /** Detail of the first failure, or of the last success. */
  detail: string;
}

export interface ExperimentResult {
  experiment: string;
  summary: string;
  seed: string;
  runDir: string;
  /** False when the run folder was removed after a passing run. */
  runDirKept: boolean;
  repeats: RepeatResult[];
  measurements: MeasurementSummary[];
  invariants: InvariantSummary[];
  /** True when every repeat completed and every invariant held. */
  passed: boolean;
}

/**
 * Starts the experiment's cluster, runs the scenario `repeat` times, and
 * stops the cluster. A repeat that throws is recorded as an invariant
 * failure named "repeat completed", and the definition's recover step runs
 * before the next repeat.
 */
export async function runExperiment(definition: ExperimentDefinition, options: RunExperimentOptions = {}): Promise<ExperimentResult> {
  const repeat = options.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > MAX_REPEATS) {
    throw new Error(`repeat is ${repeat}; expected an integer from 1 to ${MAX_REPEATS}`);
  }
  const cluster = await startCluster({ ...definition.cluster(), ...(options.seed === undefined ? {} : { seed: options.seed }), ...(options.runDir === undefined ? {} : { runDir: options.runDir }) });
  const repeats: RepeatResult[] = [];
  let passed = false;
  try {
    for (let index = 1; index <= repeat; index += 1) {
      const result = await runRepeat(definition, cluster, index);
      repeats.push(result);
      options.onRepeat?.(result);
    }
    passed = repeats.every((result) => result.error === undefined && result.invariants.every((invariant) => invariant.ok));
  } finally {
    const keep = !passed || options.keepRunDir === true;
    await cluster.close({ removeRunDir: !keep });
  }
  return {
    experiment: definition.name,
    summary: definition.summary,
    seed: cluster.seed,
    runDir: cluster.runDir,
    runDirKept: !passed || options.keepRunDir === true,
    repeats,
    measurements: summariseMeasurements(definition, repeats),
    invariants: summariseInvariants(repeats),
    passed,
  };
}

async function runRepeat(definition: ExperimentDefinition, cluster: Cluster, repeat: number): Promise<RepeatResult> {
  const context = new ExperimentContext(cluster, repeat);
  context.mark('repeat-started', { repeat });
  let error: string | undefined;
  try {
    await definition.run(context);
  } catch (caught) {
    error = errorMessage(caught);
    context.mark('repeat-failed', { error });
    context.check('repeat completed', false, error);
    if (definition.recover !== undefined) {
      try {
        await definition.recover(context);
      } catch (recoverError) {
        context.mark('recover-failed', { error: errorMessage(recoverError) });
      }
    }
  }
  context.mark('repeat-finished', { repeat });
  return {
    repeat,
    startedAtMs: context.startedAtMs,
    timeline: buildTimeline(cluster.events, context.startedAtMs),
    measurements: { ...context.measurements },
    invariants: [...context.invariants],
    ...(error === undefined ? {} : { error }),
  };
}

/** Timeline entries of the events recorded since `startedAtMs`, in time order. */
export function buildTimeline(events: readonly ChildEvent[], startedAtMs: number): TimelineEntry[] {
  return events
    .filter((event) => event.atMs >= startedAtMs)
    .sort((a, b) => a.atMs - b.atMs)
    .map((event) => ({ atMs: event.atMs - startedAtMs, process: event.name, event: event.event, detail: describeEventData(event.data) }));
}

/** Event data as `key=value` pairs; nested values as compact JSON. */
export function describeEventData(data: Record<string, unknown> | undefined): string {
  if (data === undefined) return '';
  return Object.entries(data)
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

/** Median, p99, minimum and maximum of each measurement over the repeats that recorded it. */
export function summariseMeasurements(definition: Pick<ExperimentDefinition, 'measurements'>, repeats: readonly RepeatResult[]): MeasurementSummary[] {
  const names = [...definition.measurements.map((entry) => entry.name)];
  for (const result of repeats) {
    for (const name of Object.keys(result.measurements)) if (!names.includes(name)) names.push(name);
  }
  return names.map((name) => {
    const values = repeats.map((result) => result.measurements[name]).filter((value): value is number => value !== undefined);
    const stats = summarise(values);
    const description = definition.measurements.find((entry) => entry.name === name)?.description ?? '';
    return { name, description, count: values.length, median: stats.p50, p99: stats.p99, min: stats.min, max: stats.max };
  });
}

/** Returns each invariant once, in first-seen order, failing if it broke in any repeat. */
export function summariseInvariants(repeats: readonly RepeatResult[]): InvariantSummary[] {
  const summaries = new Map<string, InvariantSummary>();
  for (const result of repeats) {
    for (const invariant of result.invariants) record(summaries, invariant);
  }
  return [...summaries.values()];
}

function record(summaries: Map<string, InvariantSummary>, invariant: InvariantResult): void {
  const summary = summaries.get(invariant.name) ?? { name: invariant.name, passed: true, failures: 0, detail: invariant.detail };
  if (!invariant.ok) {
    if (summary.passed) summary.detail = invariant.detail;
    summary.passed = false;
    summary.failures += 1;
  } else if (summary.passed) {
    summary.detail = invariant.detail;
  }
  summaries.set(invariant.name, summary);
}
