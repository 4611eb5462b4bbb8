/**
 * The demo's own reading of the node-choice rules for a client that no
 * prefix matches. It recomputes from the topology which traffic nodes the
 * method allows, so the verdict checks the cluster against the rules rather
 * than against the cluster's own choice.
 */
import type { AnycastSpec, ResolverSpec } from '../config/topology.js';
import type { Method } from '../routing/method.js';
import { parseClientAddress, parsePrefixText, prefixContains, type Ipv4Prefix } from '../routing/prefix.js';
import { circularDistanceMinutes, offsetAt, parseNodeTimezone } from '../routing/timezone.js';

/** Cluster-wide rules the prediction reads: the method and the network settings of the delegated methods. */
export interface DemoRules {
  method: Method;
  resolvers?: ResolverSpec[];
  anycast?: AnycastSpec;
}

/** A traffic node as the prediction needs it. */
export interface PredictionNode {
  name: string;
  /** Online and accepting new client connections. */
  candidate: boolean;
  timezone?: string;
  srvPriority?: number;
  srvWeight?: number;
}

/** Nodes a client may land on, the rule that allows them, and the reason text the cluster must give (delegated methods only). */
export interface Prediction {
  nodes: string[];
  rule: string;
  /** Expected reason of the home connection, by node; absent when the method gives no fixed text. */
  reasonFor?: (node: string) => string;
}

/**
 * Predicts the home nodes of a client that no prefix matches. `timezone` is
 * the client's IANA zone or fixed offset and `at` the moment the offsets are
 * evaluated at.
 */
export function predictByMethod(rules: DemoRules, nodes: readonly PredictionNode[], client: { address: string; timezone?: string }, at: Date): Prediction {
  const candidates = nodes.filter((node) => node.candidate);
  switch (rules.method) {
    case 'random':
      return { nodes: candidates.map((node) => node.name), rule: 'random, any candidate' };
    case 'timezone':
      return predictByTimezone(candidates, client.timezone, at);
    case 'srv':
      return predictBySrv(candidates);
    case 'a-record':
      return predictByResolver(rules.resolvers ?? [], nodes, client.address);
    case 'anycast':
      return predictByAnycast(rules.anycast, client.address);
  }
}

function predictByTimezone(candidates: readonly PredictionNode[], clientTimezone: string | undefined, at: Date): Prediction {
  const zoned = candidates.filter((node) => node.timezone !== undefined && node.timezone !== '');
  if (clientTimezone === undefined || zoned.length === 0) return { nodes: candidates.map((node) => node.name), rule: 'timezone without offsets, any candidate' };
  const clientOffset = offsetAt(parseNodeTimezone(clientTimezone, 'client'), at);
  const distances = zoned.map((node) => ({ name: node.name, distance: circularDistanceMinutes(offsetAt(parseNodeTimezone(node.timezone!, node.name), at), clientOffset) }));
  const nearest = Math.min(...distances.map((entry) => entry.distance));
  return { nodes: distances.filter((entry) => entry.distance === nearest).map((entry) => entry.name), rule: `timezone nearest to ${clientTimezone} (distance ${nearest} min)` };
}

/** RFC 2782: the lowest priority is tried first, and any record of it may come first by weight. */
function predictBySrv(candidates: readonly PredictionNode[]): Prediction {
  const lowest = Math.min(...candidates.map((node) => node.srvPriority ?? 0));
  const nodes = candidates.filter((node) => (node.srvPriority ?? 0) === lowest);
  const byName = new Map(nodes.map((node) => [node.name, node]));
  return {
    nodes: nodes.map((node) => node.name),
    rule: `lowest SRV priority ${lowest}`,
    reasonFor: (name) => `srv priority ${byName.get(name)?.srvPriority ?? lowest} weight ${byName.get(name)?.srvWeight ?? 0}`,
  };
}

/** The view with the longest source prefix is used; without one the shared hostname lists every node in topology order. */
function predictByResolver(resolvers: readonly ResolverSpec[], nodes: readonly PredictionNode[], address: string): Prediction {
  const view = longestMatch(resolvers.flatMap((resolver) => resolver.sources.map((source) => ({ source, value: resolver }))), address);
  const listed = view === undefined ? nodes.map((node) => node.name) : view.value.trafficNodes;
  const online = listed.filter((name) => nodes.find((node) => node.name === name)?.candidate === true);
  const label = view === undefined ? 'the default view' : view.value.name;
  return { nodes: online, rule: `resolver ${label}`, reasonFor: () => `a-record via ${label}` };
}

function predictByAnycast(table: AnycastSpec | undefined, address: string): Prediction {
  if (table === undefined) return { nodes: [], rule: 'anycast without a routing table' };
  const route = longestMatch(table.routes.map((entry) => ({ source: entry.prefix, value: entry.node })), address);
  if (route === undefined) return { nodes: [table.defaultNode], rule: 'anycast default route', reasonFor: () => 'anycast default route' };
  return { nodes: [route.value], rule: `anycast route ${route.prefix.text}`, reasonFor: () => `anycast route ${route.prefix.text}` };
}

function longestMatch<T>(entries: readonly { source: string; value: T }[], clientIp: string): { prefix: Ipv4Prefix; value: T } | undefined {
  const address = parseClientAddress(clientIp);
  if (address === null) return undefined;
  let best: { prefix: Ipv4Prefix; value: T } | undefined;
  for (const entry of entries) {
    const prefix = parsePrefixText(entry.source);
    if (typeof prefix === 'string' || !prefixContains(prefix, address)) continue;
    if (best === undefined || prefix.length > best.prefix.length) best = { prefix, value: entry.value };
  }
  return best;
}
