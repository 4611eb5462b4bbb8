/**
 * The cluster of the master failover experiments and the steps they share.
 * Each repeat finds the pair, streams a session through both traffic nodes
 * and makes a configuration change the backup acknowledges. Once the cluster
 * has recovered, it checks the invariants.
 */
import { ADMIN_PATHS, type ClusterView } from '../admin/api-types.js';
import { streamStats, waitFor, type StartedSession } from '../launcher/cluster-driver.js';
import type { Cluster } from '../launcher/cluster.js';
import { REPLICATION_HEADER } from '../master/master-membership.js';
import type { ExperimentContext } from './experiment.js';
import { describeTerms, findStalledStreams, findTermConflicts, findTermRegressions, primaryClaimsFromEvents, streamDamage, type ReceivedStream } from './failover-invariants.js';
import { RoleSampler } from './role-sampler.js';
import { TermHistory } from './term-history.js';

export const MASTERS = ['master1', 'master2'] as const;
export const TRAFFIC_NODES = ['us-traffic1', 'eu-traffic1'] as const;
/** The session runs from the EU customer's home node to the US representative's. */
export const CUSTOMER = 'customer-eu';
export const REPRESENTATIVE = 'rep-us';
export const CLIENTS = [CUSTOMER, REPRESENTATIVE] as const;
/** Traffic node whose prefixes the acknowledged change edits; a prefix no client uses, so routing stays the same. */
const CHANGED_NODE = 'us-traffic1';
const CHANGED_NODE_PREFIX = '127.20.0.0/16';

/** Deadline of each wait in a repeat; generous, because a loaded 2-core machine runs every process. */
export const STEP_TIMEOUT_MS = 40_000;
/** Frames verified on each stream before the fault, so both streams are known to carry data. */
const FRAMES_BEFORE_FAULT = 20;

/**
 * Returns the topology: a failover pair, one traffic node per region and one
 * client per region. The streams (2 KiB frames every 10 ms) outlast any
 * repeat, and each repeat starts its own session and ends it.
 */
export function failoverTopology(): Record<string, unknown> {
  return {
    clusterName: 'master-failover',
    masters: MASTERS.map((name) => ({ name, model: 'B400' })),
    trafficNodes: [
      { name: 'us-traffic1', prefixes: [CHANGED_NODE_PREFIX], timezone: 'America/New_York' },
      { name: 'eu-traffic1', prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin' },
    ],
    clients: [
      { name: REPRESENTATIVE, role: 'representative', address: '127.20.0.5', timezone: 'America/New_York' },
      { name: CUSTOMER, role: 'customer', address: '127.30.0.5', timezone: 'Europe/Berlin' },
    ],
    frames: { count: 1_000_000, sizeBytes: 2048, intervalMs: 10 },
  };
}

/** The part of a master's `status` reply the experiments read. */
export interface PairStatus {
  role: 'primary' | 'backup';
  term: number;
  configVersion: number;
  failover: {
    termHolder: string;
    fenced: boolean;
    primary?: string;
    replication?: { connected: boolean; ackedSeq: number };
    replica?: { configVersion: number };
  };
}

export async function masterStatus(cluster: Cluster, name: string): Promise<PairStatus> {
  return (await cluster.request(name, 'status', {}, STEP_TIMEOUT_MS)) as PairStatus;
}

/** A configuration change and the replication outcome the primary returned. */
export interface ConfigChange {
  node: string;
  prefixes: string[];
  /** Configuration version after the change. */
  version: number;
  /** Value of the replication header, such as "acknowledged by master2 (update 7)". */
  replication: string;
}

/** State of one repeat that the shared checks need. */
export interface FailoverRepeat {
  primary: string;
  backup: string;
  term: number;
  session: StartedSession;
  change: ConfigChange;
  sampler: RoleSampler;
}

/** Returns the other master of the pair. */
export function otherMaster(name: string): string {
  return name === MASTERS[0] ? MASTERS[1] : MASTERS[0];
}

/**
 * Prepares one repeat: waits until the primary replicates to its backup,
 * starts a session with streams both ways, makes a change the backup
 * acknowledges, and starts sampling every master's role.
 */
export async function prepareRepeat(context: ExperimentContext): Promise<FailoverRepeat> {
  const { cluster } = context;
  TermHistory.of(cluster);
  const primary = await waitFor(() => cluster.primaryMaster(), { timeoutMs: STEP_TIMEOUT_MS, description: 'a master to serve as the primary' });
  const backup = otherMaster(primary);
  await waitForPair(cluster, primary, backup);
  const { term } = await masterStatus(cluster, primary);
  context.mark('pair-ready', { primary, backup, term });

  const session = await startStreamingSession(context);
  const change = await changeConfig(cluster, CHANGED_NODE, [CHANGED_NODE_PREFIX, `127.${200 + (context.repeat % 50)}.0.0/16`]);
  context.mark('change-made', { node: change.node, prefixes: change.prefixes, version: change.version, replication: change.replication });
  if (!change.replication.startsWith(`acknowledged by ${backup}`)) {
    throw new Error(`the change to ${change.node} was not acknowledged by ${backup} before the fault (${REPLICATION_HEADER}: ${change.replication}); the repeat would test nothing`);
  }

  const sampler = new RoleSampler(cluster, MASTERS);
  sampler.start();
  return { primary, backup, term, session, change, sampler };
}

/** Waits until `primary` reports a connected replication link its backup has acknowledged, and the backup names it. */
export async function waitForPair(cluster: Cluster, primary: string, backup: string): Promise<void> {
  await waitFor(async () => {
    const [ofPrimary, ofBackup] = await Promise.all([masterStatus(cluster, primary), masterStatus(cluster, backup)]);
    const replication = ofPrimary.failover.replication;
    return ofPrimary.role === 'primary' && replication?.connected === true && replication.ackedSeq > 0 && ofBackup.role === 'backup' && ofBackup.failover.primary === primary;
  }, { timeoutMs: STEP_TIMEOUT_MS, description: `${primary} to replicate to its backup ${backup}` });
}

async function startStreamingSession(context: ExperimentContext): Promise<StartedSession> {
  const { cluster } = context;
  const session = await cluster.startSession({ customer: CUSTOMER, representative: REPRESENTATIVE, issue: `failover experiment repeat ${context.repeat}`, timeoutMs: STEP_TIMEOUT_MS });
  await cluster.request(REPRESENTATIVE, 'show-my-screen', {}, STEP_TIMEOUT_MS);
  await waitFor(async () => {
    const streams = await receivedStreams(cluster);
    return streams.length === CLIENTS.length && streams.every((entry) => entry.stats.verified >= FRAMES_BEFORE_FAULT);
  }, { timeoutMs: STEP_TIMEOUT_MS, description: `${FRAMES_BEFORE_FAULT} verified frames on the streams of both clients` });
  return session;
}

/** Reads the stream each client receives in its session: the customer's screen at the representative, and the reverse. */
export async function receivedStreams(cluster: Cluster): Promise<ReceivedStream[]> {
  const streams: ReceivedStream[] = [];
  for (const client of CLIENTS) {
    for (const stats of await streamStats(cluster, client)) {
      if (stats.direction === 'subscribe') streams.push({ client, stats });
    }
  }
  return streams;
}

/** Sets a traffic node's prefixes through the primary's admin API; throws when the request is rejected. */
export async function changeConfig(cluster: Cluster, node: string, prefixes: string[]): Promise<ConfigChange> {
  const reply = await cluster.admin.send('PATCH', `${ADMIN_PATHS.clusterNodes}/${node}`, { prefixes });
  if (reply.status !== 200) throw new Error(`PATCH of ${node} failed with ${reply.status}: ${JSON.stringify(reply.body)}`);
  const header = reply.headers[REPLICATION_HEADER];
  const version = (reply.body as Partial<ClusterView>).version ?? 0;
  return { node, prefixes, version, replication: Array.isArray(header) ? header.join(', ') : String(header ?? '') };
}

/** Checks that the primary serving now contains an acknowledged change. */
export async function checkChangeSurvived(context: ExperimentContext, change: ConfigChange): Promise<void> {
  const view = await context.cluster.admin.get<ClusterView>(ADMIN_PATHS.cluster);
  const prefixes = view.trafficNodes.find((entry) => entry.name === change.node)?.prefixes ?? [];
  const kept = JSON.stringify(prefixes) === JSON.stringify(change.prefixes) && view.version >= change.version;
  const server = view.master?.name ?? 'the primary';
  context.check('nothing acknowledged lost', kept, `${server} has ${change.node} prefixes ${prefixes.join(', ')} at version ${view.version}; acknowledged before the fault: ${change.prefixes.join(', ')} at version ${change.version}`);
}

/**
 * Checks the streams after the recovery: each one verified frames between
 * the fault and the recovery (it kept flowing), none lost, corrupted or
 * reordered a frame, and the session was never ended.
 */
export async function checkStreams(context: ExperimentContext, repeat: FailoverRepeat, atFault: readonly ReceivedStream[], sinceMs: number): Promise<void> {
  const { cluster } = context;
  const afterRecovery = await receivedStreams(cluster);
  const stalled = findStalledStreams(atFault, afterRecovery);
  const flow = afterRecovery.map((entry) => `${entry.client} ${entry.stats.stream} via ${entry.stats.node}: ${atFault.find((before) => before.client === entry.client)?.stats.verified ?? 0} -> ${entry.stats.verified} verified, max latency ${entry.stats.maxLatencyMs ?? '-'} ms`);
  context.check('streams keep flowing through the traffic nodes', stalled.length === 0, stalled.length === 0 ? flow.join('; ') : stalled.join('; '));

  const damaged = afterRecovery.filter((entry) => streamDamage(entry.stats) !== '').map((entry) => `${entry.client} ${entry.stats.stream}: ${streamDamage(entry.stats)}`);
  context.check('frames lost only on the failed path', damaged.length === 0, damaged.length === 0 ? `no stream lost, corrupted or reordered a frame; the failed path (the master) carries no frame` : damaged.join('; '));

  const ended = context.eventsSince({ event: 'session-ended', where: (data) => data.sessionId === repeat.session.sessionId }, sinceMs);
  context.check('session survives the fault', ended.length === 0, ended.length === 0 ? `session ${repeat.session.sessionId} kept running` : `session ended for ${ended.map((event) => `${event.name}: ${String(event.data?.reason)}`).join('; ')}`);
}

/**
 * Checks the term invariants over the whole run so far: no term ever had
 * two primaries (events of every master and of the DNS server, plus the
 * status samples), and no traffic node went back to a lower term.
 */
export async function checkTerms(context: ExperimentContext, repeat: FailoverRepeat): Promise<void> {
  await repeat.sampler.stop();
  const history = TermHistory.of(context.cluster);
  history.sampled.push(...repeat.sampler.claims);
  const claims = [...primaryClaimsFromEvents(history.events), ...history.sampled];
  const conflicts = findTermConflicts(claims);
  context.check('one primary per term', conflicts.length === 0, conflicts.length === 0 ? `${describeTerms(claims)} (${claims.length} claims, ${repeat.sampler.replies} status replies in this repeat)` : conflicts.join('; '));
  const regressions = findTermRegressions(history.events);
  context.check('traffic nodes never accept a lower term', regressions.length === 0, regressions.length === 0 ? 'every master-joined event raised or kept the term of its node' : regressions.join('; '));
}

/** Ends the repeat's session, if it still runs, and waits until the representative reports it ended. */
export async function endSession(cluster: Cluster): Promise<void> {
  const status = (await cluster.request(REPRESENTATIVE, 'status')) as { sessionId?: string };
  if (status.sessionId === undefined) return;
  const sinceMs = Date.now();
  await cluster.request(REPRESENTATIVE, 'end-session', { reason: 'experiment repeat finished' });
  await cluster.waitForEvent({ process: REPRESENTATIVE, event: 'session-ended', where: (data) => data.sessionId === status.sessionId }, { timeoutMs: STEP_TIMEOUT_MS, sinceMs });
}

/** Waits for every traffic node to link to `master` under `term`; resolves with the latest link time. */
export async function waitForNodesToFollow(context: ExperimentContext, master: string, term: number, sinceMs: number): Promise<number> {
  const joined = await Promise.all(TRAFFIC_NODES.map((node) => context.waitForEvent({ process: node, event: 'master-joined', where: (data) => data.master === master && data.term === term }, STEP_TIMEOUT_MS, sinceMs)));
  return Math.max(...joined.map((event) => event.atMs));
}

/** Waits for every client to be welcomed by `master` under `term`; resolves with the latest welcome time. */
export async function waitForClientsToReconnect(context: ExperimentContext, master: string, term: number, sinceMs: number): Promise<number> {
  const welcomed = await Promise.all(CLIENTS.map((client) => context.waitForEvent({ process: client, event: 'connected', where: (data) => data.masterName === master && data.term === term }, STEP_TIMEOUT_MS, sinceMs)));
  return Math.max(...welcomed.map((event) => event.atMs));
}

/**
 * Brings the pair back after a failed repeat: heals every link fault,
 * resumes every master (SIGCONT is harmless to a running one), restarts a
 * master that is not running, ends the session and waits for a replicating
 * pair.
 */
export async function restorePair(context: ExperimentContext): Promise<void> {
  const { cluster } = context;
  await cluster.faults.heal();
  for (const name of MASTERS) {
    const handle = cluster.process(name);
    if (handle.running) handle.kill('SIGCONT');
    else await cluster.restart(name);
  }
  await endSession(cluster).catch(() => undefined);
  const primary = await waitFor(() => cluster.primaryMaster(), { timeoutMs: STEP_TIMEOUT_MS, description: 'a master to serve as the primary' });
  await waitForPair(cluster, primary, otherMaster(primary));
}
