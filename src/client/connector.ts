import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LookupFunction } from 'node:net';
import type { Logger } from '../logging/logger.js';
import type { Channel } from '../net/channel.js';
import { connectChannel } from '../net/ws-client.js';
import { createClusterLookup, resolveSrv, type ClusterDnsClientOptions } from '../net/lookup.js';
import type { ClientProcessConfig } from '../config/client-config.js';
import type { atlas } from '../protocol/messages.js';
import { createRng, type Rng } from '../routing/rng.js';
import { isSrvServiceUnavailable, orderSrvTargets } from '../routing/srv.js';
import { errorMessage, ConfigError } from '../util/errors.js';
import type { SessionTarget } from './session-link.js';

/** File of the cluster CA certificate inside the certificate folder. */
export const CA_FILE_NAME = 'ca.pem';

/** Reads the cluster CA that every server certificate must chain to. */
export async function loadClusterCa(certsDir: string): Promise<Buffer> {
  const file = join(certsDir, CA_FILE_NAME);
  try {
    return await readFile(file);
  } catch (error) {
    throw new ConfigError(`cannot read the cluster CA ${file}: ${errorMessage(error)}; start the cluster first (it creates the certificates) or point certsDir at its certificate folder`);
  }
}

/** Connect functions of one client process. Every socket binds the client's own address and resolves names through the cluster DNS. */
export interface ClientNetwork {
  connectControl: () => Promise<Channel>;
  connectSession: (target: SessionTarget) => Promise<Channel>;
  resolveTargets: (assignment: atlas.IAssignment) => Promise<SessionTarget[]>;
}

/** Builds the connect functions of one client from its configuration and the cluster CA. */
export function createClientNetwork(deps: { logger: Logger }, config: ClientProcessConfig, ca: Buffer): ClientNetwork {
  const dns: ClusterDnsClientOptions = { server: config.dns, localAddress: config.address, logger: deps.logger };
  const lookup: LookupFunction = createClusterLookup(dns);
  // The launcher derives the seed from the cluster's, so a run's SRV choices replay; a client configured without one draws its own.
  const rng = createRng(config.seed ?? randomBytes(8).toString('hex'));
  const heartbeat = config.heartbeat;

  const connectControl = (): Promise<Channel> => connectChannel({ logger: deps.logger.child({ peer: 'master' }) }, {
    host: config.site.host,
    port: config.site.port,
    path: '/control',
    ca,
    lookup,
    localAddress: config.address,
    heartbeat,
    // A master that does not finish the handshake within the heartbeat timeout counts as silent, as on an open
    // channel. When the old primary is paused, the next attempt then resolves the site hostname to the new
    // primary sooner than the default 5 s connect timeout would allow.
    connectTimeoutMs: heartbeat.timeoutMs,
  });

  const connectSession = (target: SessionTarget): Promise<Channel> => connectChannel({ logger: deps.logger.child({ peer: target.host }) }, {
    host: target.host,
    port: target.port,
    path: '/session',
    ca,
    tlsName: target.tlsName,
    lookup,
    localAddress: config.address,
    heartbeat,
  });

  return { connectControl, connectSession, resolveTargets: (assignment) => resolveTargets(dns, rng, assignment) };
}

/**
 * Returns the targets to try for one assignment, in order. Under SRV record
 * lookup the client resolves the SRV name through its own resolver view and
 * orders the records by RFC 2782 priority and weight. Otherwise the
 * assignment names one host.
 */
export async function resolveTargets(dns: ClusterDnsClientOptions, rng: Rng, assignment: atlas.IAssignment): Promise<SessionTarget[]> {
  const srvName = assignment.srvName ?? '';
  if (srvName !== '') {
    const records = await resolveSrv(dns, srvName);
    // Node's resolver names the target `name`; RFC 2782 and the routing module call it `target`.
    const targets = records.map((record) => ({ priority: record.priority, weight: record.weight, port: record.port, target: record.name }));
    if (isSrvServiceUnavailable(targets)) throw new Error(`SRV record ${srvName} states that the service is not available (single target ".")`);
    return orderSrvTargets(targets, rng).map((record) => ({
      host: record.target,
      port: record.port,
      tlsName: record.target,
      reason: `srv priority ${record.priority} weight ${record.weight}`,
    }));
  }
  const host = assignment.host ?? '';
  if (host === '' || !assignment.port) return [];
  return [{ host, port: assignment.port, tlsName: assignment.tlsName || host }];
}
