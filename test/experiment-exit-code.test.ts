import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { main as experimentMain } from '../src/cli/experiment-command.js';
import type { ExperimentDefinition } from '../src/experiments/experiment.js';
import { changeConfig, checkChangeSurvived } from '../src/experiments/failover-pair.js';

/**
 * An experiment whose acknowledged change is overwritten before the check,
 * as a takeover that lost it would leave the configuration, so the real
 * "nothing acknowledged lost" check must break.
 */
const LOSES_A_CHANGE: ExperimentDefinition = {
  name: 'loses-a-change',
  summary: 'overwrites an acknowledged change, then checks that it survived',
  cluster: () => ({ topology: { masters: [{ name: 'master1' }], trafficNodes: [{ name: 'traffic1', prefixes: ['127.20.0.0/16'], timezone: '+01:00' }] } }),
  measurements: [],
  run: async (context) => {
    const change = await changeConfig(context.cluster, 'traffic1', ['127.20.0.0/16', '127.40.0.0/16']);
    await changeConfig(context.cluster, 'traffic1', ['127.20.0.0/16']);
    await checkChangeSurvived(context, change);
  },
};

void t.test('broken invariant exits non-zero', async (t) => {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-experiment-exit-'));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  const output: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...parts: unknown[]) => output.push(parts.join(' '));
  console.error = (...parts: unknown[]) => output.push(parts.join(' '));
  let code: number;
  try {
    code = await experimentMain(['loses-a-change', '--run-dir', runDir, '--seed', 'exit-code'], [LOSES_A_CHANGE]);
  } finally {
    console.log = log;
    console.error = error;
  }
  const report = output.join('\n');
  t.equal(code, 1, 'exit code 1');
  t.match(report, /FAIL {2}nothing acknowledged lost: master1 has traffic1 prefixes 127\.20\.0\.0\/16 at version \d+; acknowledged before the fault: 127\.20\.0\.0\/16, 127\.40\.0\.0\/16/, 'report names the broken invariant and both values');
  t.match(report, /Verdict: FAIL, an invariant broke/, 'report verdict');
  t.equal(await experimentMain(['kill-primary-master', '--repeat', 'x']), 2, 'invalid --repeat exits 2 before any cluster starts');
});
