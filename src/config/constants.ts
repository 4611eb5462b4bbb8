/** DNS zone of every simulated cluster. */
export const ZONE = 'support.example.test';
/** Site hostname clients use to reach the primary master. */
export const SITE_HOSTNAME = ZONE;
/** SRV name (RFC 2782 `_service._proto.name`) listing every traffic node, for the SRV method. */
export const TRAFFIC_SRV_NAME = `_atlas._tcp.${ZONE}`;
/**
 * Hostname every traffic node shares, for the A record method and as the TLS
 * name under IP anycast. The cluster's wildcard certificate covers it.
 */
export const TRAFFIC_HOSTNAME = `traffic.${ZONE}`;
/** Software version every appliance and client reports; a peer with another one is rejected. */
export const SOFTWARE_VERSION = '24.3.1';
/** Appliance models the real product ships. */
export const MODELS = ['B300', 'B400', 'Virtual'] as const;
export type Model = (typeof MODELS)[number];

/** Returns the canonical hostname of a node: one label under the zone. */
export function nodeHostname(name: string): string {
  return `${name}.${ZONE}`;
}
