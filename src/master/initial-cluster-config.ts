import { SITE_HOSTNAME } from '../config/constants.js';
import type { NodeProcessConfig } from '../config/node-config.js';
import { SECRET_KEY_BYTES, readSecretFile } from '../config/secret-file.js';
import type { IClusterConfig, IClusterMember } from '../protocol/messages.js';
import { parseMethod } from '../routing/index.js';
import { ConfigError } from '../util/errors.js';

/** Length of the cluster session key that signs session tickets. */
export const SESSION_KEY_BYTES = SECRET_KEY_BYTES;
/** Version of the configuration a master builds on first start. */
export const INITIAL_CONFIG_VERSION = 1;

/** Reads the cluster session key from its hex key file and checks its length; errors never show the key. */
export async function readSessionKey(file: string): Promise<Buffer> {
  const key = await readSecretFile(file, 'cluster.sessionKeyFile');
  if (key.length !== SESSION_KEY_BYTES) {
    throw new ConfigError(`cluster.sessionKeyFile: key file ${file} contains a ${key.length}-byte key; expected ${SESSION_KEY_BYTES} bytes (${SESSION_KEY_BYTES * 2} hex digits)`);
  }
  return key;
}

/**
 * Builds the configuration a master starts with when its data folder has
 * none: this master as the primary, then every traffic node of the seed.
 * Traffic node GUIDs stay empty until the admin interface records them.
 */
export function buildInitialConfig(config: NodeProcessConfig, guid: string, sessionKey: Uint8Array): IClusterConfig {
  const seed = config.cluster;
  if (seed === undefined) throw new ConfigError(`node ${config.name}: cluster is missing; a master needs the cluster seed to build its first configuration`);
  const method = parseMethod(seed.method);

  const primary: IClusterMember = {
    name: config.name,
    applianceGuid: guid,
    role: 'primary',
    publicHost: config.public.host,
    publicPort: config.public.port,
    internalHost: config.internal.host,
    internalPort: config.internal.port,
    model: config.model,
    accepting: false,
    prefixes: [],
    timezone: '',
  };
  const traffic = seed.trafficNodes.map((node): IClusterMember => ({
    name: node.name,
    applianceGuid: '',
    role: 'traffic',
    publicHost: node.public.host,
    publicPort: node.public.port,
    internalHost: node.internal.host,
    internalPort: node.internal.port,
    model: node.model,
    accepting: node.accepting,
    prefixes: node.prefixes,
    timezone: node.timezone,
    srvPriority: node.srvPriority,
    srvWeight: node.srvWeight,
  }));

  return {
    version: INITIAL_CONFIG_VERSION,
    clusterName: seed.clusterName,
    method,
    sessionKey,
    members: [primary, ...traffic],
    siteHostname: SITE_HOSTNAME,
    methodOptionsJson: '',
    p2pEnabled: false,
    stunServer: '',
  };
}
