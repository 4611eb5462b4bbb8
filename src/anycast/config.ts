import { readFile } from 'node:fs/promises';

import { isLoopback } from '../config/node-config.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { parseRouteTable, type RouteTable } from './route-table.js';

/** Contents of the file given to `atlas-sim anycast --config FILE`. */
export interface AnycastProcessConfig {
  /** Process name, bound as `node` on every log line. */
  name: string;
  /** The shared anycast address. */
  address: string;
  /** TCP port; 0 picks a free port, reported in the ready message. */
  port: number;
  table: RouteTable;
  logFile?: string;
}

const TOP_LEVEL_FIELDS = ['name', 'address', 'port', 'routes', 'default', 'logFile'];

/** Reads and validates an anycast configuration file. Throws ConfigError naming the file and the invalid field. */
export async function loadAnycastConfig(file: string): Promise<AnycastProcessConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read anycast config ${file}: ${errorMessage(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`anycast config ${file} is not valid JSON: ${errorMessage(error)}`);
  }
  try {
    return parseAnycastConfig(json);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`anycast config ${file}: ${error.message}`);
    throw error;
  }
}

/** Validates parsed JSON of an anycast configuration. Throws ConfigError (RouteTableError for routes) naming the field. */
export function parseAnycastConfig(json: unknown): AnycastProcessConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError('expected a JSON object { name, address, port, routes, default, logFile? }');
  }
  const config = json as Record<string, unknown>;
  for (const key of Object.keys(config)) {
    if (!TOP_LEVEL_FIELDS.includes(key)) throw new ConfigError(`field "${key}" is unknown; expected only ${TOP_LEVEL_FIELDS.join(', ')}`);
  }
  const { name, address, port, logFile } = config;
  if (typeof name !== 'string' || name.trim() === '') {
    throw new ConfigError(`name is ${JSON.stringify(name) ?? 'missing'}; expected the process name, such as "anycast"`);
  }
  if (!isLoopback(address)) {
    throw new ConfigError(`address is ${JSON.stringify(address) ?? 'missing'}; expected the anycast IP address, a loopback address in 127.0.0.0/8 or ::1`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`port is ${JSON.stringify(port) ?? 'missing'}; expected an integer 0-65535 (0 picks a free port)`);
  }
  if (logFile !== undefined && (typeof logFile !== 'string' || logFile === '')) {
    throw new ConfigError(`logFile is ${JSON.stringify(logFile)}; expected a file path, or no logFile to log to stdout`);
  }
  const table = parseRouteTable(config.routes, config.default);
  return { name, address, port, table, ...(logFile === undefined ? {} : { logFile }) };
}
