/**
 * Route explanation: which traffic node the rules pick for a client address
 * and UTC offset, and why, without starting a session. The master builds one
 * from its live chooser, and `atlas-sim route --topology FILE` from a chooser
 * over a topology file, so both use the rules that sessions use.
 */
import type { Method } from './method.js';
import type { ChoiceReason, NodeChooser } from './node-chooser.js';
import type { Rng } from './rng.js';
import { parseClientAddress, parsePrefixText, prefixContains } from './prefix.js';
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

/** Rules of the simulated network that decide where a client lands under the DNS and anycast methods. */
export interface RouteNetwork {
  /** Resolver views of the shared traffic hostname; `trafficNodes` is absent where only the DNS server has the list. */
  resolvers: { name: string; sources: readonly string[]; trafficNodes?: readonly string[] }[];
  anycast?: { routes: readonly { prefix: string; node: string }[]; defaultNode: string };
}

/** Result of the client's own resolution under srv, a-record or anycast, where the master does not pick. */
export interface DelegationView {
  method: 'srv' | 'a-record' | 'anycast';
  text: string;
  /** Node the client reaches, when the rules at hand name it; under srv the first candidate of one weighted draw. */
  node?: string;
  /** Reason the master records once the node reports the client, as logs and the connected-clients report show it. */
  landingReason: string;
  /** SRV records of the candidates in the order RFC 2782 gives with the explanation's generator; srv only. */
  srvOrder?: { node: string; priority: number; weight: number }[];
  /** Resolver view that resolves the shared hostname for the client; a-record only. */
  resolver?: string;
}

/** Route explanation, as the admin API's `GET /api/route` and `atlas-sim route --json` return it. */
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
 * order. Pass a fork of the chooser's generator, so that the explanation
 * shows what the next draw would give without changing later choices.
 * Throws RangeError or TypeError for an invalid offset or address, as NodeChooser.choose does.
 */
export function explainRoute(chooser: NodeChooser, method: Method, configs: readonly RouteNodeConfig[], query: RouteQuery, rng: Rng, network: RouteNetwork = { resolvers: [] }): RouteExplanation {
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
  if (choice.kind === 'delegated') result.delegation = explainDelegation(choice.method, nodes, explanation.candidates, query, rng, network);
  return result;
}

// The landing reasons below are worded as the master's learnedReason() words them once the node reports the client.
function explainDelegation(
  method: DelegationView['method'],
  nodes: readonly RouteNodeView[],
  candidates: readonly string[],
  query: RouteQuery,
  rng: Rng,
  network: RouteNetwork,
): DelegationView {
  if (method === 'srv') {
    // The cluster zone lists an SRV record for every traffic node, whatever its state, and every resolver view serves
    // the same records. A node that is offline or not accepting refuses the connection, so the client moves on.
    const records = nodes.map((node) => ({ priority: node.srvPriority, weight: node.srvWeight, port: 0, target: node.name }));
    const order = orderSrvTargets(records, rng).map((record) => ({ node: record.target, priority: record.priority, weight: record.weight }));
    const listed = order.map((record) => `${record.node} (priority ${record.priority}, weight ${record.weight})`).join(', ');
    const reached = order.find((record) => candidates.includes(record.node));
    return {
      method,
      text:
        `the client orders the SRV records by RFC 2782 (lowest priority first, weighted random within a priority) and tries them in turn ` +
        `until a candidate accepts; the client draws its own order, and one draw gives ${listed || 'no record'}`,
      ...(reached === undefined ? {} : { node: reached.node }),
      landingReason: `srv priority ${reached?.priority ?? 0} weight ${reached?.weight ?? 0}`,
      srvOrder: order,
    };
  }

  if (method === 'a-record') {
    const matched = longestMatch(network.resolvers.flatMap((view) => view.sources.map((source) => ({ source, label: view.name }))), query.clientIp);
    const name = query.resolver ?? matched?.label;
    const view = network.resolvers.find((candidate) => candidate.name === name);
    const answer = view?.trafficNodes;
    let viewSource = 'the default view, as no view lists the client address';
    if (query.resolver !== undefined) viewSource = 'given with the query';
    else if (matched !== undefined) viewSource = `selected by source prefix ${matched.prefix}`;
    const addresses = answer === undefined ? 'the addresses of that view' : answer.join(', ') || 'no address';
    return {
      method,
      text: `the client resolves the shared traffic hostname through resolver view ${name ?? 'default'} (${viewSource}) and connects to the first address that accepts: ${addresses}`,
      ...(answer?.[0] === undefined ? {} : { node: answer[0] }),
      landingReason: `a-record via ${name ?? 'the default view'}`,
      ...(name === undefined ? {} : { resolver: name }),
    };
  }

  const anycast = network.anycast;
  if (anycast === undefined) {
    return { method, text: 'the cluster has no anycast routing table, so no client can reach a node by anycast', landingReason: 'anycast default route' };
  }
  const route = longestMatch(anycast.routes.map((entry) => ({ source: entry.prefix, label: entry.node })), query.clientIp);
  const node = route?.label ?? anycast.defaultNode;
  const routeText = route === undefined ? 'the default route, as no route contains the client address' : `route ${route.prefix}`;
  return {
    method,
    text: `the client connects to the shared anycast address and the anycast router forwards it to ${node} by ${routeText}`,
    node,
    landingReason: route === undefined ? 'anycast default route' : `anycast route ${route.prefix}`,
  };
}

/** Returns the entry with the longest prefix that contains the address; the first listed wins a tie. */
function longestMatch(entries: readonly { source: string; label: string }[], clientIp: string): { prefix: string; label: string } | undefined {
  const address = parseClientAddress(clientIp);
  if (address === null) return undefined;
  let best: { prefix: string; length: number; label: string } | undefined;
  for (const entry of entries) {
    const prefix = parsePrefixText(entry.source);
    if (typeof prefix === 'string' || !prefixContains(prefix, address)) continue;
    if (best === undefined || prefix.length > best.length) best = { prefix: prefix.text, length: prefix.length, label: entry.label };
  }
  return best === undefined ? undefined : { prefix: best.prefix, label: best.label };
}

/** Formats a node's offset for tables: `+540 (Asia/Tokyo)`, or `-` without a timezone. */
export function describeNodeOffset(node: RouteNodeView): string {
  return node.offsetMinutes === undefined ? '-' : `${formatOffsetMinutes(node.offsetMinutes)} (${node.timezone})`;
}
