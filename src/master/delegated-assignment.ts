/**
 * Assignments and reasons for the methods in which the client finds its
 * traffic node itself. The master hands out a name or the anycast address
 * and a ticket that any traffic node accepts. It learns the node when that
 * node reports the client over the appliance channel, and then explains the
 * landing with the rules of the network (SRV records, resolver views,
 * anycast routes).
 */
import type { DelegationConfig } from '../config/delegation-config.js';
import type { IAssignment, IClusterMember } from '../protocol/messages.js';
import type { ChoiceReason, DelegatedMethod } from '../routing/index.js';
import { parseClientAddress, parsePrefixText, prefixContains, type Ipv4Prefix } from '../routing/prefix.js';

/** Connection target under a delegated method: the fields of Assignment that replace the node's own host. */
export type DelegatedTarget = Pick<IAssignment, 'host' | 'port' | 'srvName' | 'tlsName'>;

/**
 * Returns where the client connects under `method`: the SRV name to resolve,
 * the shared hostname to resolve through the client's resolver, or the
 * anycast IP address with the shared hostname as the TLS name. Throws when
 * the delegation settings lack what the method needs.
 */
export function delegatedTarget(method: DelegatedMethod, delegation: DelegationConfig): DelegatedTarget {
  switch (method) {
    case 'srv':
      return { host: '', port: 0, srvName: delegation.srvName, tlsName: '' };
    case 'a-record':
      return { host: delegation.sharedHostname, port: delegation.trafficPort, srvName: '', tlsName: delegation.sharedHostname };
    case 'anycast': {
      const anycast = delegation.anycast;
      if (anycast === undefined) throw new Error('method anycast needs an anycast address, and this master has none; add an "anycast" routing table to the topology');
      return { host: anycast.address, port: anycast.port, srvName: '', tlsName: delegation.sharedHostname };
    }
  }
}

/**
 * Explains why a client reached `node` under `method`, from the rules of the
 * network: the node's SRV priority and weight, the resolver view that matches
 * the client's address, or the anycast route that contains it.
 */
export function learnedReason(method: DelegatedMethod, delegation: DelegationConfig, member: IClusterMember | undefined, clientIp: string): ChoiceReason {
  const base = { method, candidates: 0, tied: 0 };
  if (method === 'srv') {
    return { ...base, text: `srv priority ${member?.srvPriority ?? 0} weight ${member?.srvWeight ?? 0}` };
  }
  if (method === 'a-record') {
    const view = longestMatch(delegation.resolvers.flatMap((resolver) => resolver.sources.map((source) => ({ source, label: resolver.name }))), clientIp);
    return { ...base, text: `a-record via ${view?.label ?? 'the default view'}` };
  }
  const route = longestMatch((delegation.anycast?.routes ?? []).map((entry) => ({ source: entry.prefix, label: entry.node })), clientIp);
  if (route === undefined) return { ...base, text: 'anycast default route' };
  return { ...base, prefix: route.prefix.text, prefixLength: route.prefix.length, text: `anycast route ${route.prefix.text}` };
}

/** Returns the entry with the longest prefix that contains the address; the first listed wins a tie. */
function longestMatch(entries: readonly { source: string; label: string }[], clientIp: string): { prefix: Ipv4Prefix; label: string } | undefined {
  const address = parseClientAddress(clientIp);
  if (address === null) return undefined;
  let best: { prefix: Ipv4Prefix; label: string } | undefined;
  for (const entry of entries) {
    const prefix = parsePrefixText(entry.source);
    if (typeof prefix === 'string' || !prefixContains(prefix, address)) continue;
    if (best === undefined || prefix.length > best.prefix.length) best = { prefix, label: entry.label };
  }
  return best;
}
