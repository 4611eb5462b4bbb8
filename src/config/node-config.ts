import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ConfigError } from '../util/errors.js';
import { MODELS, type Model } from './constants.js';
import { delegationProblem, type DelegationConfig } from './delegation-config.js';

/** One listening endpoint: the hostname clients dial, the loopback IP bound and the port. */
export interface Endpoint {
  host: string;
  address: string;
  port: number;
  /**
   * Port the process itself binds when a fault layer proxy listens on `port`
   * in its place and forwards to this one; `port` when absent.
   */
  listenPort?: number;
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

/** A master's side of a failover pair. */
export interface MasterFailoverConfig {
  /** Role on the first start; afterwards the role stored in the data folder counts. */
  initialRole: 'primary' | 'backup';
  /** The other master of the pair: its name, its internal address (where a primary replicates to it) and its public address. */
  peer: { name: string; public: Endpoint; internal: Endpoint };
  /** Claim listener of the cluster DNS process, where the primary holds the site hostname. */
  dnsClaim: { address: string; port: number };
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
  /** Master of a failover pair only; a master without it has no backup. */
  failover?: MasterFailoverConfig;
  /** Master only: names and addresses for the SRV, A record and anycast methods; without it those methods cannot start sessions. */
  delegation?: DelegationConfig;
  /**
   * Master only: UDP port of its STUN role on the public address (0 picks a
   * free port). The master serves STUN there while the synced configuration
   * has peer to peer enabled with STUN role "master".
   */
  stun?: { port: number };
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
  if (config.failover !== undefined) validateFailover(config.failover, fail);
  if (config.delegation !== undefined) {
    const problem = delegationProblem(config.delegation);
    if (problem !== undefined) fail(problem.field, problem.problem);
    if (config.delegation.anycast !== undefined && !isLoopback(config.delegation.anycast.address)) fail('delegation.anycast.address', `is ${JSON.stringify(config.delegation.anycast.address)}; expected a loopback IP`);
  }
  if (config.stun !== undefined && (!Number.isInteger(config.stun.port) || config.stun.port < 0 || config.stun.port > 65535)) {
    fail('stun.port', `is ${JSON.stringify(config.stun.port)}; expected 0-65535 (0 picks a free port)`);
  }
  return config;
}

function validateFailover(failover: MasterFailoverConfig, fail: (field: string, problem: string) => never): void {
  if (failover.initialRole !== 'primary' && failover.initialRole !== 'backup') fail('failover.initialRole', `is ${JSON.stringify(failover.initialRole)}; expected "primary" or "backup"`);
  if (typeof failover.peer?.name !== 'string' || failover.peer.name === '') fail('failover.peer.name', `is ${JSON.stringify(failover.peer?.name)}; expected the other master's name`);
  validateEndpoint(failover.peer.public, 'failover.peer.public', fail);
  validateEndpoint(failover.peer.internal, 'failover.peer.internal', fail);
  if (!isLoopback(failover.dnsClaim?.address)) fail('failover.dnsClaim.address', `is ${JSON.stringify(failover.dnsClaim?.address)}; expected the DNS server's loopback IP`);
  if (!Number.isInteger(failover.dnsClaim.port) || failover.dnsClaim.port < 1 || failover.dnsClaim.port > 65535) fail('failover.dnsClaim.port', `is ${JSON.stringify(failover.dnsClaim.port)}; expected 1-65535`);
}

function validateEndpoint(endpoint: Endpoint | undefined, field: string, fail: (field: string, problem: string) => never): void {
  if (endpoint === undefined) fail(field, 'is missing');
  if (typeof endpoint?.host !== 'string' || isIP(endpoint.host) !== 0) fail(`${field}.host`, `is ${JSON.stringify(endpoint?.host)}; expected a hostname, not an IP address`);
  if (!isLoopback(endpoint?.address)) fail(`${field}.address`, `is ${JSON.stringify(endpoint?.address)}; expected an address in 127.0.0.0/8`);
  if (!Number.isInteger(endpoint?.port) || (endpoint?.port ?? 0) < 1 || (endpoint?.port ?? 0) > 65535) fail(`${field}.port`, `is ${JSON.stringify(endpoint?.port)}; expected 1-65535`);
  const listenPort = endpoint?.listenPort;
  if (listenPort !== undefined && (!Number.isInteger(listenPort) || listenPort < 1 || listenPort > 65535 || listenPort === endpoint?.port)) {
    fail(`${field}.listenPort`, `is ${JSON.stringify(listenPort)}; expected 1-65535 and not ${field}.port, or no listenPort to bind ${field}.port itself`);
  }
}

/** Port a process binds for an endpoint: the hidden port behind the fault layer, else the advertised one. */
export function bindPort(endpoint: Endpoint): number {
  return endpoint.listenPort ?? endpoint.port;
}

/** True for IPv4 loopback addresses (127.0.0.0/8) and ::1. */
export function isLoopback(address: unknown): address is string {
  return typeof address === 'string' && ((isIP(address) === 4 && address.startsWith('127.')) || address === '::1');
}
