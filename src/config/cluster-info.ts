import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../util/errors.js';

/** Name of the file the launcher writes into every run folder. */
export const CLUSTER_INFO_FILE = 'cluster.json';

/** Role of a process the launcher started. */
export type ProcessRole = 'master' | 'traffic' | 'dns' | 'stun' | 'anycast' | 'customer' | 'representative' | 'netfault' | 'watchdog';

/** Ports one process listens on; absent fields are ports it does not open. */
export interface ProcessPorts {
  /** Client-facing TLS WebSocket port (control channel on a master, session channel on a traffic node). */
  public?: number;
  /** Appliance channel port. */
  internal?: number;
  /** DNS port, UDP and TCP. */
  dns?: number;
  /** STUN port, UDP. */
  stun?: number;
}

/** One process of the cluster as cluster.json lists it. */
export interface ClusterProcessInfo {
  name: string;
  role: ProcessRole;
  /** Canonical hostname under the zone; empty for clients. */
  hostname: string;
  /** Loopback address the process binds. */
  address: string;
  ports: ProcessPorts;
  pid: number;
  logFile: string;
}

/**
 * Contents of cluster.json: the addresses a client started by hand needs to
 * join a running cluster, and every process for people and tests to find.
 * The launcher rewrites the file whenever a process starts.
 */
export interface ClusterInfo {
  clusterName: string;
  /** Seed of every random choice in the cluster. */
  seed: string;
  runDir: string;
  /** Hostname and port clients dial for the control channel (the primary master). */
  site: { host: string; port: number };
  /** Cluster DNS server every hostname resolves through. */
  dns: { address: string; port: number };
  /** Folder holding the cluster CA and the wildcard certificate. */
  certsDir: string;
  heartbeat: { intervalMs: number; timeoutMs: number };
  /** Synthetic screen stream of every client: frame count, frame size in bytes, pause between frames in ms. */
  frames: { count: number; sizeBytes: number; intervalMs: number };
  /** Appliances, DNS and STUN servers. */
  nodes: ClusterProcessInfo[];
  /** Clients the launcher started; clients started by hand are not listed. */
  clients: ClusterProcessInfo[];
  /** Unix socket of the launcher that `atlas-sim chaos` uses; absent for a cluster started without one. */
  controlSocket?: string;
}

/** Reads `<runDir>/cluster.json`, naming the file and the fix on error. */
export async function readClusterInfo(runDir: string): Promise<ClusterInfo> {
  const file = join(runDir, CLUSTER_INFO_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`cannot read ${file}: ${reason}; pass the run folder printed by \`atlas-sim up\` with --run-dir`);
  }
  const info = parsed as ClusterInfo;
  if (typeof info !== 'object' || info === null || typeof info.site?.host !== 'string' || typeof info.dns?.address !== 'string' || typeof info.certsDir !== 'string') {
    throw new ConfigError(`${file}: site.host, dns.address or certsDir is missing; the file was not written by this version of the launcher`);
  }
  return info;
}
