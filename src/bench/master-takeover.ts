import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildEvent, ChildHandle } from '../launcher/child-process.js';
import { startChild } from '../launcher/child-process.js';
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { assertCliBuilt } from '../launcher/project-root.js';
import { formatNumber, summarise } from './stats.js';
import type { BenchResult } from './types.js';

/** Takeovers measured; with 20, the p99 is the slowest one. */
export const TAKEOVER_REPEATS = 20;
/** Deadline of each wait in one repeat. */
const STEP_TIMEOUT_MS = 30_000;
const MASTERS = ['master1', 'master2'] as const;
const TRAFFIC_NODES = ['us-traffic1', 'eu-traffic1'];
const CLIENTS = ['rep-us', 'customer-eu'];

/** A failover pair, two traffic nodes and one online client per region, all idle. */
const TOPOLOGY = {
  clusterName: 'bench-takeover',
  masters: MASTERS.map((name) => ({ name, model: 'B400' })),
  trafficNodes: [
    { name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' },
    { name: 'eu-traffic1', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' },
  ],
  clients: [
    { name: 'rep-us', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York' },
    { name: 'customer-eu', role: 'customer', address: '127.30.0.5', timezone: 'Europe/Berlin' },
  ],
};

/** Durations of one takeover, in ms from the SIGKILL of the primary. */
interface Takeover {
  detection: number;
  takeover: number;
  nodes: number;
  clients: number;
}

/**
 * Kills the primary master with SIGKILL again and again and measures four
 * times from the kill. These are the backup noticing (its replication link
 * closed), the backup becoming primary (DNS claim granted, primary services
 * serving), every traffic node linked under the new term, and every online
 * client welcomed by the new primary. After each takeover the killed master
 * starts again from its data folder, rejoins as the backup and receives the
 * state, so the next repeat kills the other master.
 */
export async function benchMasterTakeover(options: { repeats?: number } = {}): Promise<BenchResult> {
  const repeats = options.repeats ?? TAKEOVER_REPEATS;
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-bench-takeover-'));
  const cluster = await startCluster({ topology: TOPOLOGY, runDir });
  const events: ChildEvent[] = [];
  const restarted: ChildHandle[] = [];
  cluster.on('event', (event) => events.push(event));
  try {
    const takeovers: Takeover[] = [];
    let primary = await cluster.primaryMaster();
    for (let repeat = 0; repeat < repeats; repeat++) {
      const backup = primary === MASTERS[0] ? MASTERS[1] : MASTERS[0];
      takeovers.push(await killPrimary(currentHandle(cluster, primary, restarted), events, backup));
      restarted.push(await restartAsBackup(cluster, primary, events));
      await waitForReplication(cluster, restarted, backup);
      primary = backup;
    }
    return report(repeats, takeovers);
  } finally {
    for (const handle of restarted) handle.kill('SIGTERM');
    await Promise.all(restarted.map((handle) => handle.waitForExit(STEP_TIMEOUT_MS)));
    await cluster.close();
    await rm(runDir, { recursive: true, force: true });
  }
}

async function killPrimary(handle: ChildHandle, events: ChildEvent[], backup: string): Promise<Takeover> {
  const killedAtMs = Date.now();
  handle.kill('SIGKILL');
  await handle.waitForExit(STEP_TIMEOUT_MS);

  const promoted = await waitForEvent(events, killedAtMs, (event) => event.name === backup && event.event === 'became-primary', `${backup} to become the primary`);
  const term = promoted.data?.term;
  const lost = events.find((event) => event.atMs >= killedAtMs && event.name === backup && event.event === 'primary-lost');
  const joined = await Promise.all(
    TRAFFIC_NODES.map((node) => waitForEvent(events, killedAtMs, (event) => event.name === node && event.event === 'master-joined' && event.data?.term === term, `${node} to link to ${backup}`)),
  );
  const welcomed = await Promise.all(
    CLIENTS.map((client) => waitForEvent(events, killedAtMs, (event) => event.name === client && event.event === 'connected' && event.data?.term === term, `${client} to reconnect to ${backup}`)),
  );
  return {
    detection: (lost?.atMs ?? promoted.atMs) - killedAtMs,
    takeover: promoted.atMs - killedAtMs,
    nodes: Math.max(...joined.map((event) => event.atMs)) - killedAtMs,
    clients: Math.max(...welcomed.map((event) => event.atMs)) - killedAtMs,
  };
}

/**
 * Starts a killed master again from its config file and data folder. The
 * process is not in the cluster's own list, so its events are collected here.
 */
async function restartAsBackup(cluster: Cluster, name: string, events: ChildEvent[]): Promise<ChildHandle> {
  const planned = [cluster.plan?.master, cluster.plan?.backup].find((node) => node?.name === name);
  if (planned === undefined) throw new Error(`${name} is not a master of this cluster`);
  const handle = await startChild({ name, role: 'master', cliPath: assertCliBuilt(), args: ['node', '--config', planned.configFile], logFile: planned.config.logFile ?? '' });
  handle.on('event', (event) => events.push(event));
  return handle;
}

/** Waits until the primary's backup has acknowledged the state, so the pair can fail over again. */
async function waitForReplication(cluster: Cluster, restarted: ChildHandle[], primary: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  const handle = currentHandle(cluster, primary, restarted);
  for (;;) {
    const status = (await handle.request('status', {}, STEP_TIMEOUT_MS)) as { failover?: { replication?: { connected?: boolean; ackedSeq?: number } } };
    const replication = status.failover?.replication;
    if (replication?.connected === true && (replication.ackedSeq ?? 0) > 0) return;
    if (Date.now() > deadline) throw new Error(`${primary} did not replicate to its restarted backup within ${STEP_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Returns the running process of a master: the cluster's own, or the one this benchmark restarted last. */
function currentHandle(cluster: Cluster, name: string, restarted: ChildHandle[] = []): ChildHandle {
  const candidates = [...restarted].reverse().filter((handle) => handle.name === name);
  const own = cluster.nodes.get(name);
  const running = [...candidates, ...(own === undefined ? [] : [own])].find((handle) => handle.running);
  if (running === undefined) throw new Error(`no running process of ${name}`);
  return running;
}

async function waitForEvent(events: ChildEvent[], sinceMs: number, match: (event: ChildEvent) => boolean, what: string): Promise<ChildEvent> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const found = events.find((event) => event.atMs >= sinceMs && match(event));
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function report(repeats: number, takeovers: Takeover[]): BenchResult {
  const rows = (['detection', 'takeover', 'nodes', 'clients'] as const).map((key) => ({ key, ...summarise(takeovers.map((entry) => entry[key])) }));
  const labels: Record<(typeof rows)[number]['key'], string> = {
    detection: 'backup notices the primary is gone',
    takeover: 'backup is the primary (target p99 < 3000)',
    nodes: 'every traffic node linked under the new term',
    clients: 'every online client reconnected to the new primary',
  };
  const metrics: Record<string, number> = { repeats };
  for (const row of rows) {
    metrics[`${row.key}P50Ms`] = row.p50;
    metrics[`${row.key}P99Ms`] = row.p99;
  }
  return {
    name: 'master takeover',
    lines: [
      `SIGKILL of the primary master, ${repeats} times; ms from the kill:`,
      ...rows.map((row) => `${labels[row.key]}: p50 ${formatNumber(row.p50, 0)}, p99 ${formatNumber(row.p99, 0)}, max ${formatNumber(row.max, 0)}`),
    ],
    metrics,
  };
}
