import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ConfigError, errorMessage } from '../util/errors.js';
import { isNatType, NAT_TYPES, type ClientNetworkSettings } from './peer-to-peer.js';
import { describeNodeRangeAddress } from './topology.js';

export type ClientRole = 'customer' | 'representative';

/** Synthetic screen stream a client publishes. */
export interface FrameSettings {
  /** Frames per stream. */
  count: number;
  /** Payload bytes per frame. */
  sizeBytes: number;
  /** Pause between two frames in ms; 0 sends as fast as the socket drains. */
  intervalMs: number;
}

/** Actions a client takes by itself, so scripted clusters run without commands. */
export interface AutoActions {
  /** Customer: send a support request as soon as the master welcomes the client. */
  requestSupport?: boolean;
  /** Customer: issue text of that request. */
  issue?: string;
  /** Representative: accept the oldest waiting customer whenever the queue is not empty and no session runs. */
  accept?: boolean;
  /** Representative: start Show My Screen as soon as a session starts. */
  showMyScreen?: boolean;
}

/** Everything a customer client or representative console process needs, as the launcher writes it. */
export interface ClientProcessConfig {
  role: ClientRole;
  /** Process name used in logs and launcher reports. */
  name: string;
  /** Name shown to the other side (the support queue, the session peer). */
  displayName: string;
  /** Source IP every connection binds, in 127.0.0.0/8, so servers see this client's own address. */
  address: string;
  /** Site hostname and the master's control-channel port. */
  site: { host: string; port: number };
  /** Cluster DNS server every hostname is resolved through. */
  dns: { address: string; port: number };
  certsDir: string;
  logFile?: string;
  heartbeat: { intervalMs: number; timeoutMs: number };
  frames: FrameSettings;
  auto: AutoActions;
  /** Customer: session key from the session generation API, sent in ClientHello. */
  sessionKey?: string;
  /** Seed of the client's random choices (the order of SRV targets of equal priority); random when absent. */
  seed?: string;
  /** NAT type and firewall in front of the client; no NAT and no firewall when absent. */
  network?: ClientNetworkSettings;
}

/** Largest frame payload: a StreamFrame envelope must stay under the 1 MiB message limit. */
export const MAX_FRAME_SIZE_BYTES = 1024 * 1024 - 1024;
/** Defaults for a client started by hand: about three seconds of 30 frames per second. */
export const DEFAULT_FRAME_COUNT = 100;
export const DEFAULT_FRAME_SIZE_BYTES = 16 * 1024;
export const DEFAULT_FRAME_INTERVAL_MS = 33;

/** Reads and validates a client configuration file, naming the file and field on error. */
export async function loadClientConfig(file: string): Promise<ClientProcessConfig> {
  return validateClientConfig(await readClientConfigFile(file), file);
}

/** Reads a client configuration file without validating its fields, for callers that merge flags into it first. */
export async function readClientConfigFile(file: string): Promise<Partial<ClientProcessConfig>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read client config ${file}: ${errorMessage(error)}; pass a JSON file written by the launcher`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`client config ${file} is ${JSON.stringify(parsed)}; expected a JSON object`);
  }
  return parsed;
}

type Fail = (field: string, value: unknown, expected: string) => never;

/**
 * Checks every field of a client configuration and returns it typed. Throws a
 * ConfigError naming the source, the field, the value and what is expected.
 */
export function validateClientConfig(value: unknown, source: string): ClientProcessConfig {
  const fail: Fail = (field, actual, expected) => {
    throw new ConfigError(`${source}: ${field} is ${describe(actual)}; expected ${expected}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('(root)', value, 'a JSON object');
  const config = value as ClientProcessConfig;

  if (config.role !== 'customer' && config.role !== 'representative') fail('role', config.role, '"customer" or "representative"');
  checkText(config.name, 'name', fail);
  checkText(config.displayName, 'displayName', fail);
  if (!isIpv4Loopback(config.address)) fail('address', config.address, 'an IPv4 address in 127.0.0.0/8 such as 127.30.0.10, which the client binds as its source address');
  const nodeRange = describeNodeRangeAddress(config.address);
  if (nodeRange !== undefined) throw new ConfigError(`${source}: address ${describe(config.address)} ${nodeRange}`);
  checkSite(config.site, fail);
  if (!isIpv4Loopback(config.dns?.address)) fail('dns.address', config.dns?.address, 'the cluster DNS server address, in 127.0.0.0/8');
  checkPort(config.dns?.port, 'dns.port', fail);
  checkText(config.certsDir, 'certsDir', fail);
  if (config.logFile !== undefined) checkText(config.logFile, 'logFile', fail);
  checkHeartbeat(config.heartbeat, fail);
  checkFrames(config.frames, fail);
  checkAuto(config, fail);
  if (config.sessionKey !== undefined) {
    if (config.role !== 'customer') fail('sessionKey', '(set)', 'no session key for a representative; only customers present one');
    checkText(config.sessionKey, 'sessionKey', fail);
  }
  if (config.seed !== undefined) checkText(config.seed, 'seed', fail);
  if (config.network !== undefined) checkNetwork(config.network, fail);
  return config;
}

function checkSite(site: ClientProcessConfig['site'] | undefined, fail: Fail): void {
  if (typeof site?.host !== 'string' || site.host.length === 0 || isIP(site.host) !== 0) {
    fail('site.host', site?.host, 'the site hostname such as "support.example.test", not an IP address');
  }
  checkPort(site?.port, 'site.port', fail);
}

function checkHeartbeat(heartbeat: ClientProcessConfig['heartbeat'] | undefined, fail: Fail): void {
  checkInteger(heartbeat?.intervalMs, 'heartbeat.intervalMs', 1, fail);
  checkInteger(heartbeat?.timeoutMs, 'heartbeat.timeoutMs', 1, fail);
  if (heartbeat!.timeoutMs <= heartbeat!.intervalMs) {
    fail('heartbeat.timeoutMs', heartbeat!.timeoutMs, `a value above heartbeat.intervalMs (${heartbeat!.intervalMs}), or the peer is dropped between two pings`);
  }
}

function checkFrames(frames: FrameSettings | undefined, fail: Fail): void {
  checkInteger(frames?.count, 'frames.count', 0, fail);
  checkInteger(frames?.sizeBytes, 'frames.sizeBytes', 1, fail);
  if (frames!.sizeBytes > MAX_FRAME_SIZE_BYTES) fail('frames.sizeBytes', frames!.sizeBytes, `at most ${MAX_FRAME_SIZE_BYTES} bytes, so a frame fits the 1 MiB message limit`);
  checkInteger(frames?.intervalMs, 'frames.intervalMs', 0, fail);
}

function checkAuto(config: ClientProcessConfig, fail: Fail): void {
  const auto = config.auto;
  if (typeof auto !== 'object' || auto === null) fail('auto', auto, 'an object such as {} or {"accept": true}');
  for (const field of ['requestSupport', 'accept', 'showMyScreen'] as const) {
    if (auto[field] !== undefined && typeof auto[field] !== 'boolean') fail(`auto.${field}`, auto[field], 'true or false');
  }
  if (auto.issue !== undefined && typeof auto.issue !== 'string') fail('auto.issue', auto.issue, 'a string');
  if (config.role === 'customer' && (auto.accept === true || auto.showMyScreen === true)) {
    fail(auto.accept === true ? 'auto.accept' : 'auto.showMyScreen', true, 'false for a customer; only representatives accept requests and show their screen');
  }
  if (config.role === 'representative' && auto.requestSupport === true) {
    fail('auto.requestSupport', true, 'false for a representative; only customers request support');
  }
}

function checkNetwork(network: ClientNetworkSettings, fail: Fail): void {
  if (typeof network !== 'object' || network === null) fail('network', network, 'an object such as {"natType": "open", "blockInbound": false}');
  if (!isNatType(network.natType)) fail('network.natType', network.natType, `one of ${NAT_TYPES.join(', ')}`);
  if (typeof network.blockInbound !== 'boolean') fail('network.blockInbound', network.blockInbound, 'true or false');
}

function checkText(value: unknown, field: string, fail: Fail): void {
  if (typeof value !== 'string' || value.trim().length === 0) fail(field, value, 'a non-empty string');
}

function checkPort(value: unknown, field: string, fail: Fail): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 65535) fail(field, value, 'a port number from 1 to 65535');
}

function checkInteger(value: unknown, field: string, min: number, fail: Fail): void {
  if (!Number.isSafeInteger(value) || (value as number) < min) fail(field, value, `an integer of at least ${min}`);
}

/** True for IPv4 addresses in 127.0.0.0/8. */
export function isIpv4Loopback(value: unknown): value is string {
  return typeof value === 'string' && isIP(value) === 4 && value.startsWith('127.');
}

function describe(value: unknown): string {
  return value === undefined ? 'missing' : JSON.stringify(value);
}
