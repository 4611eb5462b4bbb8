import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import type { DemoReport } from '../src/launcher/demo-scenario.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const folder = fileURLToPath(new URL('../topologies/', import.meta.url));
/** Every shipped method file; default.json is run by demo.test.ts. */
const FILES = readdirSync(folder).filter((name) => name.endsWith('.json') && name !== 'default.json' && name !== 'topology.schema.json').sort();

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const file of FILES) {
  void t.test(`demo under ${file}`, async (t) => {
    const parent = await mkdtemp(join(tmpdir(), 'atlas-demo-topology-'));
    t.teardown(() => rm(parent, { recursive: true, force: true }));
    const run = await runDemo(['--json', '--topology', join(folder, file), '--run-dir', join(parent, 'run'), '--seed', `demo-${file}`]);
    t.equal(run.code, 0, `exit code 0 (stderr: ${run.stderr.slice(0, 2000)})`);
    const report = JSON.parse(run.stdout) as DemoReport;
    t.equal(report.error, undefined, 'no step failed');
    t.equal(report.verdict.ok, true, `verdict passes: ${JSON.stringify(report.verdict.checks.filter((check) => !check.ok))}`);
    const homeChecks = report.verdict.checks.filter((check) => / home node obeys the prefix and /.test(check.rule));
    t.equal(homeChecks.length, 2, `both home nodes checked against the method: ${homeChecks.map((check) => check.detail).join('; ')}`);
  });
}
