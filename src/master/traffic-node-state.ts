/** State of one traffic node as the master tracks it, for the chooser and the status report. */
export interface TrafficNodeState {
  name: string;
  /** True while an authenticated link is open and any needed configuration push has finished. */
  online: boolean;
  accepting: boolean;
  /** Configuration version the node reported; 0 before the first report. */
  appliedConfigVersion: number;
  /** GUID the node reported in its challenge; empty before the first link. */
  applianceGuid: string;
  /** Internal address of the node as the link's socket reports it; empty before the first link. */
  address: string;
  activeSessions: number;
  connectedClients: number;
  /** Why the last link closed, such as a heartbeat timeout; empty before the first close. */
  offlineReason: string;
}

/** State of a traffic node the master has not reached yet. */
export function createNodeState(name: string): TrafficNodeState {
  return { name, online: false, accepting: false, appliedConfigVersion: 0, applianceGuid: '', address: '', activeSessions: 0, connectedClients: 0, offlineReason: '' };
}
