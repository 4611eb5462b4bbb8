/**
 * Route explanation: which traffic node the rules pick for a client address
 * and UTC offset, and why, without starting a session. The master builds one
 * from its live chooser, and `atlas-sim route --topology FILE` from a chooser
 * over a topology file, so both use the rules that sessions use.
 */
import type { Method } from './method.js';
import type { ChoiceReason, NodeChooser } from './node-chooser.js';
import type { Rng } from './rng.js';
import { orderSrvTargets } from './srv.js';
import { formatOffsetMinutes, offsetAt, parseNodeTimezone } from './timezone.js';

/** Input of a route explanation: the client's address, offset and resolver view. */
export interface RouteQuery {
  clientIp: string;
  /** Client's UTC offset in minutes, positive east of Greenwich (Asia/Tokyo is +540). */
  utcOffsetMinutes: number;
  /** Moment at which node zones are evaluated. */
  at: Date;
  /** Resolver view the client uses under the DNS methods; absent for the default. */
  resolver?: string;
}

/** Configuration of one traffic node that an explanation shows next to its live state. */
export interface RouteNodeConfig {
  name: string;
  prefixes: readonly string[];
  /** IANA zone name or fixed offset; empty for none. */
  timezone: string;
  srvPriority: number;
  srvWeight: number;
}

/** One traffic node in an explanation. */
export interface RouteNodeView extends RouteNodeConfig {
  online: boolean;
  accepting: boolean;
  configCurrent: boolean;
  /** Online, accepting and on the current configuration. */
  candidate: boolean;
  /** UTC offset of the node's timezone at the moment of the query; absent without a timezone. */
  offsetMinutes?: number;
}

/** Result of the client's own resolution under srv, a-record or anycast, where the master does not pick. */
export interface DelegationView {
  method: 'srv' | 'a-record' | 'anycast';
  text: string;
  /** SRV records of the candidates in the order RFC 2782 gives with the explanation's generator; srv only. */
  srvOrder?: { node: string; priority: number; weight: number }[];
}

/** Answer of the route explanation: the admin API's `GET /api/route` and `atlas-sim route --json`. */
export interface RouteExplanation {
  clientIp: string;
  utcOffsetMinutes: number;
  /** ISO 8601 moment at which node zones were evaluated. */
  at: string;
  /** Cluster-wide method, used when no prefix contains the client's address. */
  method: Method;
  /** `node` when the master picks a node, `delegated` when the client resolves it, `none` without a candidate. */
  kind: 'node' | 'delegated' | 'none';
  /** Node the rules pick; for a tie, the pick of the explanation's generator (see `tied`). */
  node?: string;
  /** The reason as logs, session assignments and the connected-clients report carry it. */
  reason: ChoiceReason;
  /** Nodes the deciding rule considered. */
  candidates: string[];
  /** Nodes equally good before the random pick; empty when the master does not pick. */
  tied: string[];
  delegation?: DelegationView;
  nodes: RouteNodeView[];
}

/**
 * Explains the choice for one query. `rng` draws the tie pick and the SRV
 * order; pass a fork of the chooser's generator so that the explanation
 * shows what the next draw would give without changing later choices.
 * Throws RangeError or TypeError for an invalid offset or address, as NodeChooser.choose does.
 */
export function explainRoute(chooser: NodeChooser, method: Method, configs: readonly RouteNodeConfig[], query: RouteQuery, rng: Rng): RouteExplanation {
  const explanation = chooser.explain({ clientIp: query.clientIp, utcOffsetMinutes: query.utcOffsetMinutes, at: query.at }, rng);
  const configByName = new Map(configs.map((config) => [config.name, config]));
  const nodes = explanation.nodes.map((state): RouteNodeView => {
    const config = configByName.get(state.name) ?? { name: state.name, prefixes: [], timezone: '', srvPriority: 0, srvWeight: 0 };
    const offsetMinutes = config.timezone === '' ? undefined : offsetAt(parseNodeTimezone(config.timezone, config.name), query.at);
    return { ...config, prefixes: [...config.prefixes], ...state, ...(offsetMinutes === undefined ? {} : { offsetMinutes }) };
  });

  const { choice } = explanation;
  const result: RouteExplanation = {
    clientIp: query.clientIp,
    utcOffsetMinutes: query.utcOffsetMinutes,
    at: query.at.toISOString(),
    method,
    kind: choice.kind,
    reason: choice.reason,
    candidates: explanation.candidates,
    tied: explanation.tied,
    nodes,
  };
  if (choice.kind === 'node') result.node = choice.node;
  if (choice.kind === 'delegated') result.delegation = explainDelegation(choice.method, nodes, explanation.candidates, rng);
  return result;
}

function explainDelegation(method: DelegationView['method'], nodes: readonly RouteNodeView[], candidates: readonly string[], rng: Rng): DelegationView {
  if (method === 'srv') {
    // TODO: the SRV records come from each node's srvPriority and srvWeight in the configuration;
    // once resolver views can serve different SRV answers, explain the answer of query.resolver's view.
    const records = nodes
      .filter((node) => candidates.includes(node.name))
      .map((node) => ({ priority: node.srvPriority, weight: node.srvWeight, port: 0, target: node.name }));
    const order = orderSrvTargets(records, rng).map((record) => ({ node: record.target, priority: record.priority, weight: record.weight }));
    const listed = order.map((record) => `${record.node} (priority ${record.priority}, weight ${record.weight})`).join(', ');
    return { method, text: `the client orders the SRV records by RFC 2782 and tries them in turn: ${listed || 'no record'}`, srvOrder: order };
  }
  if (method === 'a-record') {
    // TODO: explain which address the client's resolver view returns for the shared hostname once the topology defines resolver views.
    return { method, text: "the client connects to the address its own resolver returns for the shared traffic hostname; the resolver's view decides" };
  }
  // TODO: explain the node the anycast router's table gives for the client's address once the topology holds the table.
  return { method, text: "the client connects to the shared anycast address and the anycast router forwards it by the client's source address" };
}

/** Formats a node's offset for tables: `+540 (Asia/Tokyo)`, or `-` without a timezone. */
export function describeNodeOffset(node: RouteNodeView): string {
  return node.offsetMinutes === undefined ? '-' : `${formatOffsetMinutes(node.offsetMinutes)} (${node.timezone})`;
}
