import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Largest request body the command API and the token endpoint read. */
export const MAX_REQUEST_BODY_BYTES = 16 * 1024;

/** An expected refusal: the HTTP status and a message that names the field, the value and the fix. */
export class HttpError extends Error {
  override name = 'HttpError';

  constructor(readonly status: number, message: string, readonly headers: OutgoingHttpHeaders = {}) {
    super(message);
  }
}

/** Reads the request body as text, failing with 413 beyond MAX_REQUEST_BODY_BYTES. */
export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > MAX_REQUEST_BODY_BYTES) throw new HttpError(413, `request body is larger than ${MAX_REQUEST_BODY_BYTES} bytes; send the parameters in the query string or a smaller form`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Returns the request's parameters: the query string, plus for POST the
 * url-encoded form body. A POST body of any other content type is a 415.
 */
export async function readParameters(request: IncomingMessage, url: URL): Promise<URLSearchParams> {
  const parameters = new URLSearchParams(url.searchParams);
  if (request.method !== 'POST') return parameters;

  const body = await readBody(request);
  if (body.length === 0) return parameters;
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/x-www-form-urlencoded') {
    throw new HttpError(415, `content-type is ${JSON.stringify(request.headers['content-type'] ?? '')}; send the parameters as application/x-www-form-urlencoded`);
  }
  for (const [key, value] of new URLSearchParams(body)) parameters.append(key, value);
  return parameters;
}

/** Sends a complete response and closes the connection, as clients of the real command API expect. */
export function sendResponse(response: ServerResponse, status: number, contentType: string, body: string, headers: OutgoingHttpHeaders = {}): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    connection: 'close',
    ...headers,
  });
  response.end(body);
}

/** True when the Accept header requests JSON and not XML. */
export function wantsJson(request: IncomingMessage): boolean {
  const accept = (request.headers.accept ?? '').toLowerCase();
  return accept.includes('application/json') && !accept.includes('xml');
}
