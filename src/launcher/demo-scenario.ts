import { predictPath, type PredictedPath } from '../client/p2p/nat-model.js';
import { DEFAULT_TOPOLOGY } from '../config/default-topology.js';
import type { StunRole } from '../config/peer-to-peer.js';
import type { ClientSpec, FramesSpec, Topology } from '../config/topology.js';
import { validateTopology } from '../config/topology-validation.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { STUN_PROCESS_NAME } from './cluster-plan.js';
import type { ChildHandle } from './child-process.js';
import { startCluster, type Cluster } from './cluster.js';
import { judgeDemo, type DemoConnection, type DemoNode, type DemoPath, type DemoStream, type DemoVerdict } from './demo-verdict.js';
import { summarizeLog, type LogSummary } from './log-summary.js';

/** Time each client step (accept, a stream to finish) may take on a loaded machine. */
export const DEMO_STEP_TIMEOUT_MS = 30_000;
/** Pause between two polls while waiting for the queue or an assignment. */
const POLL_INTERVAL_MS = 100;
const SUPPORT_ISSUE = 'my screen shows an error dialog';

export interface DemoOptions {
  topology?: Topology | Record<string, unknown>;
  runDir?: string;
  seed?: string;
  frames?: Partial<FramesSpec>;
  /** Called with a short line for people at every step. */
  onStep?: (line: string) => void;
  /** Turn peer to peer on (see peerToPeerTopology), and optionally break it. */
  p2p?: DemoPeerToPeer;
}

/** Settings `demo --p2p` uses to set up and break the direct path. */
export interface DemoPeerToPeer {
  /** STUN server the clients query; "public" (the default) starts the public STUN process. */
  stunRole?: StunRole;
  /** Stop the public STUN server process before the session starts; needs STUN role "public". */
  stunDown?: boolean;
  /** Put a firewall that drops inbound connections in front of both clients. */
  blockInbound?: boolean;
  /** Time a direct attempt may take, in ms; DEMO_P2P_TIMEOUT_MS when absent. */
  timeoutMs?: number;
}

/** Time a direct attempt of the demo may take; short, so a fallback shows quickly. */
export const DEMO_P2P_TIMEOUT_MS = 3000;

/** A process the demo started, so callers can check it is gone afterwards. */
export interface DemoProcess {
  name: string;
  role: string;
  pid: number;
}

/** Everything the demo observed, as `atlas-sim demo --json` prints it. */
export interface DemoReport {
  seed: string;
  runDir: string;
  /** True when the launcher created the run folder, false when the caller gave an existing empty one. */
  runDirCreated: boolean;
  clusterName: string;
  sessionId: string;
  frames: FramesSpec;
  connections: DemoConnection[];
  streams: DemoStream[];
  nodes: DemoNode[];
  processes: DemoProcess[];
  logs: LogSummary[];
  verdict: DemoVerdict;
  /** With peer to peer on: the path the rules predict, and the path each client and the master reported. */
  path?: { expected: PredictedPath; reported: DemoPath[] };
  /** The error that stopped the scenario early, if any. */
  error?: string;
  elapsedMs: { start: number; session: number; total: number };
}

interface ClientStatsReply {
  path?: { path: string; reason: string };
  connections?: { kind: DemoConnection['kind']; node: string; reason: string; state: string }[];
  streams?: (Omit<DemoStream, 'from' | 'to' | 'publisherNode'> & { direction: 'publish' | 'subscribe' })[];
}

interface TrafficClientReply {
  clientId: string;
  sourceIp: string;
  stream: string;
  direction: 'publish' | 'subscribe';
  reason: string;
}

interface MasterClientReply {
  clientId: string;
  session?: { connections: { kind: string; node: string; reason: string }[] };
}

interface MasterNodeReply {
  name: string;
  online: boolean;
  accepting: boolean;
  address: string;
}

/** The two clients of the scenario. */
interface Participants {
  rep: { spec: ClientSpec; handle: ChildHandle };
  customer: { spec: ClientSpec; handle: ChildHandle };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the demo. The customer requests support, the representative accepts,
 * and the customer's screen must arrive complete at the representative. Then
 * the representative starts Show My Screen, and its screen must arrive at the
 * customer. Every traffic node's connected clients are read while the session
 * is live; then the session ends and the cluster stops. A topology without a
 * representative or a customer is rejected with a ConfigError before any
 * process starts. After the cluster has started, a failed step does not
 * throw: it is reported in `error` and fails the verdict. The run folder is
 * left in place.
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const step = options.onStep ?? ((): void => undefined);
  const startedMs = Date.now();
  const topology = options.p2p === undefined ? validateTopology(options.topology ?? DEFAULT_TOPOLOGY, 'topology').topology : peerToPeerTopology(options.topology, options.p2p);
  checkDemoClients(topology);
  const cluster = await startCluster({ topology, runDir: options.runDir, seed: options.seed, frames: options.frames });
  const startElapsedMs = Date.now() - startedMs;
  step(`cluster ${cluster.topology.clusterName} formed in ${(startElapsedMs / 1000).toFixed(1)} s (seed ${cluster.seed}, run folder ${cluster.runDir})`);
  if (cluster.ports?.fallbackReason !== undefined) step(`note: ${cluster.ports.fallbackReason}`);
  const expectedPath = options.p2p === undefined ? undefined : expectPath(cluster.topology, options.p2p);
  if (expectedPath !== undefined) step(`peer to peer on; the rules predict the ${expectedPath.path} path: ${expectedPath.reason}`);

  const report: DemoReport = {
    seed: cluster.seed,
    runDir: cluster.runDir,
    runDirCreated: cluster.folder.created,
    clusterName: cluster.topology.clusterName,
    sessionId: '',
    frames: cluster.topology.frames,
    connections: [],
    streams: [],
    nodes: [],
    processes: [...cluster.nodes.values(), ...cluster.clients.values()].map((handle) => ({ name: handle.name, role: handle.role, pid: handle.pid })),
    logs: [],
    verdict: { ok: false, checks: [] },
    elapsedMs: { start: startElapsedMs, session: 0, total: 0 },
    ...(expectedPath === undefined ? {} : { path: { expected: expectedPath, reported: [] } }),
  };

  const sessionStartedMs = Date.now();
  let observedAtMs: number | undefined;
  try {
    if (options.p2p?.stunDown === true) {
      await cluster.stop(STUN_PROCESS_NAME);
      step('public STUN server stopped');
    }
    const participants = findParticipants(cluster);
    observedAtMs = await runSession(cluster, participants, report, step);
  } catch (error) {
    report.error = errorMessage(error);
    step(`demo step failed: ${report.error}`);
  }
  report.elapsedMs.session = Date.now() - sessionStartedMs;

  await cluster.close();
  step('cluster stopped');
  report.logs = await Promise.all(
    [...cluster.nodes.values(), ...cluster.clients.values()].map((handle) => summarizeLog(handle.name, handle.logFile)),
  );
  report.verdict = judgeDemo({
    masterName: cluster.topology.masters[0]?.name ?? '',
    frameCount: cluster.topology.frames.count,
    connections: report.connections,
    streams: report.streams,
    nodes: report.nodes,
    ...(report.path === undefined ? {} : { expectedPath: report.path.expected, paths: report.path.reported }),
    rules: { method: cluster.topology.method, ...(cluster.topology.resolvers === undefined ? {} : { resolvers: cluster.topology.resolvers }), ...(cluster.topology.anycast === undefined ? {} : { anycast: cluster.topology.anycast }) },
    atMs: observedAtMs ?? Date.now(),
  });
  if (report.error !== undefined) {
    report.verdict.ok = false;
    report.verdict.checks.push({ rule: 'every demo step completed', ok: false, detail: report.error });
  }
  report.elapsedMs.total = Date.now() - startedMs;
  return report;
}

/**
 * Returns the demo's topology with peer to peer on: clients query the public STUN
 * server, which the cluster starts (or the master, with stunRole "master"), and a direct attempt may take
 * DEMO_P2P_TIMEOUT_MS unless `p2p.timeoutMs` sets another time. With `blockInbound` both clients sit behind a
 * firewall that drops inbound connections.
 */
export function peerToPeerTopology(base: Topology | Record<string, unknown> | undefined, p2p: DemoPeerToPeer): Topology {
  const topology = validateTopology(base ?? DEFAULT_TOPOLOGY, 'topology').topology;
  const stunRole = p2p.stunRole ?? 'public';
  if (p2p.stunDown === true && stunRole !== 'public') throw new Error('stunDown stops the public STUN server; it needs stunRole "public"');
  return {
    ...topology,
    publicStun: topology.publicStun || stunRole === 'public',
    peerToPeer: { enabled: true, stunRole, forceRelay: topology.peerToPeer.forceRelay, timeoutMs: p2p.timeoutMs ?? DEMO_P2P_TIMEOUT_MS },
    clients: topology.clients.map((client) => (p2p.blockInbound === true ? { ...client, blockInbound: true } : client)),
  };
}

/** Returns the path the rules in nat-model.ts predict for the demo's two clients. */
function expectPath(topology: Topology, p2p: DemoPeerToPeer): PredictedPath {
  const customer = topology.clients.find((client) => client.role === 'customer');
  const representative = topology.clients.find((client) => client.role === 'representative');
  const network = (client: ClientSpec | undefined): { natType: ClientSpec['natType']; blockInbound: boolean } => ({ natType: client?.natType ?? 'open', blockInbound: client?.blockInbound ?? false });
  return predictPath({
    p2pEnabled: topology.peerToPeer.enabled,
    forceRelay: topology.peerToPeer.forceRelay,
    stunAnswers: p2p.stunDown !== true,
    customer: network(customer),
    representative: network(representative),
  });
}

/** Throws ConfigError unless the topology lists a representative and a customer, which the demo session needs. */
export function checkDemoClients(topology: Topology): void {
  for (const role of ['representative', 'customer'] as const) {
    if (!topology.clients.some((client) => client.role === role)) throw new ConfigError(missingClientMessage(role));
  }
}

function missingClientMessage(role: ClientSpec['role']): string {
  return `the topology lists no ${role} client; the demo needs one representative and one customer in clients`;
}

function findParticipants(cluster: Cluster): Participants {
  const find = (role: ClientSpec['role']): { spec: ClientSpec; handle: ChildHandle } => {
    const spec = cluster.topology.clients.find((client) => client.role === role);
    const handle = spec === undefined ? undefined : cluster.clients.get(spec.name);
    if (spec === undefined || handle === undefined) {
      throw new Error(missingClientMessage(role));
    }
    return { spec, handle };
  };
  return { rep: find('representative'), customer: find('customer') };
}

/** Runs the scenario; resolves with the moment the observations were read, at which the timezone rule is evaluated. */
async function runSession(cluster: Cluster, participants: Participants, report: DemoReport, step: (line: string) => void): Promise<number> {
  const { rep, customer } = participants;

  await customer.handle.request('request-support', { issue: SUPPORT_ISSUE });
  step(`${customer.spec.name} requested support`);
  await waitUntil(DEMO_STEP_TIMEOUT_MS, `${rep.spec.name} to see the customer in its queue`, async () => {
    const queue = (await rep.handle.request('queue')) as { entries?: unknown[] };
    return (queue.entries?.length ?? 0) > 0;
  });

  const accepted = (await rep.handle.request('accept', { timeoutMs: DEMO_STEP_TIMEOUT_MS }, DEMO_STEP_TIMEOUT_MS + 5000)) as { sessionId: string };
  report.sessionId = accepted.sessionId;
  await customer.handle.request('wait-session', { timeoutMs: DEMO_STEP_TIMEOUT_MS }, DEMO_STEP_TIMEOUT_MS + 5000);
  step(`${rep.spec.name} accepted; session ${accepted.sessionId} started`);

  await rep.handle.request('wait-streams', { timeoutMs: DEMO_STEP_TIMEOUT_MS }, DEMO_STEP_TIMEOUT_MS + 5000);
  step(`${customer.spec.name}'s screen stream arrived complete at ${rep.spec.name}`);

  await rep.handle.request('show-my-screen');
  step(`${rep.spec.name} started Show My Screen`);
  // The customer learns of the screen share asynchronously, so wait for its subscription before waiting for the stream.
  await waitUntil(DEMO_STEP_TIMEOUT_MS, `${customer.spec.name} to open its screen-share connection`, async () => {
    const stats = (await customer.handle.request('stats')) as ClientStatsReply;
    return (stats.streams ?? []).some((stream) => stream.direction === 'subscribe');
  });
  await customer.handle.request('wait-streams', { timeoutMs: DEMO_STEP_TIMEOUT_MS }, DEMO_STEP_TIMEOUT_MS + 5000);
  step(`${rep.spec.name}'s screen stream arrived complete at ${customer.spec.name}`);

  const observedAtMs = Date.now();
  await collectObservations(cluster, participants, report);
  step(`read connected clients of ${report.nodes.length} traffic nodes while the session was live`);

  await rep.handle.request('end-session', { reason: 'demo finished' });
  await waitUntil(DEMO_STEP_TIMEOUT_MS, 'both clients to leave the session', async () => {
    const statuses = (await Promise.all([rep.handle.request('status'), customer.handle.request('status')])) as { sessionId?: string }[];
    return statuses.every((status) => status.sessionId === undefined);
  });
  step('session ended');
  return observedAtMs;
}

/** Reads both clients' stats, the master's view of the nodes, and each traffic node's connected clients. */
async function collectObservations(cluster: Cluster, participants: Participants, report: DemoReport): Promise<void> {
  const masterName = cluster.topology.masters[0]?.name ?? '';
  const masterStatus = (await cluster.request(masterName, 'status')) as { nodes?: MasterNodeReply[] };
  const clientNames = new Map<string, string>();
  for (const { spec, handle } of [participants.rep, participants.customer]) {
    const clientId = handle.readyInfo.clientId;
    if (typeof clientId === 'string') clientNames.set(clientId, spec.name);
  }

  report.nodes = await Promise.all(
    cluster.topology.trafficNodes.map(async (spec): Promise<DemoNode> => {
      const state = masterStatus.nodes?.find((node) => node.name === spec.name);
      const clients = (await cluster.request(spec.name, 'connected-clients')) as TrafficClientReply[];
      return {
        name: spec.name,
        address: cluster.plan?.trafficNodes.find((node) => node.name === spec.name)?.config.public.address ?? '',
        online: state?.online ?? false,
        accepting: state?.accepting ?? false,
        prefixes: spec.prefixes,
        timezone: spec.timezone,
        srvPriority: spec.srvPriority,
        srvWeight: spec.srvWeight,
        clients: clients.map((client) => ({
          client: clientNames.get(client.clientId) ?? client.clientId,
          clientId: client.clientId,
          address: client.sourceIp,
          stream: client.stream,
          direction: client.direction,
          reason: client.reason,
        })),
      };
    }),
  );

  const masterClients = (await cluster.request(masterName, 'connected-clients')) as MasterClientReply[];
  const stats = new Map<string, ClientStatsReply>();
  for (const { spec, handle } of [participants.rep, participants.customer]) {
    const reply = (await handle.request('stats')) as ClientStatsReply;
    const clientId = ((await handle.request('status')) as { clientId?: string }).clientId;
    const masterConnections = masterClients.find((client) => client.clientId === clientId)?.session?.connections ?? [];
    stats.set(spec.name, reply);
    for (const connection of reply.connections ?? []) {
      // Under the DNS and anycast methods only the master records why the client reached its node, so its reason wins.
      const learned = masterConnections.find((entry) => entry.kind === connection.kind && entry.node === connection.node)?.reason;
      const reason = learned === undefined || learned === '' ? connection.reason : learned;
      report.connections.push({ client: spec.name, role: spec.role, address: spec.address, kind: connection.kind, node: connection.node, reason, state: connection.state, timezone: spec.timezone });
    }
  }
  report.streams = buildStreams(participants, stats);
  if (report.path !== undefined) report.path.reported = await collectPaths(cluster, participants, stats, clientNames);
}

/** Collects the path each client reports in its stats, and the path the master's connected-clients report gives each connection. */
async function collectPaths(cluster: Cluster, participants: Participants, stats: Map<string, ClientStatsReply>, clientNames: Map<string, string>): Promise<DemoPath[]> {
  const reported: DemoPath[] = [];
  for (const { spec } of [participants.customer, participants.rep]) {
    const path = stats.get(spec.name)?.path;
    reported.push({ client: spec.name, source: 'client', path: path?.path ?? '', reason: path?.reason ?? '' });
  }
  for (const online of await cluster.connectedClients()) {
    const name = clientNames.get(online.clientId);
    if (name === undefined || online.session === undefined) continue;
    for (const connection of online.session.connections) {
      reported.push({ client: name, source: 'master', path: connection.path, reason: `${connection.stream} ${connection.direction}${connection.pathReason ? `: ${connection.pathReason}` : ''}` });
    }
  }
  return reported;
}

/** Pairs each subscribed stream with its publisher: the customer's screen goes to the rep, the rep's screen to the customer. */
function buildStreams(participants: Participants, stats: Map<string, ClientStatsReply>): DemoStream[] {
  const streams: DemoStream[] = [];
  const pairs = [
    { from: participants.customer.spec.name, to: participants.rep.spec.name },
    { from: participants.rep.spec.name, to: participants.customer.spec.name },
  ];
  for (const { from, to } of pairs) {
    for (const received of (stats.get(to)?.streams ?? []).filter((stream) => stream.direction === 'subscribe')) {
      const published = stats.get(from)?.streams?.find((stream) => stream.direction === 'publish' && stream.stream === received.stream);
      streams.push({
        stream: received.stream,
        from,
        to,
        node: received.node,
        publisherNode: published?.node ?? '',
        framesSent: received.framesSent,
        received: received.received,
        verified: received.verified,
        lost: received.lost,
        reordered: received.reordered,
        duplicated: received.duplicated,
        corrupted: received.corrupted,
        done: received.done,
        meanLatencyMs: received.meanLatencyMs === null ? null : Math.round(received.meanLatencyMs * 10) / 10,
      });
    }
  }
  return streams;
}

/** Polls `check` until it returns true; throws naming what was awaited when the timeout passes. */
async function waitUntil(timeoutMs: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(POLL_INTERVAL_MS);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
