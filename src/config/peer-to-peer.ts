// Peer-to-peer settings: the cluster-wide ones an administrator sets, and
// the per-client network conditions a simulated client runs behind.

/** STUN server clients query: the public STUN process, or the primary master in its STUN role. */
export const STUN_ROLES = ['public', 'master'] as const;
export type StunRole = (typeof STUN_ROLES)[number];

/**
 * NAT behaviour in front of a simulated client, in the classic terms of
 * RFC 3489, with the RFC 4787 mapping and filtering behaviour each stands for:
 * - open: no NAT; the client's own address is public (endpoint-independent mapping and filtering);
 * - full-cone: endpoint-independent mapping and filtering;
 * - restricted: endpoint-independent mapping, address-dependent filtering;
 * - port-restricted: endpoint-independent mapping, address-and-port-dependent filtering;
 * - symmetric: address-and-port-dependent mapping and filtering.
 */
export const NAT_TYPES = ['open', 'full-cone', 'restricted', 'port-restricted', 'symmetric'] as const;
export type NatType = (typeof NAT_TYPES)[number];

/** Cluster-wide peer-to-peer settings. */
export interface PeerToPeerSettings {
  /** Clients try a direct path at session start. */
  enabled: boolean;
  stunRole: StunRole;
  /** Skip the direct attempt, so every session takes the traffic-node path. */
  forceRelay: boolean;
  /** Time a direct attempt may take, from SessionStart to a verified direct connection, in ms. */
  timeoutMs: number;
}

/** Network conditions of one simulated client. */
export interface ClientNetworkSettings {
  natType: NatType;
  /** A firewall in front of the client drops every inbound TCP connection, so the direct listener never responds. */
  blockInbound: boolean;
}

export const DEFAULT_P2P_TIMEOUT_MS = 5000;
export const MIN_P2P_TIMEOUT_MS = 500;
export const MAX_P2P_TIMEOUT_MS = 60_000;

export const DEFAULT_PEER_TO_PEER: PeerToPeerSettings = { enabled: false, stunRole: 'master', forceRelay: false, timeoutMs: DEFAULT_P2P_TIMEOUT_MS };
export const DEFAULT_CLIENT_NETWORK: ClientNetworkSettings = { natType: 'open', blockInbound: false };

export function isStunRole(value: unknown): value is StunRole {
  return STUN_ROLES.some((role) => role === value);
}

export function isNatType(value: unknown): value is NatType {
  return NAT_TYPES.some((type) => type === value);
}
