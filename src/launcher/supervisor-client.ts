import { createConnection } from 'node:net';
import { errorMessage } from '../util/errors.js';
import type { SupervisorRequest } from './supervisor.js';

/** Time the supervisor gets to reply; a status request waits for every node's own reply. */
export const SUPERVISOR_REQUEST_TIMEOUT_MS = 20_000;

/** Sends one request to a supervisor's control socket and returns its result; throws with the reason on failure. */
export function requestSupervisor(socketPath: string, request: SupervisorRequest, timeoutMs = SUPERVISOR_REQUEST_TIMEOUT_MS): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffered = '';
    const fail = (reason: string): void => {
      socket.destroy();
      reject(new Error(`supervisor at ${socketPath}: ${reason}`));
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => fail(`no reply to ${request.command} within ${timeoutMs} ms`));
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
    });
    socket.on('error', (error) => fail(errorMessage(error)));
    socket.on('end', () => {
      let reply: { ok?: boolean; result?: unknown; error?: string };
      try {
        reply = JSON.parse(buffered) as typeof reply;
      } catch {
        fail(`reply is not JSON: ${buffered.slice(0, 200)}`);
        return;
      }
      if (reply.ok === true) resolve(reply.result);
      else fail(reply.error ?? 'request failed');
    });
  });
}
