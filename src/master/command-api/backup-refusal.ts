import type { IncomingMessage, ServerResponse } from 'node:http';
import { renderXml } from '../../util/xml.js';
import { COMMAND_PATH, HEALTH_PATH } from './command-api.js';
import { errorXml } from './command-xml.js';
import { sendResponse, wantsJson } from './http-io.js';
import { TOKEN_PATH } from './oauth-token.js';

/** HTTP status of every command API request a backup master rejects: the request conflicts with its role. */
export const NOT_PRIMARY_STATUS = 409;
/** OAuth error code of a token request sent to a backup master (an extension code, RFC 6749 section 8.5). */
export const NOT_PRIMARY_OAUTH_ERROR = 'not_primary';

/**
 * Rejects a request for a command API path with 409 and `message`, in the
 * format that path uses: OAuth JSON for the token endpoint, XML (or JSON
 * when requested) for `/api/command`, plain text for the health probe.
 * Returns false, and sends nothing, for any other path.
 */
export function rejectCommandApiRequest(request: IncomingMessage, response: ServerResponse, message: string): boolean {
  const path = new URL(request.url ?? '/', 'https://localhost').pathname;
  if (path === TOKEN_PATH) {
    sendResponse(response, NOT_PRIMARY_STATUS, 'application/json', JSON.stringify({ error: NOT_PRIMARY_OAUTH_ERROR, error_description: message }), { pragma: 'no-cache' });
    return true;
  }
  if (path === COMMAND_PATH) {
    if (wantsJson(request)) sendResponse(response, NOT_PRIMARY_STATUS, 'application/json', `${JSON.stringify({ error: message }, null, 2)}\n`);
    else sendResponse(response, NOT_PRIMARY_STATUS, 'text/xml; charset=UTF-8', renderXml(errorXml(message)));
    return true;
  }
  if (path === HEALTH_PATH) {
    sendResponse(response, NOT_PRIMARY_STATUS, 'text/plain; charset=UTF-8', `${message}\n`);
    return true;
  }
  return false;
}
