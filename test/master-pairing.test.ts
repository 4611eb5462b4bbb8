import { join } from 'node:path';
import t from 'tap';
import { ADMIN_PATHS, type ClusterView } from '../src/admin/api-types.js';
import { nodeHostname } from '../src/config/constants.js';
import type { NodeProcessConfig } from '../src/config/node-config.js';
import type { StatusEntry } from '../src/master/status-history.js';
import { ErrorCode } from '../src/protocol/messages.js';
import { FAILOVER_TOPOLOGY, masterStatus, startFailoverCluster, waitUntil, type MasterStatusReply } from './fixtures/failover-harness.js';
import { startNodeProcess, type NodeProcess } from './fixtures/master-harness.js';

const { cluster, events } = await startFailoverCluster(t, { ...FAILOVER_TOPOLOGY, clients: [] });
const plan = cluster.plan!;
const network = plan.master.config.public.address.split('.').slice(0, 3).join('.');

/** Starts another master as a backup of master1, at `.hostOctet` of the cluster's block, with its own data folder. */
async function startExtraBackup(name: string, hostOctet: number, model: NodeProcessConfig['model']): Promise<NodeProcess> {
  const template = plan.backup!.config;
  const host = nodeHostname(name);
  const address = `${network}.${hostOctet}`;
  await cluster.request('dns', 'set-record', { hostname: host, addresses: [address] });
  const config: NodeProcessConfig = {
    ...template,
    name,
    model,
    // The extra master is not behind the fault layer, so it binds the advertised ports itself.
    public: { host, address, port: template.public.port },
    internal: { host, address, port: template.internal.port },
    dataDir: join(cluster.runDir, 'data', name),
    logFile: join(cluster.runDir, 'logs', `${name}.log`),
  };
  return startNodeProcess(t, config, cluster.runDir);
}

/** Arguments of the primary's `pair-backup` request for a master started by startExtraBackup. */
function pairArgs(name: string): Record<string, unknown> {
  const host = nodeHostname(name);
  return { name, internalHost: host, internalPort: plan.master.config.internal.port, publicHost: host, publicPort: plan.master.config.public.port };
}

async function history(): Promise<StatusEntry[]> {
  return (await cluster.request('master1', 'status-history')) as StatusEntry[];
}

void t.test('backup of another model rejected', async (t) => {
  const other = await startExtraBackup('master3', 6, 'B300');
  await cluster.request('master1', 'pair-backup', pairArgs('master3'));
  const entry = await waitUntil('the model mismatch in the history', async () => (await history()).find((item) => item.code === Number(ErrorCode.ERROR_MODEL_MISMATCH)));
  t.match(entry.message, /backup master master3 is a B300 appliance, but primary master master1 is a B400; both masters must be the same model/, 'history names both models');
  const status = await other.request<MasterStatusReply>('status');
  t.equal(status.failover.replica?.appliedSeq ?? 0, 0, 'master3 received nothing');
  const view = await cluster.admin.get<ClusterView>(ADMIN_PATHS.cluster);
  t.not(view.backup?.name, 'master3', 'master3 not listed in the configuration');

  await t.test('former backup unpaired', async (t) => {
    const former = await waitUntil('master2 to be unpaired', async () => {
      const reply = await masterStatus(cluster, 'master2');
      return reply.failover.unpairedBy === undefined ? undefined : reply;
    });
    t.equal(former.failover.unpairedBy, 'master1', 'master2 knows master1 unpaired it');
    t.ok(events.some((event) => event.name === 'master2' && event.event === 'unpaired'), 'unpaired event reported');
  });
});

void t.test('new backup replaces the old', async (t) => {
  const replacement = await startExtraBackup('master4', 7, 'B400');
  await cluster.request('master1', 'pair-backup', pairArgs('master4'));
  const view = await waitUntil('master4 to be listed', async () => {
    const reply = await cluster.admin.get<ClusterView>(ADMIN_PATHS.cluster);
    return reply.backup?.name === 'master4' ? reply : undefined;
  });
  t.equal(view.backup?.model, 'B400', 'listed with its model');
  const status = await waitUntil('master4 to hold the current configuration', async () => {
    const reply = await replacement.request<MasterStatusReply>('status');
    return reply.failover.replica?.configVersion === view.version ? reply : undefined;
  });
  t.equal(status.role, 'backup', 'master4 is the backup');
  t.equal(status.failover.primary, 'master1', 'master4 follows master1');
  t.ok((await history()).some((entry) => /backup master master4 paired in place of master3/.test(entry.message)), 'pairing recorded');

  await t.test('only the new backup takes over', async (t) => {
    const master1 = cluster.process('master1');
    master1.kill('SIGKILL');
    await master1.waitForExit();
    const promoted = await waitUntil('master4 to become the primary', async () => {
      const reply = await replacement.request<MasterStatusReply>('status');
      return reply.role === 'primary' ? reply : undefined;
    });
    t.equal(promoted.term, 2, 'master4 took term 2');
    // Give master2 more than a heartbeat timeout in which it could try to take over.
    await new Promise((resolve) => setTimeout(resolve, 2 * FAILOVER_TOPOLOGY.heartbeat.timeoutMs));
    const former = await masterStatus(cluster, 'master2');
    t.equal(former.role, 'backup', 'the unpaired master2 stayed a backup');
    t.notOk(events.some((event) => event.name === 'master2' && event.event === 'became-primary'), 'master2 never became the primary');
  });
});
