// A master killed with SIGKILL and started again on the same data folder
// keeps its identity, configuration, status history and API accounts, and
// the traffic nodes link to it again.
import { DOMParser } from '@xmldom/xmldom';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startCluster } from '../src/index.js';
import { forkChild, type ChildHandle } from '../src/launcher/child-process.js';
import { CommandApiClient, requestMaster } from '../src/launcher/command-api-client.js';
import { cliEntry } from '../src/launcher/project-root.js';
import type { MasterStatusReport } from '../src/master/status-report.js';
import type { StatusEntry } from '../src/master/status-history.js';

const TOPOLOGY = {
  clusterName: 'restart',
  masters: [{ name: 'master1' }],
  trafficNodes: [
    { name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' },
    { name: 'eu-traffic1', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' },
  ],
  clients: [],
};
const WAIT_MS = 60_000;

async function waitForOnline(master: ChildHandle, names: string[]): Promise<MasterStatusReport> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const status = (await master.request('status')) as MasterStatusReport;
    if (names.every((name) => status.nodes.some((node) => node.name === name && node.online))) return status;
    if (Date.now() > deadline) throw new Error(`nodes not online again within ${WAIT_MS} ms: ${JSON.stringify(status.nodes)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function guidOf(xml: string): string | null {
  return new DOMParser().parseFromString(xml, 'text/xml').getElementsByTagName('appliance')[0]?.getAttribute('id') ?? null;
}

void t.test('master restart keeps state', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-master-restart-'));
  const cluster = await startCluster({ topology: TOPOLOGY, runDir: join(dir, 'run'), startClients: false });
  const started: ChildHandle[] = [];
  t.teardown(async () => {
    for (const handle of started) {
      handle.kill('SIGKILL');
      await handle.waitForExit(WAIT_MS);
    }
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });

  const original = cluster.process('master1');
  const before = (await original.request('status')) as MasterStatusReport;
  const historyBefore = (await original.request('status-history')) as StatusEntry[];
  const api = await CommandApiClient.open(cluster.info, cluster.folder.apiAccountFile);
  const guidBefore = guidOf((await api.command('check_health')).body);
  const oldToken = await api.fetchToken();
  t.equal(guidBefore, before.guid, 'command API reports the identity GUID');
  t.ok(historyBefore.length > 0, 'the first start wrote status history');

  original.kill('SIGKILL');
  await original.waitForExit(WAIT_MS);
  const plan = cluster.plan;
  if (plan === undefined) throw new Error('cluster has no plan');
  const restarted = forkChild({ name: 'master1', role: 'master', cliPath: cliEntry(), args: ['node', '--config', plan.master.configFile], logFile: original.logFile });
  started.push(restarted);
  await restarted.waitForReady(WAIT_MS);

  const after = await waitForOnline(restarted, ['us-traffic1', 'eu-traffic1']);
  t.equal(after.guid, before.guid, 'same appliance GUID');
  t.equal(after.configVersion, before.configVersion, 'same configuration version');
  t.equal(after.syncedVersion, before.syncedVersion, 'same synced version');
  t.equal(after.syncRequired, false, 'no sync required after the restart');
  const historyAfter = (await restarted.request('status-history')) as StatusEntry[];
  t.same(historyAfter.slice(0, historyBefore.length), historyBefore, 'history entries of the first run kept in order');

  const sameAccount = await CommandApiClient.open(cluster.info, cluster.folder.apiAccountFile);
  const health = await sameAccount.command('check_health');
  t.equal(health.status, 200, 'API account still works');
  t.equal(guidOf(health.body), guidBefore, 'command API GUID unchanged');
  const oldGrant = { token: oldToken, endpoint: api.servingEndpoint };
  if (oldGrant.endpoint === undefined) throw new Error('the first client has no serving master');
  const stale = await requestMaster(oldGrant.endpoint, { method: 'GET', path: '/api/command?action=check_health', headers: { authorization: `Bearer ${oldGrant.token}` } });
  t.equal(stale.status, 401, 'tokens of the killed master are gone');
  t.equal((await api.command('check_health')).status, 200, 'the client gets a new token');

  const dataFiles = await readdir(cluster.folder.dataDir('master1'));
  t.same(dataFiles.filter((name) => name.endsWith('.tmp')), [], 'no temporary files left');
  t.ok(dataFiles.includes('api-accounts.json'), 'API accounts stored in the data folder');
});
