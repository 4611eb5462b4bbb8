/**
 * Settings a master needs for the methods in which the client finds its
 * traffic node itself (SRV, A record, IP anycast). They contain the names and
 * the address it hands out, and the network's rules, which the master uses
 * only to explain where a client landed. The launcher writes them into the
 * master's node config.
 */
export interface DelegationConfig {
  /** SRV name the client resolves under the SRV method. */
  srvName: string;
  /** Hostname every traffic node shares: resolved under the A record method, verified in TLS under anycast. */
  sharedHostname: string;
  /** Public port of every traffic node, which the A record method dials. */
  trafficPort: number;
  /** Resolver views of the shared hostname, selected by client source prefix (longest wins). */
  resolvers: { name: string; sources: string[] }[];
  /** The anycast address and its routing table; absent when the cluster has no anycast router. */
  anycast?: { address: string; port: number; routes: { prefix: string; node: string }[]; defaultNode: string };
}

/** Returns the invalid field of a delegation config and its problem, or undefined when it is valid. */
export function delegationProblem(value: DelegationConfig): { field: string; problem: string } | undefined {
  if (typeof value.srvName !== 'string' || value.srvName === '') return { field: 'delegation.srvName', problem: 'is missing; expected an SRV name such as "_atlas._tcp.support.example.test"' };
  if (typeof value.sharedHostname !== 'string' || value.sharedHostname === '') return { field: 'delegation.sharedHostname', problem: 'is missing; expected a hostname such as "traffic.support.example.test"' };
  if (!Number.isInteger(value.trafficPort) || value.trafficPort < 1 || value.trafficPort > 65535) return { field: 'delegation.trafficPort', problem: `is ${JSON.stringify(value.trafficPort)}; expected 1-65535` };
  if (!Array.isArray(value.resolvers)) return { field: 'delegation.resolvers', problem: 'is not a list; expected [] or [{ name, sources }]' };
  const anycast = value.anycast;
  if (anycast !== undefined && (!Number.isInteger(anycast.port) || anycast.port < 1 || anycast.port > 65535 || !Array.isArray(anycast.routes) || typeof anycast.defaultNode !== 'string')) {
    return { field: 'delegation.anycast', problem: `is ${JSON.stringify(anycast)}; expected { address, port, routes, defaultNode }` };
  }
  return undefined;
}
