// The NAT and firewall a simulated client sits behind. Loopback has no NAT,
// so each client applies its own NAT type to the datagrams its sockets
// receive (filtering) and to the sockets it sends from (mapping). The rules
// follow RFC 4787:
//
// - Mapping. Every NAT type except symmetric maps the client's socket to one
//   external port for every destination (endpoint-independent), so the
//   reflexive address STUN reports is the address peers can reach. A
//   symmetric NAT maps each destination to a new port, which the simulation
//   does by sending to each new destination from a new UDP socket; the
//   address STUN reported then admits nothing from the peer.
// - Filtering. open and full-cone admit datagrams from anyone;
//   restricted admits a source address this mapping has sent to;
//   port-restricted and symmetric admit a source address and port it has
//   sent to.
// - Firewall. blockInbound drops every inbound TCP connection to the
//   client's direct listener without an answer, as a firewall dropping SYNs
//   does. Connectivity checks are UDP and pass it, as replies to the
//   client's own outbound checks would through a stateful firewall.
import type { ClientNetworkSettings, NatType } from '../../config/peer-to-peer.js';

/** Filter state of one NAT mapping (one UDP socket of the client): where it has sent to. */
export class NatFilter {
  private readonly sentToAddresses = new Set<string>();
  private readonly sentToEndpoints = new Set<string>();

  constructor(readonly natType: NatType) {}

  /** Records that a datagram left through this mapping to `address:port`. */
  recordOutbound(address: string, port: number): void {
    this.sentToAddresses.add(address);
    this.sentToEndpoints.add(`${address}:${port}`);
  }

  /** True when the NAT forwards a datagram from `address:port` to the client. */
  admits(address: string, port: number): boolean {
    switch (this.natType) {
      case 'open':
      case 'full-cone':
        return true;
      case 'restricted':
        return this.sentToAddresses.has(address);
      case 'port-restricted':
      case 'symmetric':
        return this.sentToEndpoints.has(`${address}:${port}`);
    }
  }
}

/** True when the NAT maps each destination to its own external port. */
export function mapsPerDestination(natType: NatType): boolean {
  return natType === 'symmetric';
}

/** Inputs of the path rule: whether the STUN server responds, and each side's network. */
export interface PathRuleInput {
  p2pEnabled: boolean;
  forceRelay: boolean;
  stunAnswers: boolean;
  customer: ClientNetworkSettings;
  representative: ClientNetworkSettings;
}

/** The path the rule predicts, with the reason in words. */
export interface PredictedPath {
  path: 'direct' | 'relay';
  reason: string;
}

/**
 * Returns true when the first checks of `sender` pass the receiver's NAT,
 * before any check comes back. The receiver listens on the mapping STUN saw.
 * A symmetric receiver sends its own checks from other mappings, so its
 * STUN mapping has sent only to the STUN server and admits nothing. A
 * cone receiver has sent to the sender's reflexive address, which
 * restricted filtering matches by address alone; port-restricted filtering
 * also needs the port, and a symmetric sender's checks leave from a port
 * STUN never saw.
 */
function firstChecksPass(sender: NatType, receiver: NatType): boolean {
  switch (receiver) {
    case 'open':
    case 'full-cone':
    case 'restricted':
      return true;
    case 'port-restricted':
      return sender !== 'symmetric';
    case 'symmetric':
      return false;
  }
}

/**
 * Returns true when connectivity checks pass between two clients, with both
 * checking at once. A check that passes in either direction gets a response
 * and a triggered check back to the mapping it came from. That mapping's
 * filter admits both because it has sent to the other side, so both
 * clients receive checks, or neither does.
 */
export function checksConnect(a: NatType, b: NatType): boolean {
  return firstChecksPass(a, b) || firstChecksPass(b, a);
}

/**
 * The path rule. Clients take the direct path when peer to peer is on and
 * not forced off, the STUN server responds, connectivity checks pass between
 * their NATs, and one dial works. The customer dials the representative's
 * direct listener first. When a firewall that blocks inbound connections
 * drops that dial, the representative dials the customer back. Every other
 * case takes the traffic-node path.
 */
export function predictPath(input: PathRuleInput): PredictedPath {
  if (!input.p2pEnabled) return { path: 'relay', reason: 'peer to peer is off' };
  if (input.forceRelay) return { path: 'relay', reason: 'force relay is set' };
  if (!input.stunAnswers) return { path: 'relay', reason: 'the STUN server does not answer' };
  const { customer, representative } = input;
  if (!checksConnect(customer.natType, representative.natType)) {
    return { path: 'relay', reason: `no connectivity check passes between ${customer.natType} and ${representative.natType} NATs` };
  }
  if (!representative.blockInbound) {
    return { path: 'direct', reason: `the customer (${customer.natType}) dials the representative (${representative.natType}) after connectivity checks pass` };
  }
  if (!customer.blockInbound) {
    return { path: 'direct', reason: `the representative's firewall drops the customer's dial, so the representative (${representative.natType}) dials the customer (${customer.natType}) back` };
  }
  return { path: 'relay', reason: "both clients' firewalls drop the other's direct connection" };
}
