import type { RequestHandlers } from '../util/ipc.js';
import type { Client } from './client.js';

/** Time `wait-session` and `wait-streams` wait when the request names none. */
export const DEFAULT_IPC_WAIT_MS = 30_000;

/**
 * Commands the launcher sends a forked client over IPC. Each returns a plain
 * JSON value or throws an Error whose message goes back to the launcher.
 */
export function createClientRequestHandlers(client: Client): RequestHandlers {
  return {
    status: () => client.status(),
    stats: () => client.stats(),
    queue: () => ({ entries: client.queue }),
    'request-support': (args) => client.requestSupport(requireString(args.issue, 'issue', 'request-support')),
    accept: (args) => client.accept(optionalString(args.customerClientId, 'customerClientId', 'accept'), optionalTimeout(args.timeoutMs, 'accept')),
    'show-my-screen': () => client.showMyScreen(),
    'end-session': (args) => client.endSession(optionalString(args.reason, 'reason', 'end-session')),
    'wait-session': (args) => client.waitSession(optionalTimeout(args.timeoutMs, 'wait-session') ?? DEFAULT_IPC_WAIT_MS),
    'wait-streams': (args) => client.waitStreams(optionalTimeout(args.timeoutMs, 'wait-streams') ?? DEFAULT_IPC_WAIT_MS),
  };
}

function requireString(value: unknown, field: string, command: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new Error(`${command}: ${field} is ${JSON.stringify(value)}; expected a non-empty string`);
  return value;
}

function optionalString(value: unknown, field: string, command: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  return requireString(value, field, command);
}

function optionalTimeout(value: unknown, command: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`${command}: timeoutMs is ${JSON.stringify(value)}; expected a positive number of milliseconds`);
  return value;
}
