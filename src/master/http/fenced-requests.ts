import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../logging/logger.js';
import { errorMessage } from '../../util/errors.js';
import { NOT_PRIMARY_STATUS, rejectCommandApiRequest } from '../command-api/backup-refusal.js';
import { sendResponse } from '../command-api/http-io.js';

export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Wraps the primary's HTTPS handler so that every request first passes
 * `fence`, which throws while this master may not act as the primary (it
 * woke from a pause and the DNS server has not yet confirmed its claim). A
 * rejected request gets 409 with the reason, in the format of its path, so
 * callers move on to the other master as they do for a backup.
 */
export function fenceRequests(fence: (() => void) | undefined, logger: Logger, handle: RequestHandler): RequestHandler {
  if (fence === undefined) return handle;
  return (request, response) => {
    try {
      fence();
    } catch (error) {
      const message = errorMessage(error);
      const path = new URL(request.url ?? '/', 'https://localhost').pathname;
      logger.warn({ method: request.method, path, reason: message }, 'HTTPS request rejected while this master may not act as the primary');
      if (!rejectCommandApiRequest(request, response, message)) sendResponse(response, NOT_PRIMARY_STATUS, 'application/json', `${JSON.stringify({ error: message })}\n`);
      return;
    }
    handle(request, response);
  };
}
