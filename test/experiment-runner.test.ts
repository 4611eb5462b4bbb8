import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import type { ExperimentDefinition, RepeatResult } from '../src/experiments/experiment.js';
import { EXPERIMENTS, findExperiment } from '../src/experiments/registry.js';
import { formatExperimentReport } from '../src/experiments/report.js';
import { buildTimeline, describeEventData, runExperiment, summariseInvariants, summariseMeasurements } from '../src/experiments/runner.js';
import { main as experimentMain } from '../src/cli/experiment-command.js';

function repeatResult(repeat: number, measurements: Record<string, number>, invariants: [string, boolean][]): RepeatResult {
  return { repeat, startedAtMs: 0, timeline: [], measurements, invariants: invariants.map(([name, ok]) => ({ name, ok, detail: `${name} ${ok ? 'held' : 'broke'} in ${repeat}` })) };
}

void t.test('measurement statistics', (t) => {
  const definition = { measurements: [{ name: 'detection', description: 'fault -> offline' }] };
  const repeats = [1, 2, 3, 4, 5].map((index) => repeatResult(index, { detection: index * 100 }, []));
  repeats.push(repeatResult(6, { extra: 7 }, []));
  const [detection, extra] = summariseMeasurements(definition, repeats);
  t.equal(detection?.count, 5, 'count of repeats that measured it');
  t.equal(detection?.median, 300, 'median');
  t.equal(detection?.p99, 500, 'p99 by nearest rank');
  t.equal(detection?.min, 100, 'min');
  t.equal(detection?.description, 'fault -> offline', 'description kept');
  t.equal(extra?.name, 'extra', 'undeclared measurement listed after the declared ones');
  t.equal(extra?.count, 1, 'undeclared measurement counted');
  t.end();
});

void t.test('invariant over repeats', (t) => {
  const repeats = [repeatResult(1, {}, [['a', true], ['b', true]]), repeatResult(2, {}, [['a', false], ['b', true]]), repeatResult(3, {}, [['a', false]])];
  const [a, b] = summariseInvariants(repeats);
  t.equal(a?.passed, false, 'broken in one repeat fails');
  t.equal(a?.failures, 2, 'failures counted');
  t.equal(a?.detail, 'a broke in 2', 'first failure detail kept');
  t.equal(b?.passed, true, 'held everywhere passes');
  t.end();
});

void t.test('timeline since the repeat start', (t) => {
  const events = [
    { name: 'master1', event: 'node-offline', atMs: 1500, data: { node: 'traffic1', reason: '' } },
    { name: 'launcher', event: 'kill', atMs: 1000, data: { process: 'traffic1', pid: 42 } },
    { name: 'launcher', event: 'old', atMs: 10 },
  ];
  const timeline = buildTimeline(events, 1000);
  t.same(timeline.map((entry) => [entry.atMs, entry.process, entry.event]), [[0, 'launcher', 'kill'], [500, 'master1', 'node-offline']], 'sorted, relative, older events left out');
  t.equal(timeline[0]?.detail, 'process=traffic1 pid=42', 'detail as key=value');
  t.equal(describeEventData({ list: ['a'], empty: '' }), 'list=["a"]', 'nested values as JSON, empty values left out');
  t.end();
});

void t.test('registry lists experiments', (t) => {
  t.same(EXPERIMENTS.map((experiment) => experiment.name), ['kill-traffic-node', 'blackhole-traffic-node', 'kill-primary-master', 'pause-primary-master', 'partition-masters'], 'traffic node and master experiments registered');
  t.throws(() => findExperiment('nope'), { message: /no experiment named "nope"; choose one of kill-traffic-node/ }, 'unknown name lists the known ones');
  t.end();
});

void t.test('experiment command rejects bad input', async (t) => {
  t.equal(await experimentMain(['nope']), 2, 'unknown experiment exits 2');
  t.equal(await experimentMain(['kill-traffic-node', '--repeat', '0']), 2, 'repeat 0 exits 2');
  t.equal(await experimentMain([]), 2, 'missing name exits 2');
});

void t.test('broken invariant fails the run', async (t) => {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-experiment-runner-'));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  let calls = 0;
  const experiment: ExperimentDefinition = {
    name: 'always-breaks',
    summary: 'checks one invariant that holds and one that breaks in the second repeat',
    cluster: () => ({ topology: { masters: [{ name: 'master1' }], trafficNodes: [{ name: 'traffic1', timezone: '+01:00' }] } }),
    measurements: [{ name: 'step', description: 'nothing in particular' }],
    run: async (context) => {
      calls += 1;
      context.mark('step', { call: calls });
      context.measure('step', calls * 10);
      context.check('cluster runs', context.cluster.process('traffic1').running, 'traffic1 runs');
      context.check('first repeat only', calls === 1, `call ${calls}`);
      if (calls === 3) throw new Error('scenario failed');
      await Promise.resolve();
    },
  };
  const result = await runExperiment(experiment, { repeat: 3, runDir, seed: 'runner' });
  t.equal(result.passed, false, 'run fails');
  t.equal(result.runDirKept, true, 'run folder kept after a failure');
  t.ok(existsSync(join(runDir, 'logs')), 'logs still there');
  t.same(result.invariants.map((entry) => [entry.name, entry.passed]), [['cluster runs', true], ['first repeat only', false], ['repeat completed', false]], 'invariants summarised');
  t.equal(result.repeats[2]?.error, 'scenario failed', 'thrown error recorded');
  t.equal(result.measurements[0]?.median, 20, 'median over the repeats');
  t.ok(result.repeats[0]?.timeline.some((entry) => entry.process === 'experiment' && entry.event === 'step'), 'marks appear in the timeline');
  const report = formatExperimentReport(result);
  t.match(report, /Verdict: FAIL, an invariant broke/, 'report verdict');
  t.match(report, /FAIL {2}first repeat only \(broke in 2 of 3 repeats; first: call 2\)/, 'report names the broken invariant');
  await t.rejects(runExperiment(experiment, { repeat: 0 }), { message: /repeat is 0; expected an integer from 1 to 1000/ }, 'repeat 0 rejected');
});
