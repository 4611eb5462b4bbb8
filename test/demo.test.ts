import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import type { DemoReport } from '../src/launcher/demo-scenario.js';
import { isProcessRunning } from '../src/launcher/address-block.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface DemoRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runDemo(args: string[]): Promise<DemoRun> {
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

void t.test('demo json run', async (t) => {
  const parent = await mkdtemp(join(tmpdir(), 'atlas-demo-test-'));
  t.teardown(() => rm(parent, { recursive: true, force: true }));
  const runDir = join(parent, 'run');

  const run = await runDemo(['--json', '--run-dir', runDir, '--seed', 'demo-test']);
  t.equal(run.code, 0, `exit code 0 (stderr: ${run.stderr.slice(0, 2000)})`);
  const report = JSON.parse(run.stdout) as DemoReport;

  t.equal(report.seed, 'demo-test', 'seed from the option');
  t.equal(report.verdict.ok, true, `verdict passes: ${JSON.stringify(report.verdict.checks.filter((check) => !check.ok))}`);
  t.equal(report.error, undefined, 'no step failed');

  const connection = (client: string, kind: string): string | undefined =>
    report.connections.find((entry) => entry.client === client && entry.kind === kind)?.node;
  const repHome = connection('rep-us', 'home') ?? '';
  const customerHome = connection('customer-eu', 'home') ?? '';
  t.match(repHome, /^us-traffic[12]$/, 'rep home on a US node');
  t.match(customerHome, /^eu-traffic[12]$/, 'customer home on an EU node');
  t.equal(connection('rep-us', 'master'), 'master1', 'rep control channel to the master');
  t.equal(connection('customer-eu', 'master'), 'master1', 'customer control channel to the master');
  t.equal(connection('rep-us', 'cross'), customerHome, "rep cross connection to the customer's home node");
  t.equal(connection('customer-eu', 'cross'), repHome, "Show My Screen connection to the rep's home node");

  const stream = (name: string): DemoReport['streams'][number] | undefined => report.streams.find((entry) => entry.stream === name);
  const customerScreen = stream('customer-screen');
  const repScreen = stream('rep-screen');
  t.equal(customerScreen?.node, customerHome, "customer screen through the customer's home node");
  t.equal(customerScreen?.to, 'rep-us', 'customer screen received by the rep');
  t.equal(repScreen?.node, repHome, "Show My Screen through the rep's home node");
  t.equal(repScreen?.to, 'customer-eu', 'rep screen received by the customer');
  for (const entry of report.streams) {
    t.equal(entry.framesSent, report.frames.count, `${entry.stream} frames sent`);
    t.equal(entry.verified, entry.framesSent, `${entry.stream} frames verified`);
    t.equal(entry.lost, 0, `${entry.stream} no frame lost`);
    t.equal(entry.corrupted, 0, `${entry.stream} no frame corrupted`);
  }

  const nodeClients = (name: string): string[] =>
    (report.nodes.find((node) => node.name === name)?.clients ?? []).map((client) => `${client.client} ${client.direction} ${client.stream}`).sort();
  t.same(nodeClients(customerHome), ['customer-eu publish customer-screen', 'rep-us subscribe customer-screen'], "customer's home node clients");
  t.same(nodeClients(repHome), ['customer-eu subscribe rep-screen', 'rep-us publish rep-screen'], "rep's home node clients");
  for (const node of report.nodes.filter((entry) => entry.name !== customerHome && entry.name !== repHome)) {
    t.same(node.clients, [], `${node.name} has no clients`);
  }

  t.equal(report.processes.length, 9, 'DNS, four traffic nodes, two masters and two clients');
  for (const process of report.processes) t.notOk(isProcessRunning(process.pid), `${process.name} (pid ${process.pid}) is gone`);
  t.notOk(existsSync(runDir), 'run folder removed after a passing run');
});
