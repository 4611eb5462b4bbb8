import { isLoopback } from '../config/node-config.js';
import { ConfigError } from '../util/errors.js';
import { normalizeIp, type SocketAddress } from './address.js';

/** Seed of the loss and jitter draws when a proxy's options give none. */
export const DEFAULT_FAULT_SEED = 'netfault';

/** Options that the TCP and UDP proxies share. */
export interface ProxyEndpointOptions {
  listen: SocketAddress;
  target?: SocketAddress;
  resolveTarget?: (clientIp: string) => SocketAddress;
}

/**
 * Checks the listen address, the port and the target choice. `label` names the
 * proxy in messages ("TCP proxy"). Throws ConfigError naming the field.
 */
export function validateProxyOptions(label: string, options: ProxyEndpointOptions): void {
  if (!isLoopback(options.listen.address)) {
    throw new ConfigError(`${label} listen.address is ${JSON.stringify(options.listen.address)}; expected a loopback address in 127.0.0.0/8 or ::1`);
  }
  if (!Number.isInteger(options.listen.port) || options.listen.port < 0 || options.listen.port > 65535) {
    throw new ConfigError(`${label} listen.port is ${JSON.stringify(options.listen.port)}; expected an integer 0-65535 (0 picks a free port)`);
  }
  if ((options.target === undefined) === (options.resolveTarget === undefined)) {
    throw new ConfigError(`${label} options need exactly one of target and resolveTarget`);
  }
  if (options.target !== undefined) checkTarget(options.target);
}

/**
 * Returns the upstream of a client: the fixed target or resolveTarget's choice.
 * Throws when the choice is not a loopback address, because atlas-sim sends
 * traffic only to loopback.
 */
export function chooseTarget(options: ProxyEndpointOptions, clientIp: string): SocketAddress {
  const target = options.target ?? options.resolveTarget?.(clientIp);
  if (target === undefined) throw new ConfigError('the proxy has neither target nor resolveTarget');
  checkTarget(target);
  return target;
}

function checkTarget(target: SocketAddress): void {
  let address: string;
  try {
    address = normalizeIp(target.address);
  } catch {
    address = target.address;
  }
  if (!isLoopback(address)) {
    throw new ConfigError(`target address ${JSON.stringify(target.address)} is not a loopback address; atlas-sim sends traffic only to 127.0.0.0/8 or ::1`);
  }
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new ConfigError(`target port ${JSON.stringify(target.port)} is invalid; expected an integer 1-65535`);
  }
}
