// The command API follows the primary master through a takeover: the run's
// API account works on the backup once it has taken over, the backup rejects
// command API requests with 409 naming the primary, and both the `clients`
// CLI and the library's CommandApiClient keep working after kill -9 of the
// primary and after its restart as the backup.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { ClientsReport } from '../src/cli/clients-command.js';
import { SITE_HOSTNAME } from '../src/config/constants.js';
import type { NodeProcessConfig } from '../src/config/node-config.js';
import { readApiAccountFile } from '../src/launcher/api-account-file.js';
import { CommandApiClient, masterEndpoints, type MasterEndpoint } from '../src/index.js';
import { requestMaster } from '../src/launcher/command-api-client.js';
import { cliEntry } from '../src/launcher/project-root.js';
import type { ApplianceSummaryView } from '../src/master/command-api/connected-clients.js';
import { startFailoverCluster, waitForPrimary, waitUntil, WAIT_MS } from './fixtures/failover-harness.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliEntry(), ...args], { timeout: WAIT_MS }, (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

const { cluster } = await startFailoverCluster(t);
const apiAccountFile = join(cluster.runDir, 'api-account.json');
const account = await readApiAccountFile(apiAccountFile);
const endpoints = await masterEndpoints(cluster.info);
const library = await CommandApiClient.open(cluster.info, apiAccountFile);

/** Returns the endpoint of one master by its own address. */
function endpointOf(name: string): MasterEndpoint {
  const endpoint = endpoints.find((candidate) => candidate.label === `master ${name}`);
  if (endpoint === undefined) throw new Error(`no endpoint for master ${name}`);
  return endpoint;
}

/** Asks a master directly for a token with the run's API account. */
function requestToken(name: string): ReturnType<typeof requestMaster> {
  const basic = Buffer.from(`${account.clientId}:${account.clientSecret}`).toString('base64');
  return requestMaster(endpointOf(name), {
    method: 'POST',
    path: '/oauth2/token',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
}

/** Runs `atlas-sim clients --json` until `primary` lists itself and both clients, and returns the report. */
function clientsFromCli(primary: string): Promise<ClientsReport> {
  return waitUntil(`atlas-sim clients to list both clients on ${primary}`, async () => {
    const result = await runCli(['clients', '--run-dir', cluster.runDir, '--json']);
    if (result.code !== 0) throw new Error(`atlas-sim clients exited with ${result.code}: ${result.stderr}`);
    const report = JSON.parse(result.stdout) as ClientsReport;
    return report.appliances[0]?.name === primary && report.clients.length === 2 ? report : undefined;
  });
}

/** Reads the appliance summary through the library client until `primary` lists itself and both clients. */
function summaryFromLibrary(primary: string): Promise<ApplianceSummaryView> {
  return waitUntil(`the library client to reach ${primary} with both clients`, async () => {
    const list = await library.commandJson<{ appliances: ApplianceSummaryView[]; clients: unknown[] }>('get_connected_client_list');
    const first = list.appliances[0];
    return first?.name === primary && list.clients.length === 2 ? first : undefined;
  });
}

void t.test('both masters get the API account', async (t) => {
  for (const name of ['master1', 'master2']) {
    const config = JSON.parse(await readFile(join(cluster.runDir, 'config', `${name}.json`), 'utf8')) as NodeProcessConfig;
    t.same(config.apiAccounts?.map((entry) => entry.clientId), [account.clientId], `${name} config lists the run's account`);
    t.notMatch(JSON.stringify(config), account.clientSecret, `${name} config holds no client secret`);
  }
});

void t.test('backup rejects the command API', async (t) => {
  const token = await requestToken('master2');
  t.equal(token.status, 409, 'token request to the backup: 409');
  const body = JSON.parse(token.body) as { error: string; error_description: string };
  t.equal(body.error, 'not_primary', 'OAuth error code');
  t.match(body.error_description, `master master2 is the backup master; send command API requests to the primary master master1 at the site hostname ${SITE_HOSTNAME}`, 'the reason names the primary');

  const command = await requestMaster(endpointOf('master2'), { method: 'GET', path: '/api/command?action=check_health' });
  t.equal(command.status, 409, 'command request to the backup: 409');
  t.match(command.body, /<error[^>]*>master master2 is the backup master; send command API requests to the primary master master1/, 'XML error names the primary');
});

void t.test('command API before the fault', async (t) => {
  const summary = await summaryFromLibrary('master1');
  t.equal(summary.role, 'primary', 'master1 answers as the primary');
  t.equal(library.servingEndpoint?.host, SITE_HOSTNAME, 'the library client reached the primary at the site hostname');
  const report = await clientsFromCli('master1');
  t.equal(report.appliances[0]?.role, 'primary', 'atlas-sim clients reads master1');
});

void t.test('command API after kill -9 of the primary', async (t) => {
  const since = Date.now();
  await cluster.kill('master1');
  await cluster.waitForEvent({ process: 'master2', event: 'became-primary' }, { sinceMs: since, timeoutMs: WAIT_MS });
  await waitForPrimary(cluster, 'master2', 2);

  const summary = await summaryFromLibrary('master2');
  t.equal(summary.role, 'primary', 'the library client created before the fault reaches master2');
  const key = await library.commandJson<{ shortKey: string }>('generate_session_key', { type: 'support', queue_id: 'general' });
  t.match(key.shortKey, /^\d{7}$/, 'the run account keeps full access on the new primary');

  const report = await clientsFromCli('master2');
  t.equal(report.appliances[0]?.role, 'primary', 'atlas-sim clients reads master2');
  t.same(report.clients.map((client) => client.displayName).sort(), ['customer-eu', 'rep-us'], 'both clients reconnected to master2');
  const token = await requestToken('master2');
  t.equal(token.status, 200, 'master2 issues tokens to the run account');
});

void t.test('command API after the old primary returns', async (t) => {
  const since = Date.now();
  await cluster.restart('master1');
  await cluster.waitForEvent({ process: 'master1', event: 'backup' }, { sinceMs: since, timeoutMs: WAIT_MS });

  const token = await requestToken('master1');
  t.equal(token.status, 409, 'the returned master1 rejects token requests');
  t.match((JSON.parse(token.body) as { error_description: string }).error_description, /master master1 is the backup master; send command API requests to the primary master master2/, 'the reason names the new primary');

  const summary = await summaryFromLibrary('master2');
  t.equal(summary.role, 'primary', 'the library client still reaches master2');
  const report = await clientsFromCli('master2');
  t.equal(report.appliances[0]?.name, 'master2', 'atlas-sim clients still reads master2');

  const fresh = await CommandApiClient.open(cluster.info, apiAccountFile);
  const health = await fresh.commandJson<{ hostname: string; failoverRole: string }>('check_health');
  t.equal(health.failoverRole, 'primary', 'a new client finds the primary');
  t.equal(fresh.servingEndpoint?.host, SITE_HOSTNAME, 'through the site hostname');
});
