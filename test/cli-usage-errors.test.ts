// Command-line errors found before anything starts: each command exits 2,
// names the option or file and its fix, starts no process and writes no run
// folder.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CLI } from './fixtures/master-harness.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with ATLAS_RUNS_DIR set to `runsRoot`, so that a default run folder would appear there. */
function runCli(runsRoot: string, args: string[], timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, env: { ...process.env, ATLAS_RUNS_DIR: runsRoot } }, (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function tempFolder(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-usage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Returns the names under the runs folder; a command rejected before start leaves it missing or empty. */
async function runFolders(runsRoot: string): Promise<string[]> {
  return readdir(runsRoot).catch(() => []);
}

const ONE_NODE = {
  masters: [{ name: 'master1' }],
  trafficNodes: [{ name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' }],
};

void t.test('demo topology without representative', async (t) => {
  const dir = await tempFolder(t);
  const runsRoot = join(dir, 'runs');
  const cases = [
    { name: 'no-rep.json', clients: [{ name: 'customer-us', role: 'customer', address: '127.20.0.6', timezone: 'America/New_York' }], missing: 'representative' },
    { name: 'no-customer.json', clients: [{ name: 'rep-us', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York' }], missing: 'customer' },
  ];
  for (const entry of cases) {
    const file = join(dir, entry.name);
    await writeFile(file, JSON.stringify({ ...ONE_NODE, clients: entry.clients }));
    const result = await runCli(runsRoot, ['demo', '--topology', file]);
    t.equal(result.code, 2, `${entry.name}: exit code 2`);
    t.match(result.stderr, `atlas-sim demo: the topology lists no ${entry.missing} client; the demo needs one representative and one customer in clients`, `${entry.name}: message`);
    t.notMatch(result.stdout, /cluster .* formed/, `${entry.name}: no cluster started`);
  }
  t.same(await runFolders(runsRoot), [], 'no run folder written');
});

void t.test('demo frame count out of range', async (t) => {
  const dir = await tempFolder(t);
  const runsRoot = join(dir, 'runs');
  const result = await runCli(runsRoot, ['demo', '--frames', '2000000']);
  t.equal(result.code, 2);
  t.match(result.stderr, /^atlas-sim demo: --frames "2000000" is invalid; pass an integer from 1 to 1000000/);
  t.same(await runFolders(runsRoot), [], 'no run folder written');
});

void t.test('non-empty run folder rejected', async (t) => {
  const dir = await tempFolder(t);
  const runsRoot = join(dir, 'runs');
  const given = join(dir, 'mystuff');
  await mkdir(given);
  await writeFile(join(given, 'precious.txt'), 'important\n');

  for (const args of [['demo'], ['up'], ['up', '--detach'], ['experiment', 'kill-traffic-node']]) {
    const result = await runCli(runsRoot, [...args, '--run-dir', given]);
    const command = args.join(' ');
    t.equal(result.code, 2, `${command}: exit code 2`);
    t.match(result.stderr, new RegExp(`^atlas-sim ${args[0] ?? ''}: run folder .*mystuff is not empty`), `${command}: message names the command and the folder`);
    t.notMatch(result.stderr, /see the logs/, `${command}: no log hint`);
  }
  t.same(await readdir(given), ['precious.txt'], 'folder untouched');
});

void t.test('up --detach into a used run folder', async (t) => {
  const dir = await tempFolder(t);
  const used = join(dir, 'used');
  await mkdir(join(used, 'logs'), { recursive: true });
  await writeFile(join(used, 'cluster.json'), '{}');
  await writeFile(join(used, 'logs', 'launcher.log'), '');

  const result = await runCli(join(dir, 'runs'), ['up', '--detach', '--run-dir', used]);
  t.equal(result.code, 2);
  t.match(result.stderr, /already contains cluster\.json from another cluster/);
  t.notMatch(result.stderr, /see the logs/, 'no hint at the previous cluster\'s logs');
});

void t.test('negative and out-of-range values', async (t) => {
  const dir = await tempFolder(t);
  const runsRoot = join(dir, 'runs');
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['chaos', 'link', 'customer-eu', 'eu-traffic1', 'delay', '--delay', '-5'], message: /^atlas-sim chaos: --delay is -5; expected a number from 0 to 600000 \(milliseconds\)/ },
    { args: ['chaos', 'link', 'customer-eu', 'dns', 'loss', '--loss', '1.5'], message: /^atlas-sim chaos: --loss is 1\.5; expected a number from 0 to 1/ },
    { args: ['cluster', 'edit-node', 'us-traffic1', '--srv-priority', '-1'], message: /^atlas-sim cluster edit-node: srvPriority \(--srv-priority\): -1 is not an integer from 0 to 65535/ },
    { args: ['client', 'customer', '--address', '127.30.0.5', '--frames', '-3'], message: /--frames is "-3"; expected a whole number/ },
    { args: ['client', 'customer', '--address', '127.100.0.5'], message: /--address "127\.100\.0\.5" lies in 127\.100\.0\.0-127\.199\.255\.255, which the launcher gives cluster nodes/ },
  ];
  for (const entry of cases) {
    const command = entry.args.join(' ');
    const result = await runCli(runsRoot, entry.args);
    t.equal(result.code, 2, `${command}: exit code 2`);
    t.match(result.stderr, entry.message, `${command}: range message`);
    t.notMatch(result.stderr, /ambiguous/, `${command}: no parseArgs message`);
  }
});
