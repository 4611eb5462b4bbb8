import type { ExperimentDefinition } from './experiment.js';
import { BLACKHOLE_TRAFFIC_NODE, KILL_TRAFFIC_NODE } from './traffic-node-failure.js';

/** Every experiment `atlas-sim experiment NAME` can run, in the order `--list` shows them. */
export const EXPERIMENTS: readonly ExperimentDefinition[] = [KILL_TRAFFIC_NODE, BLACKHOLE_TRAFFIC_NODE];

/** Returns the experiment of that name; throws listing the known names. */
export function findExperiment(name: string): ExperimentDefinition {
  const experiment = EXPERIMENTS.find((candidate) => candidate.name === name);
  if (experiment === undefined) {
    throw new Error(`no experiment named "${name}"; choose one of ${EXPERIMENTS.map((candidate) => candidate.name).join(', ')}`);
  }
  return experiment;
}
