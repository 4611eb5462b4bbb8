/**
 * Experiments that break the master pair while a session streams through
 * the traffic nodes: SIGKILL of the primary, SIGSTOP of the primary past the
 * heartbeat timeout and SIGCONT, and a partition between the two masters.
 * Each checks that the streams keep flowing and lose no frame, and that no
 * term ever has two primaries. It also checks that no traffic node goes back
 * to a lower term, and that a change the backup acknowledged before the fault
 * is still there.
 */
import { waitFor } from '../launcher/cluster-driver.js';
import type { ExperimentContext, ExperimentDefinition, MeasurementDefinition } from './experiment.js';
import {
  STEP_TIMEOUT_MS,
  changeConfig,
  checkChangeSurvived,
  checkStreams,
  checkTerms,
  endSession,
  failoverTopology,
  masterStatus,
  prepareRepeat,
  receivedStreams,
  restorePair,
  waitForClientsToReconnect,
  waitForNodesToFollow,
  waitForPair,
  type FailoverRepeat,
} from './failover-pair.js';

const TAKEOVER_MEASUREMENTS: readonly MeasurementDefinition[] = [
  { name: 'detection', description: 'fault injected -> backup reports the primary lost' },
  { name: 'takeover', description: 'fault injected -> backup became the primary (DNS claim granted)' },
  { name: 'nodes-follow', description: 'fault injected -> every traffic node linked to the new primary' },
  { name: 'recovery', description: 'fault injected -> every client reconnected to the new primary' },
];

export const KILL_PRIMARY_MASTER: ExperimentDefinition = {
  name: 'kill-primary-master',
  summary: 'SIGKILL the primary master mid-session, restart it, and check that the backup takes over',
  cluster: () => ({ topology: failoverTopology() }),
  measurements: [...TAKEOVER_MEASUREMENTS, { name: 'rejoin', description: 'killed master restarted -> it replicates from the new primary as the backup' }],
  run: (context) => withRepeat(context, (repeat) => runKillPrimary(context, repeat)),
  recover: (context) => restorePair(context),
};

export const PAUSE_PRIMARY_MASTER: ExperimentDefinition = {
  name: 'pause-primary-master',
  summary: 'SIGSTOP the primary master past the heartbeat timeout, SIGCONT it, and check that it becomes the backup',
  cluster: () => ({ topology: failoverTopology() }),
  measurements: [
    ...TAKEOVER_MEASUREMENTS,
    { name: 'step-down', description: 'paused master resumed -> it stepped down to the backup role' },
    { name: 'rejoin', description: 'paused master resumed -> it replicates from the new primary as the backup' },
  ],
  run: (context) => withRepeat(context, (repeat) => runPausePrimary(context, repeat)),
  recover: (context) => restorePair(context),
};

export const PARTITION_MASTERS: ExperimentDefinition = {
  name: 'partition-masters',
  summary: 'blackhole the link between the two masters both ways, heal it, and check that the pair converges',
  cluster: () => ({ topology: failoverTopology() }),
  measurements: [
    { name: 'detection', description: 'partition -> backup reports the primary lost' },
    { name: 'claim-rejected', description: 'partition -> the DNS server rejects the backup\'s takeover claim' },
    { name: 'converged', description: 'heal -> backup replicates from the primary again, at its configuration version' },
  ],
  run: (context) => withRepeat(context, (repeat) => runPartition(context, repeat)),
  recover: (context) => restorePair(context),
};

/** Id of the partition's link fault. */
const PARTITION_FAULT_ID = 'partition-masters';
/** Takeover claims the DNS server must reject before the partition heals. */
const REJECTED_CLAIMS_BEFORE_HEAL = 2;

/** Runs one repeat with the shared preparation, and stops the role sampler however the repeat ends. */
async function withRepeat(context: ExperimentContext, scenario: (repeat: FailoverRepeat) => Promise<void>): Promise<void> {
  const repeat = await prepareRepeat(context);
  try {
    await scenario(repeat);
  } finally {
    await repeat.sampler.stop();
  }
}

async function runKillPrimary(context: ExperimentContext, repeat: FailoverRepeat): Promise<void> {
  const { cluster } = context;
  const { primary, backup } = repeat;
  const atFault = await receivedStreams(cluster);
  const faultAt = Date.now();
  context.mark('inject', { fault: 'SIGKILL', master: primary });
  await cluster.kill(primary);

  const term = await measureTakeover(context, repeat, faultAt);
  await checkStreams(context, repeat, atFault, faultAt);
  await checkChangeSurvived(context, repeat.change);

  context.mark('restore', { action: 'restart', master: primary });
  const restartAt = Date.now();
  await cluster.restart(primary);
  const linked = await context.waitForEvent({ process: primary, event: 'primary-linked', where: (data) => data.primary === backup && data.term === term }, STEP_TIMEOUT_MS, restartAt);
  context.measure('rejoin', linked.atMs - restartAt);
  await waitForPair(cluster, backup, primary);
  const status = await masterStatus(cluster, primary);
  context.check('former primary rejoins as the backup', status.role === 'backup' && status.term === term, `${primary} restarted as the ${status.role} under term ${status.term}, linked to ${status.failover.primary ?? 'no primary'}`);

  await endSession(cluster);
  await checkTerms(context, repeat);
}

async function runPausePrimary(context: ExperimentContext, repeat: FailoverRepeat): Promise<void> {
  const { cluster } = context;
  const { primary, backup } = repeat;
  const { timeoutMs } = cluster.topology.heartbeat;
  const atFault = await receivedStreams(cluster);
  const faultAt = Date.now();
  context.mark('inject', { fault: 'SIGSTOP', master: primary });
  repeat.sampler.exclude(primary);
  await cluster.pause(primary);

  const term = await measureTakeover(context, repeat, faultAt);
  await checkStreams(context, repeat, atFault, faultAt);

  // Stay paused for twice the heartbeat timeout at least, as a primary stopped by a debugger or a stalled host would.
  const holdMs = faultAt + 2 * timeoutMs - Date.now();
  if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
  context.mark('restore', { action: 'SIGCONT', master: primary, pausedMs: Date.now() - faultAt });
  const resumeAt = Date.now();
  await cluster.resume(primary);
  repeat.sampler.include(primary);

  const steppedDown = await context.waitForEvent({ process: primary, event: 'stepped-down' }, STEP_TIMEOUT_MS, resumeAt);
  context.measure('step-down', steppedDown.atMs - resumeAt);
  const linked = await context.waitForEvent({ process: primary, event: 'primary-linked', where: (data) => data.primary === backup && data.term === term }, STEP_TIMEOUT_MS, resumeAt);
  context.measure('rejoin', linked.atMs - resumeAt);
  await waitForPair(cluster, backup, primary);

  const status = await masterStatus(cluster, primary);
  const woke = context.eventsSince({ process: primary, event: 'became-primary' }, resumeAt).length + context.eventsSince({ process: primary, event: 'claim-confirmed' }, resumeAt).length;
  const stale = context.eventsSince({ event: 'master-joined', where: (data) => data.master === primary }, faultAt);
  const stepped = status.role === 'backup' && status.term === term && woke === 0 && stale.length === 0;
  context.check(
    'woken primary becomes the backup',
    stepped,
    `${primary} is the ${status.role} under term ${status.term} (${String(steppedDown.data?.reason)}); primary claims after the resume: ${woke}; traffic nodes that accepted it after the pause: ${stale.map((event) => event.name).join(', ') || 'none'}`,
  );

  await checkChangeSurvived(context, repeat.change);
  await endSession(cluster);
  await checkTerms(context, repeat);
}

/**
 * Measures a takeover by the backup after a fault of the primary: the
 * backup noticing, becoming the primary, every traffic node following and
 * every client reconnecting. Resolves with the new term.
 */
async function measureTakeover(context: ExperimentContext, repeat: FailoverRepeat, faultAt: number): Promise<number> {
  const { backup } = repeat;
  const lost = await context.waitForEvent({ process: backup, event: 'primary-lost' }, STEP_TIMEOUT_MS, faultAt);
  context.measure('detection', lost.atMs - faultAt);
  const promoted = await context.waitForEvent({ process: backup, event: 'became-primary' }, STEP_TIMEOUT_MS, faultAt);
  context.measure('takeover', promoted.atMs - faultAt);
  const term = promoted.data?.term;
  if (typeof term !== 'number') throw new Error(`${backup} reported became-primary without a term: ${JSON.stringify(promoted.data)}`);
  context.check('backup takes over under a higher term', term > repeat.term, `${backup} became the primary under term ${term}; the failed primary held term ${repeat.term}`);

  context.measure('nodes-follow', (await waitForNodesToFollow(context, backup, term, faultAt)) - faultAt);
  context.measure('recovery', (await waitForClientsToReconnect(context, backup, term, faultAt)) - faultAt);
  return term;
}

async function runPartition(context: ExperimentContext, repeat: FailoverRepeat): Promise<void> {
  const { cluster } = context;
  const { primary, backup, term } = repeat;
  const atFault = await receivedStreams(cluster);
  const faultAt = Date.now();
  context.mark('inject', { fault: 'blackhole', link: `${primary} <-> ${backup}` });
  await cluster.faults.link({ id: PARTITION_FAULT_ID, a: primary, b: backup, kind: 'blackhole', direction: 'both' });

  const lost = await context.waitForEvent({ process: backup, event: 'primary-lost' }, STEP_TIMEOUT_MS, faultAt);
  context.measure('detection', lost.atMs - faultAt);
  const rejected = await waitFor(() => {
    const events = context.eventsSince({ process: backup, event: 'claim-rejected' }, faultAt);
    return events.length >= REJECTED_CLAIMS_BEFORE_HEAL ? events : undefined;
  }, { timeoutMs: STEP_TIMEOUT_MS, description: `${REJECTED_CLAIMS_BEFORE_HEAL} takeover claims of ${backup} rejected by the DNS server` });
  context.measure('claim-rejected', (rejected[0]?.atMs ?? faultAt) - faultAt);
  const holders = [...new Set(rejected.map((event) => `${String(event.data?.holder)} under term ${String(event.data?.holderTerm)}`))];
  context.check('the DNS server keeps the site hostname with the primary', holders.length === 1 && holders[0] === `${primary} under term ${term}`, `${rejected.length} claims of ${backup} rejected; holder: ${holders.join(', ')}`);

  // A change during the partition is applied on the primary but cannot reach the backup until the heal.
  const during = await changeConfig(cluster, 'eu-traffic1', ['127.30.0.0/16', `127.${150 + (context.repeat % 50)}.0.0/16`]);
  context.mark('change-made', { node: during.node, prefixes: during.prefixes, version: during.version, replication: during.replication });
  await checkStreams(context, repeat, atFault, faultAt);

  context.mark('restore', { action: 'heal', link: `${primary} <-> ${backup}` });
  const healAt = Date.now();
  await cluster.faults.heal(PARTITION_FAULT_ID);
  await context.waitForEvent({ process: backup, event: 'primary-linked', where: (data) => data.primary === primary }, STEP_TIMEOUT_MS, healAt);
  const converged = await waitFor(async () => {
    const [ofPrimary, ofBackup] = await Promise.all([masterStatus(cluster, primary), masterStatus(cluster, backup)]);
    const caughtUp = ofBackup.failover.replica?.configVersion === ofPrimary.configVersion && ofPrimary.configVersion >= during.version;
    return caughtUp ? { ofPrimary, ofBackup, atMs: Date.now() } : undefined;
  }, { timeoutMs: STEP_TIMEOUT_MS, description: `${backup} to hold the configuration version of ${primary}` });
  context.measure('converged', converged.atMs - healAt);

  const { ofPrimary, ofBackup } = converged;
  const takeovers = context.eventsSince({ event: 'became-primary' }, faultAt);
  context.check(
    'primary keeps its role through the partition',
    takeovers.length === 0 && ofPrimary.role === 'primary' && ofPrimary.term === term,
    `${primary} is the ${ofPrimary.role} under term ${ofPrimary.term}; takeovers during the repeat: ${takeovers.map((event) => `${event.name} term ${String(event.data?.term)}`).join(', ') || 'none'}`,
  );
  context.check(
    'masters converge after the heal',
    ofBackup.role === 'backup' && ofBackup.term === term && ofBackup.failover.primary === primary,
    `${backup} is the ${ofBackup.role} under term ${ofBackup.term}, linked to ${ofBackup.failover.primary ?? 'no primary'}, at configuration version ${ofBackup.failover.replica?.configVersion ?? 0} of ${ofPrimary.configVersion} (the change during the partition: ${during.version}, ${during.replication})`,
  );

  await checkChangeSurvived(context, repeat.change);
  await endSession(cluster);
  await checkTerms(context, repeat);
}
