import { DEFAULT_PEER_TO_PEER } from './peer-to-peer.js';
import type { Topology } from './topology.js';

/**
 * Cluster that `atlas-sim up` and `atlas-sim demo` start without --topology:
 * a primary and a backup master, two US and two EU traffic nodes, each region with a /16 prefix,
 * and one representative in the US and one customer in the EU, so a session
 * crosses regions. topologies/default.json contains the same cluster as a file to
 * copy and edit.
 */
export const DEFAULT_TOPOLOGY: Topology = {
  clusterName: 'atlas-demo',
  method: 'random',
  heartbeat: { intervalMs: 500, timeoutMs: 2000 },
  masters: [
    { name: 'master1', model: 'B400' },
    { name: 'master2', model: 'B400' },
  ],
  trafficNodes: [
    { name: 'us-traffic1', model: 'B300', accepting: true, prefixes: ['127.20.0.0/16'], timezone: 'America/New_York', srvPriority: 10, srvWeight: 100 },
    { name: 'us-traffic2', model: 'B300', accepting: true, prefixes: ['127.20.0.0/16'], timezone: 'America/New_York', srvPriority: 10, srvWeight: 100 },
    { name: 'eu-traffic1', model: 'B300', accepting: true, prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin', srvPriority: 10, srvWeight: 100 },
    { name: 'eu-traffic2', model: 'B300', accepting: true, prefixes: ['127.30.0.0/16'], timezone: 'Europe/Berlin', srvPriority: 10, srvWeight: 100 },
  ],
  clients: [
    { name: 'rep-us', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York', displayName: 'Rep (US)', natType: 'open', blockInbound: false },
    { name: 'customer-eu', role: 'customer', address: '127.30.0.5', timezone: 'Europe/Berlin', displayName: 'Customer (EU)', natType: 'open', blockInbound: false },
  ],
  frames: { count: 300, sizeBytes: 16384, intervalMs: 5 },
  publicStun: false,
  peerToPeer: { ...DEFAULT_PEER_TO_PEER },
};
