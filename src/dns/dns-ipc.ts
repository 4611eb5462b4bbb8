import type { Logger } from '../logging/logger.js';
import { errorMessage } from '../util/errors.js';
import type { ChildMessage, ParentMessage } from '../util/ipc.js';
import type { DnsClaimEndpoint } from './claim-endpoint.js';
import type { ClusterDnsServer } from './server.js';
import type { ZoneDefinition } from './zone.js';

type RequestId = string | number;

/** Commands a parent sends to a DNS process over the IPC channel. */
export type DnsCommand =
  | { type: 'set-zone'; zone: ZoneDefinition; requestId?: RequestId }
  | { type: 'set-record'; hostname: string; addresses: string[]; view?: string; requestId?: RequestId };

/** Reply to a DnsCommand that carried a requestId. */
export type DnsAck = { type: 'ack'; requestId: RequestId; ok: true } | { type: 'ack'; requestId: RequestId; ok: false; error: string };

/**
 * Sent once the server listens. `info` repeats address and port in the shape
 * of the launcher's generic ready message.
 */
export interface DnsReadyMessage {
  type: 'ready';
  role: 'dns';
  name: string;
  address: string;
  port: number;
  pid: number;
  info: { address: string; port: number; claimPort?: number };
}

function send(message: DnsReadyMessage | DnsAck | ChildMessage): void {
  if (process.send === undefined || !process.connected) return;
  process.send(message);
}

export function sendReady(name: string, bound: { address: string; port: number }, claimPort?: number): void {
  const info = claimPort === undefined ? { ...bound } : { ...bound, claimPort };
  send({ type: 'ready', role: 'dns', name, address: bound.address, port: bound.port, pid: process.pid, info });
}

function applySetRecord(server: ClusterDnsServer, args: Record<string, unknown>): void {
  const { hostname, addresses, view } = args;
  if (typeof hostname !== 'string') throw new Error(`set-record: hostname: expected a string, got ${JSON.stringify(hostname)}`);
  if (!Array.isArray(addresses) || !addresses.every((address) => typeof address === 'string')) {
    throw new Error(`set-record: addresses: expected an array of IPv4 address strings, got ${JSON.stringify(addresses)}`);
  }
  if (view !== undefined && typeof view !== 'string') throw new Error(`set-record: view: expected a view name, got ${JSON.stringify(view)}`);
  server.setRecord(hostname, addresses, view);
}

/** Applies one command to the server and returns its result, or throws with the reason when the command is invalid. */
function applyCommand(server: ClusterDnsServer, command: string, args: Record<string, unknown>, claims?: DnsClaimEndpoint): unknown {
  if (command === 'set-zone') server.setZone(args.zone as ZoneDefinition);
  else if (command === 'set-record') applySetRecord(server, args);
  else if (command === 'claims') return claims?.records() ?? [];
  else throw new Error(`unknown command "${command}"; known: set-zone, set-record, claims`);
  return null;
}

function isRequestId(value: unknown): value is RequestId {
  return typeof value === 'string' || typeof value === 'number';
}

/**
 * Handles one message from the parent. Two shapes are accepted: the DNS
 * commands `{ type: 'set-zone' | 'set-record', ..., requestId? }`, answered
 * with `{ type: 'ack', requestId, ok }` when a requestId is given, and the
 * launcher's generic `{ type: 'request', requestId, command, args }`, answered
 * with `{ type: 'reply', requestId, ok, result }`; its `claims` command returns
 * the records of the DNS claim channel. Other messages are ignored.
 */
export function handleParentMessage(server: ClusterDnsServer, logger: Logger, message: unknown, claims?: DnsClaimEndpoint): void {
  if (typeof message !== 'object' || message === null) return;
  const fields = message as Record<string, unknown>;

  if (fields.type === 'request' && typeof fields.command === 'string') {
    const request = message as ParentMessage;
    try {
      const result = applyCommand(server, request.command, request.args ?? {}, claims);
      send({ type: 'reply', requestId: request.requestId, ok: true, result });
    } catch (error) {
      logger.warn({ command: request.command, err: errorMessage(error) }, 'parent request failed');
      send({ type: 'reply', requestId: request.requestId, ok: false, error: errorMessage(error) });
    }
    return;
  }

  if (fields.type !== 'set-zone' && fields.type !== 'set-record') return;
  const requestId = isRequestId(fields.requestId) ? fields.requestId : undefined;
  try {
    applyCommand(server, fields.type, fields);
    if (requestId !== undefined) send({ type: 'ack', requestId, ok: true });
  } catch (error) {
    logger.warn({ command: fields.type, err: errorMessage(error) }, 'parent command failed');
    if (requestId !== undefined) send({ type: 'ack', requestId, ok: false, error: errorMessage(error) });
  }
}
