import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import type { ExperimentDefinition } from '../src/experiments/experiment.js';
import { runExperiment, type ExperimentResult } from '../src/experiments/runner.js';
import { BLACKHOLE_TRAFFIC_NODE, KILL_TRAFFIC_NODE } from '../src/experiments/traffic-node-failure.js';

/** Invariants every traffic node failure experiment checks, by name. */
const INVARIANTS = [
  'master marks the node offline within the heartbeat timeout',
  'session through the failed node ends for both participants with the reason',
  'new sessions avoid the offline node',
  'sessions on other nodes lose no frame',
  'sessions on other nodes keep running',
  'node rejoins',
  'rejoined node is chosen again',
];

async function run(t: { teardown(fn: () => Promise<void>): void }, experiment: ExperimentDefinition): Promise<ExperimentResult> {
  const runDir = await mkdtemp(join(tmpdir(), `atlas-${experiment.name}-`));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  return runExperiment(experiment, { runDir, seed: experiment.name });
}

for (const experiment of [KILL_TRAFFIC_NODE, BLACKHOLE_TRAFFIC_NODE]) {
  void t.test(`${experiment.name} experiment`, async (t) => {
    const result = await run(t, experiment);
    const repeat = result.repeats[0];
    t.equal(repeat?.error, undefined, 'repeat completed');
    for (const name of INVARIANTS) {
      const invariant = result.invariants.find((entry) => entry.name === name);
      t.equal(invariant?.passed, true, `${name}: ${invariant?.detail ?? 'not checked'}`);
    }
    t.equal(result.passed, true, 'verdict passes');
    for (const name of ['detection', 'sessions-ended', 'recovery', 'rejoin']) {
      t.equal(result.measurements.find((entry) => entry.name === name)?.count, 1, `${name} measured`);
    }
    const events = repeat?.timeline.map((entry) => `${entry.process} ${entry.event}`) ?? [];
    t.ok(events.includes('master1 node-offline'), 'timeline has the master marking the node offline');
    t.ok(events.includes('master1 node-online'), 'timeline has the node rejoining');
    t.ok(events.includes('customer1 session-ended'), 'timeline has the customer told');
    t.ok(events.includes('rep1 session-ended'), 'timeline has the representative told');
  });
}
