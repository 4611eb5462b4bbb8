// `atlas-sim route` against a running cluster: the primary master explains from
// the chooser its sessions use, the reason matches the one every other report
// carries, live state changes the result, and the backup responds after a takeover.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { AdminClient } from '../src/admin/admin-client.js';
import { ADMIN_PATHS } from '../src/admin/api-types.js';
import type { ClientsReport } from '../src/cli/clients-command.js';
import type { SourcedExplanation } from '../src/cli/route-sources.js';
import type { ClientStats } from '../src/client/client.js';
import { DEFAULT_TOPOLOGY } from '../src/config/default-topology.js';
import { startCluster, type Cluster } from '../src/index.js';
import { cliEntry } from '../src/launcher/project-root.js';
import { silentLogger } from '../src/logging/logger.js';
import { createClusterLookup } from '../src/net/lookup.js';

let cluster: Cluster;
let runDir: string | undefined;

t.before(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'atlas-route-cluster-'));
  cluster = await startCluster({ topology: DEFAULT_TOPOLOGY, runDir, seed: 'route-cluster', removeRunDir: true });
});

t.teardown(async () => {
  await cluster?.close();
  if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(command: string, ...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliEntry(), command, ...args, '--run-dir', cluster.runDir], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

type ClusterExplanation = Extract<SourcedExplanation, { source: 'cluster' }>;

function route(...args: string[]): Promise<CliRun> {
  return cli('route', ...args);
}

async function explain(...args: string[]): Promise<ClusterExplanation> {
  const run = await route(...args, '--json');
  if (run.code !== 0) throw new Error(`route exited with ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as ClusterExplanation;
}

void t.test('route reason matches session reports', async (t) => {
  // Asked before the session, the explanation's tie pick is the draw the session makes next for the customer.
  const explanation = await explain('--ip', '127.30.0.5', '--tz', 'Europe/Berlin');
  const session = await cluster.startSession({ customer: 'customer-eu', representative: 'rep-us' });
  const stats = (await cluster.request('customer-eu', 'stats')) as ClientStats;
  const home = stats.connections.find((connection) => connection.kind === 'home');
  t.equal(home?.node, explanation.node, 'the session picked the node the explanation showed');

  t.equal(explanation.source, 'cluster', 'answered by the cluster');
  t.equal(explanation.answeredBy, 'master1', 'the primary answered');
  t.equal(explanation.kind, 'node', 'the master picks a node');
  t.equal(explanation.reason.method, 'prefix', 'decided by prefix');
  t.equal(explanation.reason.prefix, '127.30.0.0/16', 'prefix matched');
  t.equal(explanation.reason.prefixLength, 16, 'prefix length');
  t.same(explanation.tied.sort(), ['eu-traffic1', 'eu-traffic2'], 'both EU nodes tie');
  t.equal(explanation.candidates.length, 4, 'four candidates');
  t.equal(explanation.seed, 'route-cluster', 'seed of the cluster');
  t.equal(explanation.reason.text, 'prefix 127.30.0.0/16 (length 16), 2 tied of 4 candidates', 'reason text');

  t.equal(home?.reason, explanation.reason.text, 'client session report carries the same reason');
  const clientsRun = await cli('clients', '--json');
  const reported = JSON.parse(clientsRun.stdout) as ClientsReport;
  const customer = reported.clients.find((client) => client.displayName === 'Customer (EU)');
  const homeConnection = customer?.connections.find((connection) => connection.kind === 'home');
  t.equal(homeConnection?.reason, explanation.reason.text, 'connected-clients report carries the same reason');

  const masterLog = await readFile(join(cluster.runDir, 'logs', 'master1.log'), 'utf8');
  const choices = masterLog
    .split('\n')
    .filter((line) => line.includes('"traffic node choice"') && line.includes('127.30.0.5'))
    .map((line) => (JSON.parse(line) as { reason: string }).reason);
  t.same(choices, [explanation.reason.text], 'master log carries the same reason');
  await cluster.request('customer-eu', 'end-session', { reason: `route test done with ${session.sessionId}` });
});

void t.test('route follows accepting state', async (t) => {
  await cluster.admin.patch(ADMIN_PATHS.clusterNode('eu-traffic1'), { accepting: false });
  t.teardown(() => cluster.admin.patch(ADMIN_PATHS.clusterNode('eu-traffic1'), { accepting: true }));
  const explanation = await cluster.waitFor(
    async () => {
      const answer = await explain('--ip', '127.30.0.5', '--tz', '+01:00');
      return answer.candidates.length === 3 ? answer : undefined;
    },
    { timeoutMs: 30_000, description: 'eu-traffic1 no longer a candidate' },
  );
  t.equal(explanation.node, 'eu-traffic2', 'the accepting EU node');
  t.same(explanation.tied, ['eu-traffic2'], 'no tie left');
  t.equal(explanation.reason.text, 'prefix 127.30.0.0/16 (length 16), 1 of 3 candidates', 'reason text');
  const closed = explanation.nodes.find((node) => node.name === 'eu-traffic1');
  t.equal(closed?.accepting, false, 'eu-traffic1 listed as not accepting');
  t.equal(closed?.candidate, false, 'eu-traffic1 is no candidate');
});

void t.test('route API needs credentials', async (t) => {
  const ca = await readFile(join(cluster.info.certsDir, 'ca.pem'));
  const lookup = createClusterLookup({ server: cluster.info.dns, logger: silentLogger() });
  const anonymous = new AdminClient({ host: cluster.info.site.host, port: cluster.info.site.port, ca, lookup, credentials: undefined });
  t.teardown(() => anonymous.close());
  const unauthenticated = await anonymous.send('GET', `${ADMIN_PATHS.route}?ip=127.30.0.5&utcOffsetMinutes=60`);
  t.equal(unauthenticated.status, 401, 'no credentials, 401');

  const invalid = await cluster.admin.send('GET', `${ADMIN_PATHS.route}?ip=127.30.0.5&utcOffsetMinutes=+25:00`);
  t.equal(invalid.status, 400, 'invalid offset, 400');
  t.equal((invalid.body as { field?: string }).field, 'utcOffsetMinutes', 'the problem names the field');
  const missing = await cluster.admin.send('GET', `${ADMIN_PATHS.route}?utcOffsetMinutes=60`);
  t.equal((missing.body as { field?: string }).field, 'ip', 'a missing address names ip');
});

void t.test('route rejects invalid flags', async (t) => {
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['--ip', '127.30.0.500'], message: /--ip "127\.30\.0\.500" is not an IP address/ },
    { args: ['--ip', '127.30.0.5', '--tz', '+25:00'], message: /--tz "\+25:00" is invalid: a fixed offset must be from -12:00 to \+14:00/ },
    { args: ['--ip', '127.30.0.5', '--tz', '900'], message: /--tz "900" is outside the UTC offsets in use/ },
    { args: ['--ip', '127.30.0.5', '--resolver', 'mars-dns'], message: /resolver: "mars-dns" is not a resolver view of this cluster/ },
    { args: ['--tz', '+01:00'], message: /--ip "" is missing/ },
  ];
  for (const { args, message } of cases) {
    const run = await route(...args);
    t.equal(run.code, 2, `${args.join(' ')}: exit 2`);
    t.match(run.stderr, message, `${args.join(' ')}: message`);
  }
});

void t.test('route after takeover asks the backup', async (t) => {
  const since = Date.now();
  await cluster.kill('master1');
  await cluster.waitForEvent({ process: 'master2', event: 'became-primary' }, { sinceMs: since, timeoutMs: 30_000 });
  const explanation = await cluster.waitFor(
    async () => {
      const answer = await explain('--ip', '127.20.0.5', '--tz', 'America/New_York');
      return answer.answeredBy === 'master2' && answer.candidates.length > 0 ? answer : undefined;
    },
    { timeoutMs: 30_000, description: 'master2 to answer with candidates' },
  );
  t.equal(explanation.reason.prefix, '127.20.0.0/16', 'US prefix');
  t.match(explanation.node ?? '', /^us-traffic[12]$/, 'a US node');
});
