import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { MODELS, SITE_HOSTNAME, nodeHostname, type Model } from './constants.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/envelope.js';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_HEARTBEAT_TIMEOUT_MS } from '../net/channel.js';
import { METHODS, type Method } from '../routing/method.js';
import { parsePrefixText } from '../routing/prefix.js';
import { parseNodeTimezone, TimezoneError } from '../routing/timezone.js';
import { ConfigError } from '../util/errors.js';
import {
  DEFAULT_CLIENT_NETWORK,
  DEFAULT_PEER_TO_PEER,
  isNatType,
  isStunRole,
  MAX_P2P_TIMEOUT_MS,
  MIN_P2P_TIMEOUT_MS,
  NAT_TYPES,
  STUN_ROLES,
  type PeerToPeerSettings,
} from './peer-to-peer.js';
import {
  describeNodeRangeAddress,
  RESERVED_NODE_NAMES,
  TopologyError,
  type AnycastSpec,
  type ClientSpec,
  type FramesSpec,
  type HeartbeatSpec,
  type MasterSpec,
  type ResolverSpec,
  type Topology,
  type TopologyProblem,
  type TrafficNodeSpec,
  type ValidatedTopology,
} from './topology.js';

export const DEFAULT_METHOD: Method = 'random';
export const DEFAULT_MODEL: Model = 'Virtual';
export const DEFAULT_SRV_PRIORITY = 10;
export const DEFAULT_SRV_WEIGHT = 100;
export const DEFAULT_FRAME_COUNT = 300;
export const DEFAULT_FRAME_SIZE_BYTES = 16 * 1024;
export const DEFAULT_FRAME_INTERVAL_MS = 5;
/** Largest frame payload: one envelope must stay under the 1 MiB message limit, with 1 KiB left for its other fields. */
export const MAX_FRAME_SIZE_BYTES = DEFAULT_MAX_MESSAGE_BYTES - 1024;
export const MAX_FRAME_COUNT = 1_000_000;
export const MAX_FRAME_INTERVAL_MS = 60_000;
const UINT16_MAX = 0xffff;

const LABEL_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const LABEL_FIX = 'is not a DNS label; use 1-63 lowercase letters, digits and inner hyphens, such as "us-traffic1"';

type JsonObject = Record<string, unknown>;

/** Keys each object of a topology file may have; any other key is rejected, so a typing error such as "mehtod" is not ignored. */
export const TOPOLOGY_KEYS = {
  root: ['$schema', 'clusterName', 'method', 'seed', 'heartbeat', 'masters', 'trafficNodes', 'clients', 'frames', 'publicStun', 'resolvers', 'anycast', 'peerToPeer'],
  heartbeat: ['intervalMs', 'timeoutMs'],
  master: ['name', 'model'],
  trafficNode: ['name', 'model', 'accepting', 'prefixes', 'timezone', 'srvPriority', 'srvWeight'],
  client: ['name', 'role', 'address', 'timezone', 'displayName', 'natType', 'blockInbound'],
  peerToPeer: ['enabled', 'stunRole', 'forceRelay', 'timeoutMs'],
  frames: ['count', 'sizeBytes', 'intervalMs'],
  resolver: ['name', 'sources', 'trafficNodes'],
  anycast: ['routes', 'defaultNode'],
  anycastRoute: ['prefix', 'node'],
} as const satisfies Record<string, readonly string[]>;

/** Collects every problem of one topology, so one run of the validation reports all of them. */
class ProblemList {
  readonly problems: TopologyProblem[] = [];

  add(field: string, value: unknown, message: string): void {
    this.problems.push({ field, value, message });
  }

  /** Returns the object at `field`, or null after recording a problem. Keys outside `known` are recorded as problems. */
  object(value: unknown, field: string, known?: readonly string[]): JsonObject | null {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.add(field, value, 'is not a JSON object; write { ... }');
      return null;
    }
    const entry = value as JsonObject;
    for (const key of Object.keys(entry)) {
      if (known !== undefined && !known.includes(key)) {
        const path = field === '(root)' ? key : `${field}.${key}`;
        this.add(path, entry[key], `is an unknown key; remove it or use one of ${known.join(', ')}`);
      }
    }
    return entry;
  }

  /** Returns the prefix line as written, after recording a problem when it is invalid. */
  prefix(value: unknown, field: string): string {
    const parsed = parsePrefixText(value);
    if (typeof parsed === 'string') {
      this.add(field, value, `is not a valid prefix; ${parsed}`);
      return String(value);
    }
    return value as string;
  }

  /** Returns the array at `field` (the fallback when absent), or an empty array after recording a problem. */
  array(value: unknown, field: string, fallback?: unknown[]): unknown[] {
    if (value === undefined && fallback !== undefined) return fallback;
    if (Array.isArray(value)) return value;
    this.add(field, value, 'is not a JSON array; write [ ... ]');
    return [];
  }

  string(value: unknown, field: string, fallback?: string): string {
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value === 'string' && value.length > 0) return value;
    this.add(field, value, 'is not a non-empty string');
    return '';
  }

  integer(value: unknown, field: string, range: { min: number; max: number; fallback?: number }): number {
    if (value === undefined && range.fallback !== undefined) return range.fallback;
    if (typeof value === 'number' && Number.isInteger(value) && value >= range.min && value <= range.max) return value;
    this.add(field, value, `is not an integer from ${range.min} to ${range.max}`);
    return range.fallback ?? range.min;
  }

  boolean(value: unknown, field: string, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value === 'boolean') return value;
    this.add(field, value, 'is not true or false');
    return fallback;
  }

  model(value: unknown, field: string): Model {
    if (value === undefined) return DEFAULT_MODEL;
    const model = MODELS.find((candidate) => candidate === value);
    if (model !== undefined) return model;
    this.add(field, value, `is not an appliance model; use one of ${MODELS.join(', ')}`);
    return DEFAULT_MODEL;
  }

  timezone(value: unknown, field: string, ownerName: string): string {
    try {
      parseNodeTimezone(value, ownerName);
      return value as string;
    } catch (error) {
      if (!(error instanceof TimezoneError)) throw error;
      this.add(field, value, `is not a timezone; ${error.reason}`);
      return '+00:00';
    }
  }
}

/**
 * Validates a parsed topology and fills in defaults: method random, heartbeat
 * 500/2000 ms, model Virtual, accepting true, no prefixes, SRV priority 10 and
 * weight 100, no clients, 300 frames of 16 KiB every 5 ms, no public STUN server, peer to peer off
 * (STUN role master, 5000 ms attempts), clients with no NAT and no firewall. Throws TopologyError
 * listing every invalid field with its value and the fix.
 */
export function validateTopology(value: unknown, source = 'topology'): ValidatedTopology {
  const problems = new ProblemList();
  const root = problems.object(value, '(root)', TOPOLOGY_KEYS.root) ?? {};

  const seedValue = root.seed;
  let seed: string | undefined;
  if (typeof seedValue === 'number' && Number.isSafeInteger(seedValue)) seed = String(seedValue);
  else if (typeof seedValue === 'string' && seedValue.length > 0) seed = seedValue;
  else if (seedValue !== undefined) problems.add('seed', seedValue, 'must be a non-empty string or an integer, such as "7aa02aac" or 42');

  const topology: Topology = {
    clusterName: problems.string(root.clusterName, 'clusterName', 'atlas-sim'),
    method: validateMethod(root.method, problems),
    ...(seed === undefined ? {} : { seed }),
    heartbeat: validateHeartbeat(root.heartbeat, problems),
    masters: problems.array(root.masters, 'masters').map((entry, index) => validateMaster(entry, `masters[${index}]`, problems)),
    trafficNodes: problems.array(root.trafficNodes, 'trafficNodes').map((entry, index) => validateTrafficNode(entry, `trafficNodes[${index}]`, problems)),
    clients: problems.array(root.clients, 'clients', []).map((entry, index) => validateClient(entry, `clients[${index}]`, problems)),
    frames: validateFrames(root.frames, problems),
    publicStun: problems.boolean(root.publicStun, 'publicStun', false),
    peerToPeer: validatePeerToPeer(root.peerToPeer, problems),
  };
  const nodeNames = topology.trafficNodes.map((node) => node.name);
  if (root.resolvers !== undefined) topology.resolvers = validateResolvers(root.resolvers, nodeNames, problems);
  if (root.anycast !== undefined) topology.anycast = validateAnycast(root.anycast, nodeNames, problems);
  if (topology.peerToPeer.enabled && topology.peerToPeer.stunRole === 'public' && !topology.publicStun) {
    problems.add('peerToPeer.stunRole', 'public', 'needs the public STUN server, but publicStun is false; set "publicStun": true or use "stunRole": "master"');
  }
  checkCounts(root, topology, problems);
  checkUniqueNames(topology, problems);
  checkMethodSettings(topology, problems);

  if (problems.problems.length > 0) throw new TopologyError(source, problems.problems);
  return { topology, warnings: collectWarnings(topology) };
}

/** Reads and validates a topology JSON file. */
export async function loadTopology(file: string): Promise<ValidatedTopology> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(`cannot read topology file ${file} (${code}); pass an existing JSON file with --topology`);
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`topology file ${file} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return validateTopology(parsed, file);
}

function validateMethod(value: unknown, problems: ProblemList): Method {
  if (value === undefined) return DEFAULT_METHOD;
  const method = METHODS.find((candidate) => candidate === value);
  if (method !== undefined) return method;
  problems.add('method', value, `is not a traffic node selection method; use one of ${METHODS.join(', ')}`);
  return DEFAULT_METHOD;
}

function validateHeartbeat(value: unknown, problems: ProblemList): HeartbeatSpec {
  if (value === undefined) return { intervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS, timeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS };
  const entry = problems.object(value, 'heartbeat', TOPOLOGY_KEYS.heartbeat) ?? {};
  const intervalMs = problems.integer(entry.intervalMs, 'heartbeat.intervalMs', { min: 10, max: 60_000, fallback: DEFAULT_HEARTBEAT_INTERVAL_MS });
  const timeoutMs = problems.integer(entry.timeoutMs, 'heartbeat.timeoutMs', { min: 20, max: 600_000, fallback: DEFAULT_HEARTBEAT_TIMEOUT_MS });
  if (timeoutMs <= intervalMs) {
    problems.add('heartbeat.timeoutMs', timeoutMs, `is not greater than heartbeat.intervalMs (${intervalMs}); use at least twice the interval`);
  }
  return { intervalMs, timeoutMs };
}

function validateNodeName(value: unknown, field: string, problems: ProblemList): string {
  const name = problems.string(value, field);
  if (name === '') return name;
  if (!LABEL_PATTERN.test(name)) {
    problems.add(field, name, LABEL_FIX);
  } else if (RESERVED_NODE_NAMES.includes(name)) {
    problems.add(field, name, `is reserved for the launcher's own hostnames (${RESERVED_NODE_NAMES.join(', ')}); choose another name`);
  } else if (nodeHostname(name) === SITE_HOSTNAME) {
    // Unreachable while every node hostname has one label more than the zone, kept in case the site hostname changes.
    problems.add(field, name, `makes the node hostname equal to the site hostname ${SITE_HOSTNAME}; choose another name`);
  }
  return name;
}

function validateMaster(value: unknown, field: string, problems: ProblemList): MasterSpec {
  const entry = problems.object(value, field, TOPOLOGY_KEYS.master) ?? {};
  return {
    name: validateNodeName(entry.name, `${field}.name`, problems),
    model: problems.model(entry.model, `${field}.model`),
  };
}

function validateTrafficNode(value: unknown, field: string, problems: ProblemList): TrafficNodeSpec {
  const entry = problems.object(value, field, TOPOLOGY_KEYS.trafficNode) ?? {};
  const name = validateNodeName(entry.name, `${field}.name`, problems);
  const prefixes = problems.array(entry.prefixes, `${field}.prefixes`, []).map((line, index) => problems.prefix(line, `${field}.prefixes[${index}]`));
  return {
    name,
    model: problems.model(entry.model, `${field}.model`),
    accepting: problems.boolean(entry.accepting, `${field}.accepting`, true),
    prefixes,
    timezone: problems.timezone(entry.timezone, `${field}.timezone`, name),
    srvPriority: problems.integer(entry.srvPriority, `${field}.srvPriority`, { min: 0, max: UINT16_MAX, fallback: DEFAULT_SRV_PRIORITY }),
    srvWeight: problems.integer(entry.srvWeight, `${field}.srvWeight`, { min: 0, max: UINT16_MAX, fallback: DEFAULT_SRV_WEIGHT }),
  };
}

function validateClient(value: unknown, field: string, problems: ProblemList): ClientSpec {
  const entry = problems.object(value, field, TOPOLOGY_KEYS.client) ?? {};
  const name = problems.string(entry.name, `${field}.name`);
  if (name !== '' && !LABEL_PATTERN.test(name)) problems.add(`${field}.name`, name, LABEL_FIX);

  let role: ClientSpec['role'] = 'customer';
  if (entry.role === 'customer' || entry.role === 'representative') role = entry.role;
  else problems.add(`${field}.role`, entry.role, 'is not a client role; use "customer" or "representative"');

  const timezone = problems.timezone(entry.timezone, `${field}.timezone`, name);
  if (/^[+-]\d{2}:(15|30|45)$/.test(timezone)) {
    // A client's offset comes from its TZ environment variable, and Node.js only supports whole-hour fixed zones (Etc/GMT-2).
    problems.add(`${field}.timezone`, timezone, 'is a fixed offset that is not a whole hour, which a client process cannot take; use an IANA zone name such as Asia/Kolkata');
  }

  return {
    name,
    role,
    address: validateClientAddress(entry.address, `${field}.address`, problems),
    timezone,
    displayName: problems.string(entry.displayName, `${field}.displayName`, name),
    natType: validateNatType(entry.natType, `${field}.natType`, problems),
    blockInbound: problems.boolean(entry.blockInbound, `${field}.blockInbound`, DEFAULT_CLIENT_NETWORK.blockInbound),
  };
}

function validateNatType(value: unknown, field: string, problems: ProblemList): ClientSpec['natType'] {
  if (value === undefined) return DEFAULT_CLIENT_NETWORK.natType;
  if (isNatType(value)) return value;
  problems.add(field, value, `is not a NAT type; use one of ${NAT_TYPES.join(', ')}`);
  return DEFAULT_CLIENT_NETWORK.natType;
}

function validatePeerToPeer(value: unknown, problems: ProblemList): PeerToPeerSettings {
  if (value === undefined) return { ...DEFAULT_PEER_TO_PEER };
  const entry = problems.object(value, 'peerToPeer', TOPOLOGY_KEYS.peerToPeer) ?? {};
  let stunRole = DEFAULT_PEER_TO_PEER.stunRole;
  if (isStunRole(entry.stunRole)) stunRole = entry.stunRole;
  else if (entry.stunRole !== undefined) problems.add('peerToPeer.stunRole', entry.stunRole, `is not a STUN role; use one of ${STUN_ROLES.join(', ')}`);
  return {
    enabled: problems.boolean(entry.enabled, 'peerToPeer.enabled', DEFAULT_PEER_TO_PEER.enabled),
    stunRole,
    forceRelay: problems.boolean(entry.forceRelay, 'peerToPeer.forceRelay', DEFAULT_PEER_TO_PEER.forceRelay),
    timeoutMs: problems.integer(entry.timeoutMs, 'peerToPeer.timeoutMs', { min: MIN_P2P_TIMEOUT_MS, max: MAX_P2P_TIMEOUT_MS, fallback: DEFAULT_PEER_TO_PEER.timeoutMs }),
  };
}

/** Validates one client entry outside a topology, as `startClient` takes it. Throws TopologyError. */
export function validateClientSpec(value: unknown, source = 'client'): ClientSpec {
  const problems = new ProblemList();
  const client = validateClient(value, source, problems);
  if (problems.problems.length > 0) throw new TopologyError(source, problems.problems);
  return client;
}

/** Client addresses lie in 127.0.0.0/8 but outside the range the launcher gives cluster nodes. */
function validateClientAddress(value: unknown, field: string, problems: ProblemList): string {
  if (typeof value !== 'string' || !isIPv4(value) || !value.startsWith('127.')) {
    problems.add(field, value, 'is not an IPv4 address in 127.0.0.0/8; use a loopback address such as 127.20.0.5');
    return '';
  }
  const nodeRange = describeNodeRangeAddress(value);
  if (nodeRange !== undefined) problems.add(field, value, nodeRange);
  return value;
}

function validateFrames(value: unknown, problems: ProblemList): FramesSpec {
  const entry = value === undefined ? {} : (problems.object(value, 'frames', TOPOLOGY_KEYS.frames) ?? {});
  return {
    count: problems.integer(entry.count, 'frames.count', { min: 1, max: MAX_FRAME_COUNT, fallback: DEFAULT_FRAME_COUNT }),
    sizeBytes: problems.integer(entry.sizeBytes, 'frames.sizeBytes', { min: 1, max: MAX_FRAME_SIZE_BYTES, fallback: DEFAULT_FRAME_SIZE_BYTES }),
    intervalMs: problems.integer(entry.intervalMs, 'frames.intervalMs', { min: 0, max: MAX_FRAME_INTERVAL_MS, fallback: DEFAULT_FRAME_INTERVAL_MS }),
  };
}

function validateResolvers(value: unknown, nodeNames: readonly string[], problems: ProblemList): ResolverSpec[] {
  const resolvers = problems.array(value, 'resolvers').map((item, index): ResolverSpec => {
    const field = `resolvers[${index}]`;
    const entry = problems.object(item, field, TOPOLOGY_KEYS.resolver) ?? {};
    const name = problems.string(entry.name, `${field}.name`);
    if (name !== '' && !LABEL_PATTERN.test(name)) problems.add(`${field}.name`, name, LABEL_FIX);
    const sources = problems.array(entry.sources, `${field}.sources`).map((line, position) => problems.prefix(line, `${field}.sources[${position}]`));
    if (Array.isArray(entry.sources) && sources.length === 0) problems.add(`${field}.sources`, [], 'is empty; list the client prefixes this resolver answers, such as "127.30.0.0/16"');
    const trafficNodes = problems.array(entry.trafficNodes, `${field}.trafficNodes`).map((node, position) => validateNodeReference(node, `${field}.trafficNodes[${position}]`, nodeNames, problems));
    if (Array.isArray(entry.trafficNodes) && trafficNodes.length === 0) problems.add(`${field}.trafficNodes`, [], 'is empty; list the traffic nodes this resolver points the shared hostname at');
    return { name, sources, trafficNodes };
  });
  const seen = new Set<string>();
  resolvers.forEach((resolver, index) => {
    if (resolver.name !== '' && seen.has(resolver.name)) problems.add(`resolvers[${index}].name`, resolver.name, 'is already the name of another resolver; give each resolver its own name');
    seen.add(resolver.name);
  });
  return resolvers;
}

function validateAnycast(value: unknown, nodeNames: readonly string[], problems: ProblemList): AnycastSpec {
  const entry = problems.object(value, 'anycast', TOPOLOGY_KEYS.anycast) ?? {};
  const seen = new Map<string, number>();
  const routes = problems.array(entry.routes, 'anycast.routes', []).map((item, index) => {
    const field = `anycast.routes[${index}]`;
    const route = problems.object(item, field, TOPOLOGY_KEYS.anycastRoute) ?? {};
    const prefix = problems.prefix(route.prefix, `${field}.prefix`);
    const earlier = seen.get(prefix);
    if (earlier !== undefined) problems.add(`${field}.prefix`, prefix, `repeats anycast.routes[${earlier}].prefix; keep one route per prefix`);
    else seen.set(prefix, index);
    return { prefix, node: validateNodeReference(route.node, `${field}.node`, nodeNames, problems) };
  });
  return { routes, defaultNode: validateNodeReference(entry.defaultNode, 'anycast.defaultNode', nodeNames, problems) };
}

function validateNodeReference(value: unknown, field: string, nodeNames: readonly string[], problems: ProblemList): string {
  const name = problems.string(value, field);
  if (name !== '' && !nodeNames.includes(name)) {
    problems.add(field, name, `is not a traffic node of this topology; use one of ${nodeNames.join(', ') || '(none listed)'}`);
  }
  return name;
}

/** The A record method needs no extra settings (the shared hostname then lists every node), but anycast needs its routing table. */
function checkMethodSettings(topology: Topology, problems: ProblemList): void {
  if (topology.method === 'anycast' && topology.anycast === undefined) {
    problems.add('anycast', undefined, 'is required by method "anycast"; write { "routes": [{ "prefix": "127.30.0.0/16", "node": "eu-traffic1" }], "defaultNode": "us-traffic1" }');
  }
}

function checkCounts(root: JsonObject, topology: Topology, problems: ProblemList): void {
  if (Array.isArray(root.masters) && (topology.masters.length < 1 || topology.masters.length > 2)) {
    problems.add('masters', topology.masters.length, 'is not a list of one or two masters; list the primary { "name": "master1" } and optionally its backup { "name": "master2" }');
  }
  const [primary, backup] = topology.masters;
  if (primary !== undefined && backup !== undefined && backup.model !== primary.model) {
    problems.add('masters[1].model', backup.model, `differs from masters[0].model ${JSON.stringify(primary.model)}; both masters of a failover pair must be the same model`);
  }
  if (Array.isArray(root.trafficNodes) && topology.trafficNodes.length === 0) {
    problems.add('trafficNodes', [], 'is empty; list at least one traffic node');
  }
}

function checkUniqueNames(topology: Topology, problems: ProblemList): void {
  const seen = new Map<string, string>();
  const appliances = [
    ...topology.masters.map((node, index) => ({ name: node.name, field: `masters[${index}].name` })),
    ...topology.trafficNodes.map((node, index) => ({ name: node.name, field: `trafficNodes[${index}].name` })),
    ...topology.clients.map((client, index) => ({ name: client.name, field: `clients[${index}].name` })),
  ];
  for (const { name, field } of appliances) {
    if (name === '') continue;
    const first = seen.get(name);
    if (first !== undefined) problems.add(field, name, `is already the name of ${first}; every master, traffic node and client needs its own name`);
    else seen.set(name, field);
  }
}

function collectWarnings(topology: Topology): string[] {
  const warnings: string[] = [];
  const models = new Set(topology.trafficNodes.map((node) => node.model));
  if (models.size > 1) {
    warnings.push(`traffic nodes mix appliance models (${[...models].join(', ')}); the real product supports this but warns about it`);
  }
  if (!topology.trafficNodes.some((node) => node.accepting)) {
    warnings.push('no traffic node is accepting new client connections, so no session can start');
  }
  return warnings;
}
