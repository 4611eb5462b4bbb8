import type { Model } from './constants.js';
import type { NatType, PeerToPeerSettings } from './peer-to-peer.js';
import type { Method } from '../routing/method.js';
import { ConfigError } from '../util/errors.js';

/** The master appliance of the cluster. */
export interface MasterSpec {
  /** DNS label; the node's hostname is `<name>.support.example.test`. */
  name: string;
  model: Model;
}

/** One traffic node as people describe it in a topology file. */
export interface TrafficNodeSpec {
  /** DNS label; the node's hostname is `<name>.support.example.test`. */
  name: string;
  model: Model;
  /** Whether the node accepts new client connections. */
  accepting: boolean;
  /** Network address prefixes, `a.b.c.d[/mask]`, that send clients to this node. */
  prefixes: string[];
  /** IANA zone name (`Europe/Berlin`) or fixed offset (`+05:30`) for the timezone method. */
  timezone: string;
  /** SRV record priority (RFC 2782, lower is preferred) for the SRV method. */
  srvPriority: number;
  /** SRV record weight (RFC 2782) among targets of equal priority. */
  srvWeight: number;
}

export type ClientRole = 'customer' | 'representative';

/** A customer client or representative console the launcher starts after the cluster forms. */
export interface ClientSpec {
  /** Unique name of the client process, used for its log file and handle. */
  name: string;
  role: ClientRole;
  /** Source address in 127.0.0.0/8 the client binds, so prefix matching uses it. */
  address: string;
  /** IANA zone name or fixed offset the client reports as its current UTC offset. */
  timezone: string;
  /** Name shown to the other side of a session. */
  displayName: string;
  /** NAT behaviour in front of the client, which decides whether a direct path can form. */
  natType: NatType;
  /** A firewall in front of the client drops inbound connections. */
  blockInbound: boolean;
}

/**
 * A resolver view of the cluster DNS server for the A record method: clients
 * whose source address lies in `sources` resolve the shared traffic hostname
 * to the addresses of `trafficNodes`, in that order.
 */
export interface ResolverSpec {
  /** DNS label such as "eu-dns"; shown in reasons ("a-record via eu-dns"). */
  name: string;
  /** IPv4 prefixes `a.b.c.d[/mask]` of the client source addresses that select this view. */
  sources: string[];
  /** Names of the traffic nodes the shared hostname resolves to in this view. */
  trafficNodes: string[];
}

/** One line of the anycast routing table: clients in `prefix` reach `node`. */
export interface AnycastRouteSpec {
  prefix: string;
  node: string;
}

/** The simulated anycast network: one shared address, routed by the client's source address. */
export interface AnycastSpec {
  routes: AnycastRouteSpec[];
  /** Traffic node of clients that no route prefix contains. */
  defaultNode: string;
}

/** Synthetic screen stream each client publishes during a session. */
export interface FramesSpec {
  count: number;
  sizeBytes: number;
  /** Pause between two frames, in milliseconds; 0 sends as fast as the path allows. */
  intervalMs: number;
}

/** Heartbeat of every channel: ping interval and the silence after which a peer is dropped. */
export interface HeartbeatSpec {
  intervalMs: number;
  timeoutMs: number;
}

/** A whole cluster: what `atlas-sim up --topology FILE` and `startCluster({ topology })` take. */
export interface Topology {
  clusterName: string;
  /** Method the master uses to choose a traffic node when no prefix contains the client's address. */
  method: Method;
  /** Seed of every random choice; the launcher draws one when absent. */
  seed?: string;
  heartbeat: HeartbeatSpec;
  /** The primary master, then optionally its backup (same model), which takes over when the primary fails. */
  masters: MasterSpec[];
  trafficNodes: TrafficNodeSpec[];
  clients: ClientSpec[];
  frames: FramesSpec;
  /** Start a public STUN server (RFC 5389 Binding over UDP) at .3 of the cluster's block. */
  publicStun: boolean;
  /** Resolver views for the A record method; without them the shared hostname lists every traffic node. */
  resolvers?: ResolverSpec[];
  /** Routing table of the anycast router, which the launcher starts at .4 of the block when this is present. */
  anycast?: AnycastSpec;
  /** Peer-to-peer settings the launcher sets on the cluster page. */
  peerToPeer: PeerToPeerSettings;
}

/** One invalid value in a topology: where it is, what it is, and how to fix it. */
export interface TopologyProblem {
  /** Path of the field, such as `trafficNodes[1].name`. */
  field: string;
  value: unknown;
  /** Description of the problem and of the value to write instead. */
  message: string;
}

/** A topology with one or more invalid values; the message lists every one. */
export class TopologyError extends ConfigError {
  override name = 'TopologyError';
  readonly problems: TopologyProblem[];

  /** `source` names where the topology came from: its file, or `topology` for one passed in code. */
  constructor(source: string, problems: TopologyProblem[]) {
    const lines = problems.map((problem) => `  ${problem.field}: ${formatValue(problem.value)} ${problem.message}`);
    const subject = source === 'topology' ? 'invalid topology' : `${source} is an invalid topology`;
    super(`${subject}:\n${lines.join('\n')}`);
    this.problems = problems;
  }
}

/** Formats a value for an error message: strings quoted, absent values named. */
export function formatValue(value: unknown): string {
  if (value === undefined) return '(missing)';
  if (typeof value === 'string') return JSON.stringify(value);
  // JSON.stringify returns undefined for functions and symbols, which no parsed JSON contains.
  return JSON.stringify(value) ?? typeof value;
}

/** A validated topology with the warnings validation found (such as mixed traffic node models). */
export interface ValidatedTopology {
  topology: Topology;
  warnings: string[];
}

/**
 * Loopback addresses 127.<first>.0.0 to 127.<last>.255.255 are reserved for
 * cluster nodes: each cluster takes one /24 of this range, so client
 * addresses must lie outside it.
 */
export const NODE_ADDRESS_SECOND_OCTET_FIRST = 100;
export const NODE_ADDRESS_SECOND_OCTET_LAST = 199;

/**
 * Returns why a client may not bind the IPv4 address `address` when it lies in
 * the loopback range of cluster nodes, or undefined when it lies outside.
 * Topology files and `atlas-sim client --address` give the same reason.
 */
export function describeNodeRangeAddress(address: string): string | undefined {
  if (!address.startsWith('127.')) return undefined;
  const secondOctet = Number(address.split('.')[1]);
  if (secondOctet < NODE_ADDRESS_SECOND_OCTET_FIRST || secondOctet > NODE_ADDRESS_SECOND_OCTET_LAST) return undefined;
  return `lies in 127.${NODE_ADDRESS_SECOND_OCTET_FIRST}.0.0-127.${NODE_ADDRESS_SECOND_OCTET_LAST}.255.255, which the launcher gives cluster nodes; use an address such as 127.20.0.5`;
}

/** Labels of the launcher's own hostnames (its processes and the shared traffic hostname), so no appliance may take them. */
export const RESERVED_NODE_NAMES: readonly string[] = ['dns', 'stun', 'anycast', 'traffic'];
