import type { ClusterInfo } from '../config/cluster-info.js';

/**
 * A place to ask for the primary master. The site hostname comes first: the
 * cluster DNS server points it at the master that holds the highest term, so
 * it follows a takeover. Each master by its own hostname follows, for the
 * time a takeover needs to move the record.
 */
export interface MasterCandidate {
  /** Name of the candidate in messages, such as "the primary master at support.example.test" or "master master2". */
  label: string;
  /** Hostname the request names and the certificate must cover. */
  host: string;
  port: number;
  /** Master name; absent for the site hostname. */
  name?: string;
  /** Loopback address from cluster.json; absent for the site hostname, which resolves through the cluster DNS server. */
  address?: string;
}

/** Lists the site hostname, then every master of cluster.json in its order (the primary of the topology first). */
export function masterCandidates(info: ClusterInfo): MasterCandidate[] {
  const masters = info.nodes
    .filter((node) => node.role === 'master')
    .map((node): MasterCandidate => ({ label: `master ${node.name}`, host: node.hostname, port: node.ports.public ?? info.site.port, name: node.name, address: node.address }));
  return [{ label: `the primary master at ${info.site.host}`, host: info.site.host, port: info.site.port }, ...masters];
}
