/**
 * Experiments in which a traffic node fails mid-session: killed with
 * SIGKILL, or cut off by a blackhole on every link. Two sessions run, one
 * through the victim node and one through another node. The session through
 * the victim must end for both participants with a reason, and a new session
 * must avoid the victim while it is offline. The other session must lose no
 * frame. Once back, the victim must rejoin and be chosen again.
 */
import type { StartedSession } from '../launcher/cluster-driver.js';
import { streamStats, waitForFrames } from '../launcher/cluster-driver.js';
import type { Cluster } from '../launcher/cluster.js';
import type { ExperimentContext, ExperimentDefinition, MeasurementDefinition } from './experiment.js';

/** The node that fails, the node that carries the other session, and a spare candidate without prefixes. */
export const VICTIM_NODE = 'traffic1';
export const STEADY_NODE = 'traffic2';
export const SPARE_NODE = 'traffic3';
export const MASTER_NAME = 'master1';
/** Clients whose session runs through the victim (prefix 127.21.0.0/16) and through the steady node (127.22.0.0/16). */
export const VICTIM_GROUP = { customer: 'customer1', representative: 'rep1' } as const;
export const STEADY_GROUP = { customer: 'customer2', representative: 'rep2' } as const;

/** Margin over heartbeat timeout plus one interval that detection may take on a loaded machine. */
export const DETECTION_SLACK_MS = 1000;
/**
 * Frames of every stream: 500 frames of 4 KiB every 10 ms. A stream lasts
 * about 5 s, longer than the fault plus a heartbeat timeout of 2 s, so the
 * steady session is streaming while the victim's failure is detected.
 */
const FRAMES = { count: 500, sizeBytes: 4096, intervalMs: 10 };
/** Frames verified on each stream before the fault, so both sessions are known to carry data. */
const FRAMES_BEFORE_FAULT = 20;
/** Deadline of each wait in a repeat. */
const STEP_TIMEOUT_MS = 30_000;

/** Cluster of the traffic node experiments: three traffic nodes, two prefix groups of clients. */
export function trafficNodeTopology(): Record<string, unknown> {
  return {
    clusterName: 'traffic-node-failure',
    method: 'random',
    masters: [{ name: MASTER_NAME }],
    trafficNodes: [
      { name: VICTIM_NODE, prefixes: ['127.21.0.0/16'], timezone: 'Europe/Berlin' },
      { name: STEADY_NODE, prefixes: ['127.22.0.0/16'], timezone: 'Europe/Berlin' },
      { name: SPARE_NODE, timezone: 'Europe/Berlin' },
    ],
    clients: [
      { name: VICTIM_GROUP.customer, role: 'customer', address: '127.21.0.5', timezone: 'Europe/Berlin' },
      { name: VICTIM_GROUP.representative, role: 'representative', address: '127.21.0.6', timezone: 'Europe/Berlin' },
      { name: STEADY_GROUP.customer, role: 'customer', address: '127.22.0.5', timezone: 'Europe/Berlin' },
      { name: STEADY_GROUP.representative, role: 'representative', address: '127.22.0.6', timezone: 'Europe/Berlin' },
    ],
    frames: FRAMES,
  };
}

const MEASUREMENTS: readonly MeasurementDefinition[] = [
  { name: 'detection', description: 'fault injected -> master marks the node offline' },
  { name: 'sessions-ended', description: 'fault injected -> both participants got SessionEnded' },
  { name: 'recovery', description: 'fault injected -> first verified frame of the replacement session' },
  { name: 'rejoin', description: 'restarted node ready, or link healed -> master marks it online' },
];

type Failure = 'kill' | 'blackhole';

export const KILL_TRAFFIC_NODE: ExperimentDefinition = {
  name: 'kill-traffic-node',
  summary: `SIGKILL traffic node ${VICTIM_NODE} mid-session, restart it, and check who noticed what`,
  cluster: () => ({ topology: trafficNodeTopology() }),
  measurements: MEASUREMENTS,
  run: (context) => runTrafficNodeFailure(context, 'kill'),
  recover: (context) => restoreCluster(context),
};

export const BLACKHOLE_TRAFFIC_NODE: ExperimentDefinition = {
  name: 'blackhole-traffic-node',
  summary: `drop every byte to and from traffic node ${VICTIM_NODE} mid-session, heal, and check who noticed what`,
  cluster: () => ({ topology: trafficNodeTopology() }),
  measurements: MEASUREMENTS,
  run: (context) => runTrafficNodeFailure(context, 'blackhole'),
  recover: (context) => restoreCluster(context),
};

const BLACKHOLE_FAULT_ID = `blackhole-${VICTIM_NODE}`;

async function runTrafficNodeFailure(context: ExperimentContext, failure: Failure): Promise<void> {
  const { cluster } = context;
  context.mark('start-sessions');
  const [victimSession, steadySession] = await Promise.all([cluster.startSession({ ...VICTIM_GROUP, timeoutMs: STEP_TIMEOUT_MS }), cluster.startSession({ ...STEADY_GROUP, timeoutMs: STEP_TIMEOUT_MS })]);
  await requireNodes(context, victimSession, [VICTIM_NODE], 'the session of the victim group');
  await requireNodes(context, steadySession, [STEADY_NODE], 'the session of the steady group');
  await Promise.all([VICTIM_GROUP.representative, STEADY_GROUP.representative].map((client) => waitForFrames(cluster, client, { minFrames: FRAMES_BEFORE_FAULT, timeoutMs: STEP_TIMEOUT_MS })));

  const faultAt = Date.now();
  if (failure === 'kill') {
    context.mark('inject', { fault: 'SIGKILL', node: VICTIM_NODE });
    await cluster.kill(VICTIM_NODE);
  } else {
    context.mark('inject', { fault: 'blackhole', node: VICTIM_NODE });
    await cluster.faults.link({ id: BLACKHOLE_FAULT_ID, a: VICTIM_NODE, b: '*', kind: 'blackhole' });
  }

  await checkDetection(context, faultAt);
  await checkSessionEnded(context, victimSession, faultAt);
  await checkReplacement(context, faultAt);
  await checkSteadySession(context, steadySession);

  await endSession(cluster, VICTIM_GROUP.representative);
  if (failure === 'kill') {
    context.mark('restore', { action: 'restart', node: VICTIM_NODE });
    await cluster.restart(VICTIM_NODE);
  } else {
    context.mark('restore', { action: 'heal', node: VICTIM_NODE });
    await cluster.faults.heal(BLACKHOLE_FAULT_ID);
  }
  // The rejoin time counts from the moment the node accepts connections again: its ready message, or the heal.
  const restoreAt = Date.now();
  const online = await context.waitForEvent({ process: MASTER_NAME, event: 'node-online', where: (data) => data.node === VICTIM_NODE }, STEP_TIMEOUT_MS, restoreAt);
  context.measure('rejoin', online.atMs - restoreAt);
  context.check('node rejoins', true, `${MASTER_NAME} marked ${VICTIM_NODE} online ${online.atMs - restoreAt} ms after the ${failure === 'kill' ? 'restart' : 'heal'}`);

  const again = await cluster.startSession({ ...VICTIM_GROUP, timeoutMs: STEP_TIMEOUT_MS });
  const nodes = await sessionNodes(context, again);
  context.check('rejoined node is chosen again', nodes.includes(VICTIM_NODE), `new session of ${VICTIM_GROUP.customer} (prefix 127.21.0.0/16 of ${VICTIM_NODE}) went to ${nodes.join(', ')}`);
  await waitForFrames(cluster, VICTIM_GROUP.representative, { minFrames: 1, timeoutMs: STEP_TIMEOUT_MS });
  await Promise.all([endSession(cluster, VICTIM_GROUP.representative), endSession(cluster, STEADY_GROUP.representative)]);
}

async function checkDetection(context: ExperimentContext, faultAt: number): Promise<void> {
  const { intervalMs, timeoutMs } = context.cluster.topology.heartbeat;
  const offline = await context.waitForEvent({ process: MASTER_NAME, event: 'node-offline', where: (data) => data.node === VICTIM_NODE }, STEP_TIMEOUT_MS, faultAt);
  const detection = offline.atMs - faultAt;
  context.measure('detection', detection);
  const bound = timeoutMs + intervalMs + DETECTION_SLACK_MS;
  context.check('master marks the node offline within the heartbeat timeout', detection <= bound, `${detection} ms (bound: timeout ${timeoutMs} + interval ${intervalMs} + ${DETECTION_SLACK_MS} ms slack); reason: ${text(offline.data?.reason)}`);
}

async function checkSessionEnded(context: ExperimentContext, session: StartedSession, faultAt: number): Promise<void> {
  const ends = await Promise.all([session.customer, session.representative].map((client) =>
    context.waitForEvent({ process: client, event: 'session-ended', where: (data) => data.sessionId === session.sessionId }, STEP_TIMEOUT_MS, faultAt),
  ));
  context.measure('sessions-ended', Math.max(...ends.map((event) => event.atMs)) - faultAt);
  const reasons = ends.map((event) => `${event.name}: ${text(event.data?.reason)}`);
  const named = ends.every((event) => text(event.data?.reason).includes(VICTIM_NODE));
  context.check('session through the failed node ends for both participants with the reason', named, reasons.join('; '));
}

async function checkReplacement(context: ExperimentContext, faultAt: number): Promise<void> {
  const { cluster } = context;
  const replacement = await cluster.startSession({ ...VICTIM_GROUP, timeoutMs: STEP_TIMEOUT_MS });
  const nodes = await sessionNodes(context, replacement);
  context.check('new sessions avoid the offline node', !nodes.includes(VICTIM_NODE), `replacement session ${replacement.sessionId} went to ${nodes.join(', ')}`);
  await waitForFrames(cluster, VICTIM_GROUP.representative, { minFrames: 1, timeoutMs: STEP_TIMEOUT_MS });
  context.measure('recovery', Date.now() - faultAt);
}

async function checkSteadySession(context: ExperimentContext, session: StartedSession): Promise<void> {
  const { cluster } = context;
  const timeoutMs = FRAMES.count * FRAMES.intervalMs + STEP_TIMEOUT_MS;
  const streams = await cluster.waitFor(async () => {
    const subscribed = (await streamStats(cluster, session.representative)).filter((stream) => stream.direction === 'subscribe');
    return subscribed.length > 0 && subscribed.every((stream) => stream.done) ? subscribed : undefined;
  }, { timeoutMs, description: `every stream of ${session.representative} to finish` });
  const intact = streams.every((stream) => stream.lost === 0 && stream.corrupted === 0 && stream.verified === stream.framesSent);
  const detail = streams.map((stream) => `${stream.stream} via ${stream.node}: sent ${String(stream.framesSent)}, verified ${stream.verified}, lost ${stream.lost}, corrupted ${stream.corrupted}`).join('; ');
  context.check('sessions on other nodes lose no frame', intact, detail);
  const ended = context.eventsSince({ event: 'session-ended', where: (data) => data.sessionId === session.sessionId });
  context.check('sessions on other nodes keep running', ended.length === 0, ended.length === 0 ? `session ${session.sessionId} on ${STEADY_NODE} was not ended` : `session ${session.sessionId} ended: ${text(ended[0]?.data?.reason)}`);
}

/** Traffic nodes the master chose for a session, from its session-started event. */
async function sessionNodes(context: ExperimentContext, session: StartedSession): Promise<string[]> {
  const started = await context.waitForEvent({ process: MASTER_NAME, event: 'session-started', where: (data) => data.sessionId === session.sessionId }, STEP_TIMEOUT_MS);
  return [...new Set([text(started.data?.customerNode), text(started.data?.representativeNode)])];
}

/** Throws when a session did not land where the topology's prefixes put it, because the scenario then tests nothing. */
async function requireNodes(context: ExperimentContext, session: StartedSession, expected: string[], label: string): Promise<void> {
  const nodes = await sessionNodes(context, session);
  if (nodes.length !== expected.length || !expected.every((node) => nodes.includes(node))) {
    throw new Error(`${label} went to ${nodes.join(', ')}, expected ${expected.join(', ')}; check that every traffic node is online before the repeat`);
  }
}

/** Returns a string field of event data, or an empty string when it is absent or not a string. */
function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

async function endSession(cluster: Cluster, representative: string): Promise<void> {
  const status = (await cluster.request(representative, 'status')) as { sessionId?: string };
  if (status.sessionId === undefined) return;
  const sinceMs = Date.now();
  await cluster.request(representative, 'end-session', { reason: 'experiment step finished' });
  await cluster.waitForEvent({ process: representative, event: 'session-ended', where: (data) => data.sessionId === status.sessionId }, { timeoutMs: STEP_TIMEOUT_MS, sinceMs });
}

/** Heals every fault, restarts the victim if it is down, ends open sessions and waits until the master reports every node online. */
async function restoreCluster(context: ExperimentContext): Promise<void> {
  const { cluster } = context;
  await cluster.faults.heal();
  if (cluster.process(VICTIM_NODE).running === false) await cluster.restart(VICTIM_NODE);
  for (const group of [VICTIM_GROUP, STEADY_GROUP]) {
    await endSession(cluster, group.representative).catch(() => undefined);
  }
  await cluster.waitFor(async () => {
    const status = (await cluster.request(MASTER_NAME, 'status')) as { nodes?: { name: string; online: boolean }[] };
    return status.nodes?.every((node) => node.online) === true;
  }, { timeoutMs: STEP_TIMEOUT_MS, description: 'every traffic node online again' });
}
