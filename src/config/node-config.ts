import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ConfigError } from '../util/errors.js';
import { MODELS, type Model } from './constants.js';

/** One listening endpoint: the hostname clients dial, the loopback IP bound and the port. */
export interface Endpoint {
  host: string;
  address: string;
  port: number;
}

/** The admin account of an appliance's admin HTTPS API. */
export interface AdminAccountConfig {
  username: string;
  /** File holding the scrypt hash of the password (mode 0600); the password itself is never in a node config. */
  passwordHashFile: string;
}

/** Settings only a master has. Its cluster configuration comes from the admin API and its data folder. */
export interface MasterSettings {
  /** Seed of every random choice the master makes. */
  seed: string;
  /** Hex-encoded 32-byte key that signs session tickets once the cluster is created; a random key when absent. */
  sessionKeyFile?: string;
}

/** An API account the master starts with: OAuth client id and the scrypt hash of its secret, never the secret. */
export interface ApiAccountSeed {
  name: string;
  clientId: string;
  /** `scrypt$N$r$p$salt$key`, as hashSecret() in src/util/scrypt-hash.ts makes it. */
  secretHash: string;
  /** Command API permission: `read_only` reads, `full` also changes state. */
  commandApi: 'read_only' | 'full';
}

/** Everything one appliance process (master or traffic node) needs, written by the launcher as JSON. */
export interface NodeProcessConfig {
  role: 'master' | 'traffic';
  name: string;
  model: Model;
  public: Endpoint;
  internal: Endpoint;
  /** Cluster DNS server every hostname is resolved through. */
  dns: { address: string; port: number };
  certsDir: string;
  dataDir: string;
  logFile?: string;
  /** File holding the inter-appliance pre-shared key (mode 0600); the key never appears in configs or logs. */
  pskFile: string;
  heartbeat: { intervalMs: number; timeoutMs: number };
  /** Account of the admin API; without one every admin request gets 401. */
  admin?: AdminAccountConfig;
  /** Master only. */
  master?: MasterSettings;
  /** Master only: API accounts added to the ones its data folder stores. */
  apiAccounts?: ApiAccountSeed[];
}

/** Reads and validates a node configuration file, naming the file and field on error. */
export async function loadNodeConfig(file: string): Promise<NodeProcessConfig> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read node config ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return validateNodeConfig(parsed, file);
}

export function validateNodeConfig(value: unknown, source: string): NodeProcessConfig {
  const config = value as NodeProcessConfig;
  const fail = (field: string, problem: string): never => {
    throw new ConfigError(`${source}: ${field} ${problem}`);
  };
  if (typeof value !== 'object' || value === null) fail('(root)', 'must be a JSON object');
  if (config.role !== 'master' && config.role !== 'traffic') fail('role', `is ${JSON.stringify(config.role)}; expected "master" or "traffic"`);
  if (typeof config.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(config.name)) fail('name', `is ${JSON.stringify(config.name)}; expected a lowercase DNS label such as "us-traffic1"`);
  if (!MODELS.includes(config.model)) fail('model', `is ${JSON.stringify(config.model)}; expected one of ${MODELS.join(', ')}`);
  validateEndpoint(config.public, 'public', fail);
  validateEndpoint(config.internal, 'internal', fail);
  if (!isLoopback(config.dns?.address)) fail('dns.address', `is ${JSON.stringify(config.dns?.address)}; expected a loopback IP`);
  for (const field of ['certsDir', 'dataDir', 'pskFile'] as const) {
    if (typeof config[field] !== 'string' || config[field].length === 0) fail(field, 'is missing');
  }
  if (!(config.heartbeat?.intervalMs > 0) || !(config.heartbeat?.timeoutMs > config.heartbeat?.intervalMs)) {
    fail('heartbeat', 'needs intervalMs > 0 and timeoutMs > intervalMs');
  }
  if (config.admin !== undefined && (typeof config.admin.username !== 'string' || config.admin.username === '' || typeof config.admin.passwordHashFile !== 'string' || config.admin.passwordHashFile === '')) {
    fail('admin', 'needs a non-empty username and passwordHashFile');
  }
  if (config.role === 'master' && typeof config.master?.seed !== 'string') fail('master.seed', 'is required for a master');
  return config;
}

function validateEndpoint(endpoint: Endpoint | undefined, field: string, fail: (field: string, problem: string) => never): void {
  if (endpoint === undefined) fail(field, 'is missing');
  if (typeof endpoint?.host !== 'string' || isIP(endpoint.host) !== 0) fail(`${field}.host`, `is ${JSON.stringify(endpoint?.host)}; expected a hostname, not an IP address`);
  if (!isLoopback(endpoint?.address)) fail(`${field}.address`, `is ${JSON.stringify(endpoint?.address)}; expected an address in 127.0.0.0/8`);
  if (!Number.isInteger(endpoint?.port) || (endpoint?.port ?? 0) < 1 || (endpoint?.port ?? 0) > 65535) fail(`${field}.port`, `is ${JSON.stringify(endpoint?.port)}; expected 1-65535`);
}

/** True for IPv4 loopback addresses (127.0.0.0/8) and ::1. */
export function isLoopback(address: unknown): address is string {
  return typeof address === 'string' && ((isIP(address) === 4 && address.startsWith('127.')) || address === '::1');
}
