import { ConfigError } from '../util/errors.js';

/** Cluster-wide methods for choosing a traffic node when no prefix matches the client. */
export type Method = 'random' | 'timezone' | 'srv' | 'a-record' | 'anycast';

/** Methods in which the client resolves its node itself (DNS or the network), so the master does not pick. */
export type DelegatedMethod = 'srv' | 'a-record' | 'anycast';

export const METHODS: readonly Method[] = Object.freeze(['random', 'timezone', 'srv', 'a-record', 'anycast']);

/** Parses a method name. Throws ConfigError listing the allowed names. */
export function parseMethod(value: string): Method {
  const method = METHODS.find((candidate) => candidate === value);
  if (method === undefined) {
    throw new ConfigError(`method ${JSON.stringify(value)} is invalid; expected one of ${METHODS.join(', ')}`);
  }
  return method;
}

export function isDelegatedMethod(method: Method): method is DelegatedMethod {
  return method === 'srv' || method === 'a-record' || method === 'anycast';
}
