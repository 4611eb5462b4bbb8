import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../logging/logger.js';
import { errorMessage } from '../../util/errors.js';
import type { AccessTokenStore } from './access-tokens.js';
import type { ApiAccountStore } from './api-accounts.js';
import { HttpError, readParameters, sendResponse } from './http-io.js';

/** Path of the OAuth 2.0 token endpoint (client credentials grant, RFC 6749 section 4.4). */
export const TOKEN_PATH = '/oauth2/token';
export const AUTH_REALM = 'atlas-sim';

export interface TokenEndpointDeps {
  logger: Logger;
  accounts: ApiAccountStore;
  tokens: AccessTokenStore;
}

interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/**
 * Serves POST /oauth2/token: checks the client id and secret (HTTP Basic,
 * or client_id and client_secret in the form body) and returns a bearer
 * token as JSON. Errors use the RFC 6749 section 5.2 codes.
 */
export async function handleTokenRequest(deps: TokenEndpointDeps, request: IncomingMessage, url: URL, response: ServerResponse): Promise<void> {
  try {
    if (request.method !== 'POST') throw new OAuthError(405, 'invalid_request', `method ${request.method ?? ''} is not allowed; send POST with grant_type=client_credentials`, { allow: 'POST' });
    const parameters = await readOAuthParameters(request, url);
    const grantType = parameters.get('grant_type');
    if (grantType === null) throw new OAuthError(400, 'invalid_request', 'grant_type is missing; send grant_type=client_credentials');
    if (grantType !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type', `grant_type is ${JSON.stringify(grantType)}; only client_credentials is supported`);

    const credentials = readCredentials(request, parameters);
    const account = await deps.accounts.verify(credentials.clientId, credentials.clientSecret);
    if (account === undefined) {
      deps.logger.warn({ clientId: credentials.clientId.slice(0, 128), peer: request.socket.remoteAddress }, 'token request rejected: unknown client id or wrong secret');
      throw new OAuthError(401, 'invalid_client', 'client authentication failed; check the client id and secret in the run folder api-account.json', { 'www-authenticate': `Basic realm="${AUTH_REALM}"` });
    }

    const issued = deps.tokens.issue(account.clientId);
    deps.logger.info({ clientId: account.clientId, account: account.name, expiresInSeconds: issued.expiresInSeconds }, 'access token issued');
    const body = JSON.stringify({ access_token: issued.accessToken, token_type: 'Bearer', expires_in: issued.expiresInSeconds });
    sendResponse(response, 200, 'application/json', body, { pragma: 'no-cache' });
  } catch (error) {
    const failure = toOAuthError(error);
    if (failure.status >= 500) deps.logger.error({ err: errorMessage(error) }, 'token request failed');
    sendResponse(response, failure.status, 'application/json', JSON.stringify({ error: failure.code, error_description: failure.message }), failure.headers);
  }
}

class OAuthError extends HttpError {
  constructor(status: number, readonly code: string, message: string, headers: Record<string, string> = {}) {
    super(status, message, headers);
  }
}

function toOAuthError(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error;
  if (error instanceof HttpError) return new OAuthError(error.status, 'invalid_request', error.message);
  return new OAuthError(500, 'server_error', 'the token endpoint failed; see the master log');
}

async function readOAuthParameters(request: IncomingMessage, url: URL): Promise<URLSearchParams> {
  try {
    return await readParameters(request, url);
  } catch (error) {
    if (error instanceof HttpError) throw new OAuthError(error.status, 'invalid_request', error.message);
    throw error;
  }
}

/** Takes the client credentials from HTTP Basic or from the form body, never both (RFC 6749 section 2.3.1). */
function readCredentials(request: IncomingMessage, parameters: URLSearchParams): ClientCredentials {
  const header = request.headers.authorization;
  const inBody = parameters.has('client_id') || parameters.has('client_secret');
  if (header !== undefined && inBody) throw new OAuthError(400, 'invalid_request', 'client credentials were sent both in the Authorization header and in the body; send them once');

  if (header === undefined) {
    const clientId = parameters.get('client_id');
    const clientSecret = parameters.get('client_secret');
    if (clientId === null || clientSecret === null) {
      throw new OAuthError(401, 'invalid_client', 'client credentials are missing; send Authorization: Basic base64(client_id:client_secret)', { 'www-authenticate': `Basic realm="${AUTH_REALM}"` });
    }
    return { clientId, clientSecret };
  }

  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  const decoded = match === null ? '' : Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) {
    throw new OAuthError(401, 'invalid_client', 'Authorization header is not HTTP Basic with client_id:client_secret', { 'www-authenticate': `Basic realm="${AUTH_REALM}"` });
  }
  return { clientId: decodeFormComponent(decoded.slice(0, colon)), clientSecret: decodeFormComponent(decoded.slice(colon + 1)) };
}

/** RFC 6749 form-encodes the id and secret before Basic encoding; a value that is not valid encoding is used as is. */
function decodeFormComponent(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}
