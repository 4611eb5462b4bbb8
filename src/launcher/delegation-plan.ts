import { TRAFFIC_HOSTNAME, TRAFFIC_SRV_NAME } from '../config/constants.js';
import type { DelegationConfig } from '../config/delegation-config.js';
import type { Topology } from '../config/topology.js';
import type { ZoneDefinition, ZoneViewDefinition } from '../dns/zone.js';

/** Name of the anycast router process; its address is .4 of the cluster's block. */
export const ANYCAST_PROCESS_NAME = 'anycast';

/** A traffic node as the records and the routing table need it. */
export interface TrafficEndpoint {
  name: string;
  host: string;
  address: string;
  port: number;
}

/** Contents of the anycast router's config file (`atlas-sim anycast --config FILE`). */
export interface AnycastFile {
  name: string;
  address: string;
  port: number;
  routes: { prefix: string; node: string; target: { address: string; port: number } }[];
  default: { node: string; address: string; port: number };
  logFile: string;
}

/**
 * Adds the records of the SRV and A record methods to a zone. TRAFFIC_SRV_NAME
 * gets one SRV record per traffic node with the node's priority and weight.
 * The shared hostname lists every node in the base records, and each
 * resolver's own nodes in that resolver's view.
 */
export function addTrafficRecords(zone: ZoneDefinition, topology: Topology, nodes: readonly TrafficEndpoint[]): ZoneDefinition {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const srv = topology.trafficNodes.map((spec) => {
    const node = requireNode(byName, spec.name);
    return { priority: spec.srvPriority, weight: spec.srvWeight, port: node.port, target: node.host };
  });
  const views: ZoneViewDefinition[] = (topology.resolvers ?? []).map((resolver) => ({
    name: resolver.name,
    sources: [...resolver.sources],
    a: { [TRAFFIC_HOSTNAME]: resolver.trafficNodes.map((name) => requireNode(byName, name).address) },
  }));
  return {
    ...zone,
    a: { ...zone.a, [TRAFFIC_HOSTNAME]: nodes.map((node) => node.address) },
    srv: { ...zone.srv, [TRAFFIC_SRV_NAME]: srv },
    ...(views.length === 0 ? {} : { views }),
  };
}

/** Builds the master's delegation settings; `anycast` is the router's address when the cluster has one. */
export function delegationConfig(topology: Topology, trafficPort: number, anycast?: { address: string; port: number }): DelegationConfig {
  return {
    srvName: TRAFFIC_SRV_NAME,
    sharedHostname: TRAFFIC_HOSTNAME,
    trafficPort,
    resolvers: (topology.resolvers ?? []).map((resolver) => ({ name: resolver.name, sources: [...resolver.sources] })),
    ...(anycast === undefined || topology.anycast === undefined
      ? {}
      : { anycast: { ...anycast, routes: topology.anycast.routes.map((route) => ({ ...route })), defaultNode: topology.anycast.defaultNode } }),
  };
}

/** Builds the anycast router's config: every route and the default point at a traffic node's public address. */
export function anycastFile(topology: Topology, nodes: readonly TrafficEndpoint[], listen: { address: string; port: number }, logFile: string): AnycastFile | undefined {
  const table = topology.anycast;
  if (table === undefined) return undefined;
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const target = (name: string): { address: string; port: number } => {
    const node = requireNode(byName, name);
    return { address: node.address, port: node.port };
  };
  return {
    name: ANYCAST_PROCESS_NAME,
    ...listen,
    routes: table.routes.map((route) => ({ prefix: route.prefix, node: route.node, target: target(route.node) })),
    default: { node: table.defaultNode, ...target(table.defaultNode) },
    logFile,
  };
}

function requireNode(byName: ReadonlyMap<string, TrafficEndpoint>, name: string): TrafficEndpoint {
  const node = byName.get(name);
  if (node === undefined) throw new Error(`traffic node "${name}" is not planned; the topology validation should have rejected it`);
  return node;
}
