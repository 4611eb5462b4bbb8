import type { ExperimentDefinition } from './experiment.js';
import { KILL_PRIMARY_MASTER, PARTITION_MASTERS, PAUSE_PRIMARY_MASTER } from './master-failover.js';
import { BLACKHOLE_TRAFFIC_NODE, KILL_TRAFFIC_NODE } from './traffic-node-failure.js';

/** Every experiment `atlas-sim experiment NAME` can run, in the order `--list` shows them. */
export const EXPERIMENTS: readonly ExperimentDefinition[] = [KILL_TRAFFIC_NODE, BLACKHOLE_TRAFFIC_NODE, KILL_PRIMARY_MASTER, PAUSE_PRIMARY_MASTER, PARTITION_MASTERS];

/** Returns the experiment of that name among `experiments` (default: every experiment); throws listing the known names. */
export function findExperiment(name: string, experiments: readonly ExperimentDefinition[] = EXPERIMENTS): ExperimentDefinition {
  const experiment = experiments.find((candidate) => candidate.name === name);
  if (experiment === undefined) {
    throw new Error(`no experiment named "${name}"; choose one of ${experiments.map((candidate) => candidate.name).join(', ')}`);
  }
  return experiment;
}
