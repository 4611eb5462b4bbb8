import { parseCommandLine } from '../util/argv.js';

import type { ExperimentDefinition } from '../experiments/experiment.js';
import { formatExperimentReport } from '../experiments/report.js';
import { EXPERIMENTS, findExperiment } from '../experiments/registry.js';
import { MAX_REPEATS, runExperiment } from '../experiments/runner.js';
import { checkRunFolder } from '../launcher/run-folder.js';
import { ConfigError, errorMessage } from '../util/errors.js';

export const EXPERIMENT_USAGE = `usage: atlas-sim experiment NAME [options]
       atlas-sim experiment --list

Starts a cluster, breaks it on purpose REPEAT times in a row, and prints for
each repeat a timeline (milliseconds since the repeat started, process,
event), the measured detection and recovery times, and the invariants
checked; then the median and p99 of each time over the repeats. Exits 0 only
when every invariant held in every repeat, 1 when one broke.

options:
  --repeat N        repeats on one cluster, 1-${MAX_REPEATS} (default 1)
  --json            print one JSON document instead of tables
  --seed S          seed of every random choice (default: random, printed)
  --run-dir DIR     run folder of the cluster (default: runs/<timestamp>-<id>)
  --keep-run-dir    keep the run folder after a passing run; a failing run
                    always keeps it
  --list            list the experiments
  --help            print this text
`;

interface ExperimentArgs {
  name: string;
  repeat: number;
  json: boolean;
  seed?: string;
  runDir?: string;
  keepRunDir: boolean;
}

function parseExperimentArgs(argv: string[], experiments: readonly ExperimentDefinition[]): ExperimentArgs | 'help' | 'list' {
  let parsed;
  try {
    parsed = parseCommandLine({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        repeat: { type: 'string' },
        json: { type: 'boolean' },
        seed: { type: 'string' },
        'run-dir': { type: 'string' },
        'keep-run-dir': { type: 'boolean' },
        list: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}; run \`atlas-sim experiment --help\` for the options`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  if (values.list === true) return 'list';
  if (positionals.length !== 1) {
    throw new ConfigError(`expected one experiment name, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}; choose one of ${experiments.map((entry) => entry.name).join(', ')}`);
  }
  let repeat = 1;
  if (values.repeat !== undefined) {
    repeat = Number(values.repeat);
    if (!/^\d+$/.test(values.repeat) || repeat < 1 || repeat > MAX_REPEATS) throw new ConfigError(`--repeat "${values.repeat}" is invalid; pass an integer from 1 to ${MAX_REPEATS}`);
  }
  return { name: positionals[0] ?? '', repeat, json: values.json === true, seed: values.seed, runDir: values['run-dir'], keepRunDir: values['keep-run-dir'] === true };
}

/**
 * `atlas-sim experiment NAME`: runs an experiment and prints its report.
 * Returns the exit code: 0 when every invariant held, 1 when one broke, 2
 * for invalid arguments. `experiments` replaces the registry, for tests.
 */
export async function main(argv: string[], experiments: readonly ExperimentDefinition[] = EXPERIMENTS): Promise<number> {
  let args: ExperimentArgs | 'help' | 'list';
  try {
    args = parseExperimentArgs(argv, experiments);
    if (args !== 'help' && args !== 'list') findExperiment(args.name, experiments);
    // A folder that cannot be a run folder is an invalid command line, found before any process starts.
    if (typeof args === 'object' && args.runDir !== undefined) await checkRunFolder(args.runDir);
  } catch (error) {
    console.error(`atlas-sim experiment: ${errorMessage(error)}`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(EXPERIMENT_USAGE);
    return 0;
  }
  if (args === 'list') {
    for (const experiment of experiments) console.log(`${experiment.name.padEnd(28)} ${experiment.summary}`);
    return 0;
  }

  const experiment = findExperiment(args.name, experiments);
  const json = args.json;
  if (!json) console.error(`running ${experiment.name} (${args.repeat} repeat${args.repeat === 1 ? '' : 's'})...`);
  const result = await runExperiment(experiment, {
    repeat: args.repeat,
    keepRunDir: args.keepRunDir,
    ...(args.seed === undefined ? {} : { seed: args.seed }),
    ...(args.runDir === undefined ? {} : { runDir: args.runDir }),
    onRepeat: (repeat) => {
      if (!json) console.error(`repeat ${repeat.repeat}: ${repeat.invariants.every((invariant) => invariant.ok) ? 'ok' : 'an invariant broke'}${repeat.error === undefined ? '' : ` (${repeat.error})`}`);
    },
  });
  console.log(json ? JSON.stringify(result, null, 2) : formatExperimentReport(result));
  return result.passed ? 0 : 1;
}

