import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ConfigError, errorMessage } from '../util/errors.js';
import { isLoopbackAddress } from './cidr.js';
import { Zone, type ZoneDefinition } from './zone.js';

/** Configuration file of one DNS server process (`atlas-sim dns --config FILE`), written by the launcher as JSON. */
export interface DnsProcessConfig {
  /** Process name, bound as `node` on every log line. */
  name: string;
  /** Loopback address for UDP and TCP. */
  address: string;
  /** Port for UDP and TCP. 0 picks a free one, which the ready message reports. */
  port: number;
  zone: ZoneDefinition;
  /** File for the JSON log lines, stdout when absent. */
  logFile?: string;
  /** DNS claim channel, where masters move the site hostname's record; absent without a backup master. */
  claim?: DnsClaimConfig;
}

/** Listener of the DNS claim channel (TLS WebSocket on the DNS server's address). */
export interface DnsClaimConfig {
  /** TCP port; 0 picks a free one, which the ready message reports. */
  port: number;
  /** File holding the inter-appliance pre-shared key that masters prove. */
  pskFile: string;
  /** Folder of the cluster CA and the wildcard certificate. */
  certsDir: string;
  /** Heartbeat of claim channels: a master silent for timeoutMs loses its hold on the record. */
  heartbeat: { intervalMs: number; timeoutMs: number };
}

const KNOWN_FIELDS = ['name', 'address', 'port', 'zone', 'logFile', 'claim'];

/** Validates a parsed configuration. Errors name the source, the field, the value and what was expected. */
export function parseDnsConfig(input: unknown, source: string): DnsProcessConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(`${source}: expected a JSON object with name, address, port and zone`);
  }
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KNOWN_FIELDS.includes(key)) throw new ConfigError(`${source}: unknown field "${key}"; expected ${KNOWN_FIELDS.join(', ')}`);
  }

  if (typeof raw.name !== 'string' || raw.name.trim() === '') {
    throw new ConfigError(`${source}: name: expected a non-empty string such as "dns1", got ${JSON.stringify(raw.name)}`);
  }
  if (typeof raw.address !== 'string' || isIP(raw.address) === 0 || !isLoopbackAddress(raw.address)) {
    throw new ConfigError(`${source}: address: expected a loopback IP address (127.0.0.0/8 or ::1), got ${JSON.stringify(raw.address)}`);
  }
  if (typeof raw.port !== 'number' || !Number.isInteger(raw.port) || raw.port < 0 || raw.port > 0xffff) {
    throw new ConfigError(`${source}: port: expected an integer from 0 to 65535, got ${JSON.stringify(raw.port)}`);
  }
  if (raw.logFile !== undefined && (typeof raw.logFile !== 'string' || raw.logFile === '')) {
    throw new ConfigError(`${source}: logFile: expected a file path, got ${JSON.stringify(raw.logFile)}`);
  }

  const claim = raw.claim === undefined ? undefined : parseClaimConfig(raw.claim, source);

  let zone: ZoneDefinition;
  try {
    zone = Zone.fromDefinition(raw.zone).toDefinition();
  } catch (error) {
    throw new ConfigError(`${source}: ${errorMessage(error)}`);
  }
  return {
    name: raw.name,
    address: raw.address,
    port: raw.port,
    zone,
    ...(raw.logFile === undefined ? {} : { logFile: raw.logFile }),
    ...(claim === undefined ? {} : { claim }),
  };
}

function parseClaimConfig(value: unknown, source: string): DnsClaimConfig {
  const claim = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<keyof DnsClaimConfig, unknown>>;
  const { port, pskFile, certsDir, heartbeat } = claim;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new ConfigError(`${source}: claim.port: expected an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  for (const [field, text] of [['pskFile', pskFile], ['certsDir', certsDir]] as const) {
    if (typeof text !== 'string' || text === '') throw new ConfigError(`${source}: claim.${field}: expected a path, got ${JSON.stringify(text)}`);
  }
  const beat = (typeof heartbeat === 'object' && heartbeat !== null ? heartbeat : {}) as { intervalMs?: unknown; timeoutMs?: unknown };
  if (typeof beat.intervalMs !== 'number' || typeof beat.timeoutMs !== 'number' || !(beat.intervalMs > 0) || !(beat.timeoutMs > beat.intervalMs)) {
    throw new ConfigError(`${source}: claim.heartbeat: expected { intervalMs, timeoutMs } with 0 < intervalMs < timeoutMs, got ${JSON.stringify(heartbeat)}`);
  }
  return { port, pskFile: pskFile as string, certsDir: certsDir as string, heartbeat: { intervalMs: beat.intervalMs, timeoutMs: beat.timeoutMs } };
}

/** Reads and validates a DNS process configuration file. */
export async function loadDnsConfig(file: string): Promise<DnsProcessConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the DNS configuration file ${file}: ${errorMessage(error)}`);
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file}: invalid JSON: ${errorMessage(error)}`);
  }
  return parseDnsConfig(parsed, file);
}
