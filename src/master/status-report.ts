import type { ApplianceLinks } from './appliance-links.js';
import { roleName, type ClientRegistry } from './client-registry.js';
import { syncRequiredWarning } from '../admin/api-types.js';
import { isInCluster, type ClusterConfigStore } from './cluster-config-store.js';
import type { SessionBroker, SessionConnection } from './session-broker.js';
import type { StunServerCounters } from '../stun-protocol/server.js';

export interface NodeStatusReport {
  name: string;
  online: boolean;
  accepting: boolean;
  appliedConfigVersion: number;
  /** True when the node applied the last synced configuration, so it may be chosen. */
  configCurrent: boolean;
  applianceGuid: string;
  address: string;
  activeSessions: number;
  connectedClients: number;
}

export interface MasterStatusReport {
  name: string;
  guid: string;
  role: 'primary' | 'backup';
  term: number;
  /** False before the cluster is created and after a disband. */
  inCluster: boolean;
  configVersion: number;
  syncedVersion: number;
  syncRequired: boolean;
  /** The "sync required" warning while a change waits for a sync; absent otherwise. */
  syncWarning?: string;
  nodes: NodeStatusReport[];
  /** The master's STUN role while it runs: `host:port` clients query, the bound address and the packet counters. */
  stun?: { endpoint: string; address: string; counters: StunServerCounters | undefined };
}

export interface ConnectedClientReport {
  clientId: string;
  role: string;
  displayName: string;
  address: string;
  utcOffsetMinutes: number;
  session?: { id: string; connections: SessionConnection[] };
}

/** Builds the reply to the launcher's `status` request. */
export function statusReport(source: { name: string; guid: string; store: ClusterConfigStore; links: ApplianceLinks; term: number }): MasterStatusReport {
  const { store } = source;
  return {
    name: source.name,
    guid: source.guid,
    role: 'primary',
    term: source.term,
    inCluster: isInCluster(store.current),
    configVersion: store.current.version,
    syncedVersion: store.syncedVersion,
    syncRequired: store.syncRequired,
    ...(store.syncRequired ? { syncWarning: syncRequiredWarning(store.current.version, store.syncedVersion) } : {}),
    nodes: source.links.states().map((state) => ({
      name: state.name,
      online: state.online,
      accepting: state.accepting,
      appliedConfigVersion: state.appliedConfigVersion,
      configCurrent: state.appliedConfigVersion === store.syncedVersion,
      applianceGuid: state.applianceGuid,
      address: state.address,
      activeSessions: state.activeSessions,
      connectedClients: state.connectedClients,
    })),
  };
}

/** Builds the reply to the launcher's `connected-clients` request. */
export function connectedClientsReport(registry: ClientRegistry, broker: SessionBroker): ConnectedClientReport[] {
  return registry.list().map((client) => {
    const report: ConnectedClientReport = {
      clientId: client.clientId,
      role: roleName(client.role),
      displayName: client.displayName,
      address: client.address,
      utcOffsetMinutes: client.utcOffsetMinutes,
    };
    const session = client.sessionId === undefined ? undefined : broker.get(client.sessionId);
    if (session !== undefined) {
      report.session = { id: session.id, connections: (session.connections.get(client.clientId) ?? []).map((connection) => ({ ...connection })) };
    }
    return report;
  });
}
