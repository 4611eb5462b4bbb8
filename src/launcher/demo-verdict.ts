import type { PredictedPath } from '../client/p2p/nat-model.js';
import { parseClientAddress, parsePrefixText, prefixContains } from '../routing/prefix.js';
import { predictByMethod, type DemoRules, type Prediction } from './demo-prediction.js';

/** One connection a client reported: to the master, or a session connection to a traffic node. */
export interface DemoConnection {
  client: string;
  role: 'customer' | 'representative';
  address: string;
  kind: 'master' | 'home' | 'cross' | 'direct';
  node: string;
  reason: string;
  state: string;
  /** The client's IANA zone or fixed offset, which the timezone method reads. */
  timezone?: string;
}

/** One stream as its receiver counted it, with the publisher's own count beside it. */
export interface DemoStream {
  stream: string;
  from: string;
  to: string;
  /** Traffic node the receiver's connection names. */
  node: string;
  /** Traffic node the publisher's connection names. */
  publisherNode: string;
  /** Frames the publisher reports sending; from its StreamEnd as the receiver saw it. */
  framesSent: number | null;
  received: number;
  verified: number;
  lost: number;
  reordered: number;
  duplicated: number;
  corrupted: number;
  done: boolean;
  meanLatencyMs: number | null;
}

/** One session-channel client as a traffic node reported it. */
export interface DemoNodeClient {
  /** Launcher name of the client, or its client id when the launcher did not start it. */
  client: string;
  clientId: string;
  address: string;
  stream: string;
  direction: 'publish' | 'subscribe';
  reason: string;
}

/** A traffic node and the session-channel clients it reported while the session was live. */
export interface DemoNode {
  name: string;
  address: string;
  online: boolean;
  accepting: boolean;
  prefixes: string[];
  clients: DemoNodeClient[];
  timezone?: string;
  srvPriority?: number;
  srvWeight?: number;
}

export interface DemoCheck {
  rule: string;
  ok: boolean;
  detail: string;
}

export interface DemoVerdict {
  ok: boolean;
  checks: DemoCheck[];
}

/** The path one party reports for a client's session streams. */
export interface DemoPath {
  client: string;
  /** "client" for the client's own stats, "master" for the master's connected-clients report. */
  source: 'client' | 'master';
  path: string;
  reason: string;
}

/** Everything the rules read. */
export interface DemoObservation {
  masterName: string;
  frameCount: number;
  connections: DemoConnection[];
  streams: DemoStream[];
  nodes: DemoNode[];
  /** With peer to peer on: the path the rules predict, and the paths clients and master report. */
  expectedPath?: PredictedPath;
  paths?: DemoPath[];
  /** Method and network settings; without them a client that no prefix matches may land on any candidate. */
  rules?: DemoRules;
  /** Moment timezone offsets are evaluated at, in ms since the epoch; now when absent. */
  atMs?: number;
}

/**
 * Returns the traffic nodes a client may have as its home node: among online
 * accepting nodes, those with the longest prefix containing the client's
 * address (any of them on a tie). When no prefix matches, the method in
 * `context.rules` decides, and every candidate is allowed without rules.
 */
export function expectedHomeNodes(address: string, nodes: DemoNode[], context: { rules?: DemoRules; timezone?: string; at?: Date } = {}): Prediction {
  const candidates = nodes.filter((node) => node.online && node.accepting);
  const client = parseClientAddress(address);
  let bestLength = -1;
  let best: string[] = [];
  let bestPrefix = '';
  for (const node of candidates) {
    for (const line of node.prefixes) {
      const prefix = parsePrefixText(line);
      if (typeof prefix === 'string' || client === null || !prefixContains(prefix, client)) continue;
      if (prefix.length > bestLength) {
        bestLength = prefix.length;
        best = [node.name];
        bestPrefix = prefix.text;
      } else if (prefix.length === bestLength && !best.includes(node.name)) {
        best.push(node.name);
      }
    }
  }
  if (bestLength >= 0) return { nodes: best, rule: `longest prefix ${bestPrefix}` };
  if (context.rules === undefined) return { nodes: candidates.map((node) => node.name), rule: 'no prefix matches, any candidate' };
  const predictionNodes = nodes.map((node) => ({ ...node, candidate: node.online && node.accepting }));
  const prediction = predictByMethod(context.rules, predictionNodes, { address, ...(context.timezone === undefined ? {} : { timezone: context.timezone }) }, context.at ?? new Date());
  return { ...prediction, rule: `no prefix matches, ${prediction.rule}` };
}

function connectionOf(observation: DemoObservation, role: DemoConnection['role'], kind: DemoConnection['kind']): DemoConnection | undefined {
  return observation.connections.find((connection) => connection.role === role && connection.kind === kind);
}

function describe(connection: DemoConnection | undefined): string {
  if (connection === undefined) return 'missing';
  if (connection.node === '') return '(no node)';
  return connection.node;
}

/** Applies every rule of the demo to what the cluster reported. */
export function judgeDemo(observation: DemoObservation): DemoVerdict {
  const direct = observation.expectedPath?.path === 'direct';
  const checks: DemoCheck[] = [
    ...checkMasterConnections(observation),
    ...checkPaths(observation),
    ...(direct ? checkDirectStreams(observation) : [...checkHomeNodes(observation), ...checkCrossConnections(observation), ...checkStreamPaths(observation)]),
    ...checkFrames(observation),
  ];
  if (checks.length === 0) checks.push({ rule: 'observations', ok: false, detail: 'no connection or stream was reported' });
  return { ok: checks.every((check) => check.ok), checks };
}

function checkMasterConnections(observation: DemoObservation): DemoCheck[] {
  const clients = [...new Set(observation.connections.map((connection) => connection.client))];
  return clients.map((client) => {
    const master = observation.connections.find((connection) => connection.client === client && connection.kind === 'master');
    return {
      rule: `${client} control channel goes to the master`,
      ok: master?.node === observation.masterName,
      detail: `expected ${observation.masterName}, got ${describe(master)}`,
    };
  });
}

function checkHomeNodes(observation: DemoObservation): DemoCheck[] {
  const checks: DemoCheck[] = [];
  const at = new Date(observation.atMs ?? Date.now());
  for (const home of observation.connections.filter((connection) => connection.kind === 'home')) {
    const context = { at, ...(observation.rules === undefined ? {} : { rules: observation.rules }), ...(home.timezone === undefined ? {} : { timezone: home.timezone }) };
    const expected = expectedHomeNodes(home.address, observation.nodes, context);
    checks.push({
      rule: `${home.client} home node obeys ${observation.rules === undefined ? 'the prefix rule' : `the prefix and ${observation.rules.method} rules`}`,
      ok: expected.nodes.includes(home.node),
      detail: `${home.address}: ${expected.rule} allows ${expected.nodes.join(', ') || 'no node'}; got ${describe(home)}`,
    });
    if (expected.reasonFor !== undefined && expected.nodes.includes(home.node)) {
      const reason = expected.reasonFor(home.node);
      checks.push({ rule: `${home.client} home reason explains the landing`, ok: home.reason === reason, detail: `expected "${reason}", got "${home.reason}"` });
    }
  }
  return checks;
}

function checkCrossConnections(observation: DemoObservation): DemoCheck[] {
  const customerHome = connectionOf(observation, 'customer', 'home');
  const repHome = connectionOf(observation, 'representative', 'home');
  const repCross = connectionOf(observation, 'representative', 'cross');
  const customerCross = connectionOf(observation, 'customer', 'cross');
  return [
    {
      rule: "representative's cross connection goes to the customer's home node",
      ok: repCross !== undefined && repCross.node === customerHome?.node,
      detail: `customer home ${describe(customerHome)}, representative cross ${describe(repCross)}`,
    },
    {
      rule: "customer's screen-share connection goes to the representative's home node",
      ok: customerCross !== undefined && customerCross.node === repHome?.node,
      detail: `representative home ${describe(repHome)}, customer cross ${describe(customerCross)}`,
    },
  ];
}

function checkStreamPaths(observation: DemoObservation): DemoCheck[] {
  const checks: DemoCheck[] = [];
  for (const stream of observation.streams) {
    checks.push({
      rule: `${stream.stream} enters and leaves through one node`,
      ok: stream.node !== '' && stream.node === stream.publisherNode,
      detail: `publisher ${stream.from} on ${stream.publisherNode || '(no node)'}, receiver ${stream.to} on ${stream.node || '(no node)'}`,
    });
    for (const [client, direction, node] of [
      [stream.from, 'publish', stream.publisherNode],
      [stream.to, 'subscribe', stream.node],
    ] as const) {
      const reportedBy = observation.nodes
        .filter((candidate) => candidate.clients.some((entry) => entry.client === client && entry.stream === stream.stream && entry.direction === direction))
        .map((candidate) => candidate.name);
      checks.push({
        rule: `${stream.stream} ${direction} connection of ${client} is on the node it names`,
        ok: reportedBy.length === 1 && reportedBy[0] === node,
        detail: `${client} names ${node || '(no node)'}; reported by ${reportedBy.join(', ') || 'no node'}`,
      });
    }
  }
  return checks;
}

/** Checks that every client and the master report the path the rules predict. */
function checkPaths(observation: DemoObservation): DemoCheck[] {
  const expected = observation.expectedPath;
  if (expected === undefined) return [];
  const paths = observation.paths ?? [];
  const checks = paths.map((entry) => ({
    rule: `${entry.source === 'master' ? 'the master reports ' : ''}${entry.client}'s path is ${expected.path} (${expected.reason})`,
    ok: entry.path === expected.path,
    detail: `${entry.source} reports ${entry.path || '(no path)'}${entry.reason === '' ? '' : `: ${entry.reason}`}`,
  }));
  if (!paths.some((entry) => entry.source === 'client') || !paths.some((entry) => entry.source === 'master')) {
    checks.push({ rule: 'clients and master report a path', ok: false, detail: `got ${paths.length} path reports` });
  }
  return checks;
}

/** Checks that on the direct path every stream goes between the clients and no traffic node carries a session client. */
function checkDirectStreams(observation: DemoObservation): DemoCheck[] {
  const checks: DemoCheck[] = observation.streams.map((stream) => ({
    rule: `${stream.stream} flows directly from ${stream.from} to ${stream.to}`,
    ok: stream.node === 'direct' && stream.publisherNode === 'direct',
    detail: `publisher on ${stream.publisherNode || '(no path)'}, receiver on ${stream.node || '(no path)'}`,
  }));
  if (observation.streams.length === 0) checks.push({ rule: 'streams flow on the direct path', ok: false, detail: 'no stream was reported' });
  const carried = observation.nodes.filter((node) => node.clients.length > 0);
  checks.push({
    rule: 'no traffic node carries a session stream',
    ok: carried.length === 0,
    detail: carried.length === 0 ? `none of ${observation.nodes.length} traffic nodes reports a session client` : carried.map((node) => `${node.name}: ${node.clients.map((client) => `${client.client} ${client.stream}`).join(', ')}`).join('; '),
  });
  return checks;
}

function checkFrames(observation: DemoObservation): DemoCheck[] {
  return observation.streams.map((stream) => {
    const ok =
      stream.done &&
      stream.framesSent === observation.frameCount &&
      stream.verified === stream.framesSent &&
      stream.lost === 0 &&
      stream.corrupted === 0;
    return {
      rule: `${stream.stream} delivered every frame intact`,
      ok,
      detail: `expected ${observation.frameCount}, sent ${String(stream.framesSent)}, verified ${stream.verified}, lost ${stream.lost}, corrupted ${stream.corrupted}${stream.done ? '' : ', stream not finished'}`,
    };
  });
}
