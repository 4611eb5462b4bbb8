import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../logging/logger.js';
import { errorMessage } from '../../util/errors.js';
import { normaliseAddress } from '../channel.js';

/** Largest request body a route accepts unless it sets its own limit. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Body of every error reply: a one-line message, and for bad input the field, its value and the reason. */
export interface HttpProblem {
  error: string;
  field?: string;
  value?: unknown;
  reason?: string;
  /** Every invalid field when a request has more than one. */
  problems?: { field: string; value: unknown; reason: string }[];
}

/** An expected failure of a request, sent back as `status` with a JSON HttpProblem body. */
export class HttpError extends Error {
  override name = 'HttpError';

  constructor(
    readonly status: number,
    readonly problem: HttpProblem,
    readonly headers: Record<string, string> = {},
  ) {
    super(problem.error);
  }
}

/**
 * Returns a 400 HttpError for one invalid field. The message reads
 * `field: value reason` for people, and the parts are separate fields for programs.
 */
export function badRequest(field: string, value: unknown, reason: string): HttpError {
  return new HttpError(400, { error: `${field}: ${formatProblemValue(value)} ${reason}`, field, value, reason });
}

/** Formats a value for an error message: strings quoted, absent values named. */
export function formatProblemValue(value: unknown): string {
  if (value === undefined) return '(missing)';
  if (typeof value === 'string') return JSON.stringify(value);
  return JSON.stringify(value) ?? typeof value;
}

/** Reply of a handler: JSON (`body`) or text with its content type. */
export interface HttpReply {
  status: number;
  body?: unknown;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** Request passed to a handler, with path parameters, query and the parsed body. */
export interface RequestContext {
  method: string;
  path: string;
  /** Values of the `:name` segments of the route pattern, URL-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Client address without the IPv4-mapped IPv6 prefix. */
  remoteAddress: string;
  /** Parsed JSON for `body: 'json'`, a field map for `body: 'form'`, undefined for an empty body. */
  body: unknown;
  /** User name the authenticator accepted; undefined on routes without authentication. */
  principal: string | undefined;
  logger: Logger;
}

export type RouteHandler = (context: RequestContext) => HttpReply | Promise<HttpReply>;

export type AuthOutcome =
  | { ok: true; principal: string }
  /** `challenge` becomes the WWW-Authenticate header of the 401 reply. */
  | { ok: false; challenge: string; reason: string };

/** Checks a request's credentials before its body is read. */
export type Authenticator = (request: IncomingMessage) => AuthOutcome | Promise<AuthOutcome>;

export interface RouteOptions {
  /** Credentials check; the router's default when absent, `'none'` for a public route. */
  auth?: Authenticator | 'none';
  /** Body format: JSON (the default), form fields, or no body allowed. */
  body?: 'json' | 'form' | 'none';
  maxBodyBytes?: number;
}

export interface HttpRouterOptions {
  /** Authenticator of every route that does not set its own. Without one, such routes are public. */
  defaultAuth?: Authenticator;
  maxBodyBytes?: number;
  /** Runs after every handler that returned a reply, and may change the reply before it is sent. */
  afterHandler?: (context: RequestContext, reply: HttpReply) => Promise<HttpReply>;
}

interface Route {
  method: string;
  pattern: string;
  segments: string[];
  handler: RouteHandler;
  options: RouteOptions;
}

/**
 * Routes plain HTTPS requests by method and path to handlers. It replies 404
 * for an unknown path, 405 (with Allow) for a known path with another
 * method, 401 (with WWW-Authenticate) before reading the body when the
 * credentials are missing or wrong, 413 for a body over the limit, 415 for a
 * body that is not of the route's type, 400 for a body that does not parse,
 * and 500 for an unexpected exception, which is logged. Every error reply is
 * a JSON HttpProblem. Pass `router.handle` as the `onRequest` of a WsServer.
 */
export class HttpRouter {
  private readonly routes: Route[] = [];

  constructor(private readonly deps: { logger: Logger }, private readonly options: HttpRouterOptions = {}) {}

  /** Adds a route; `pattern` is a path whose `:name` segments match one path segment each. */
  add(method: string, pattern: string, handler: RouteHandler, options: RouteOptions = {}): void {
    const upper = method.toUpperCase();
    if (this.routes.some((route) => route.method === upper && route.pattern === pattern)) {
      throw new Error(`route ${upper} ${pattern} is already registered`);
    }
    this.routes.push({ method: upper, pattern, segments: splitPath(pattern), handler, options });
  }

  get(pattern: string, handler: RouteHandler, options?: RouteOptions): void {
    this.add('GET', pattern, handler, options);
  }

  post(pattern: string, handler: RouteHandler, options?: RouteOptions): void {
    this.add('POST', pattern, handler, options);
  }

  put(pattern: string, handler: RouteHandler, options?: RouteOptions): void {
    this.add('PUT', pattern, handler, options);
  }

  patch(pattern: string, handler: RouteHandler, options?: RouteOptions): void {
    this.add('PATCH', pattern, handler, options);
  }

  delete(pattern: string, handler: RouteHandler, options?: RouteOptions): void {
    this.add('DELETE', pattern, handler, options);
  }

  /** Request listener for node:https servers and WsServer's `onRequest`. */
  readonly handle = (request: IncomingMessage, response: ServerResponse): void => {
    void this.dispatch(request, response);
  };

  private async dispatch(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = (request.method ?? 'GET').toUpperCase();
    const url = new URL(request.url ?? '/', 'https://localhost');
    const remoteAddress = normaliseAddress(request.socket.remoteAddress ?? '');
    const logger = this.deps.logger.child({ peer: remoteAddress, method, path: url.pathname });

    try {
      const { route, params } = this.match(method, url.pathname);
      const principal = await this.authenticate(route, request);
      const body = await readBody(request, route.options, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
      const context: RequestContext = { method, path: url.pathname, params, query: url.searchParams, headers: request.headers, remoteAddress, body, principal, logger };
      const handled = await route.handler(context);
      const reply = this.options.afterHandler === undefined ? handled : await this.options.afterHandler(context, handled);
      send(response, reply);
      logger.debug({ status: reply.status, principal }, 'request handled');
    } catch (error) {
      if (error instanceof HttpError) {
        logger.info({ status: error.status, error: error.problem.error }, 'request rejected');
        // The body may be unread (401, 413), so the connection closes instead of carrying on in an unknown state.
        const close: Record<string, string> = request.complete ? {} : { connection: 'close' };
        send(response, { status: error.status, body: error.problem, headers: { ...error.headers, ...close } });
        return;
      }
      logger.error({ err: errorMessage(error) }, 'request handler failed');
      send(response, { status: 500, body: { error: 'internal error; the appliance log has the details' }, headers: { connection: 'close' } });
    }
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } {
    const segments = splitPath(path);
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, segments);
      if (params === undefined) continue;
      if (route.method === method) return { route, params };
      allowed.push(route.method);
    }
    if (allowed.length === 0) throw new HttpError(404, { error: `no resource at ${path}` });
    const allow = [...new Set(allowed)].join(', ');
    throw new HttpError(405, { error: `${method} is not allowed on ${path}; use ${allow}` }, { allow });
  }

  private async authenticate(route: Route, request: IncomingMessage): Promise<string | undefined> {
    const authenticator = route.options.auth ?? this.options.defaultAuth ?? 'none';
    if (authenticator === 'none') return undefined;
    const outcome = await authenticator(request);
    if (outcome.ok) return outcome.principal;
    throw new HttpError(401, { error: `authentication required: ${outcome.reason}` }, { 'www-authenticate': outcome.challenge });
  }
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

function matchSegments(pattern: string[], path: string[]): Record<string, string> | undefined {
  if (pattern.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let index = 0; index < pattern.length; index += 1) {
    const expected = pattern[index]!;
    const actual = path[index]!;
    if (expected.startsWith(':')) {
      try {
        params[expected.slice(1)] = decodeURIComponent(actual);
      } catch {
        return undefined;
      }
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

/** Reads and parses the body under the size limit; throws HttpError 400, 413 or 415. */
async function readBody(request: IncomingMessage, options: RouteOptions, defaultLimit: number): Promise<unknown> {
  const limit = options.maxBodyBytes ?? defaultLimit;
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(declared, limit);

  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(size, limit);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;

  const kind = options.body ?? 'json';
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const text = Buffer.concat(chunks).toString('utf8');
  if (kind === 'none') throw new HttpError(400, { error: 'this request takes no body; send it without one', field: '(body)', value: `${size} bytes`, reason: 'takes no body' });
  if (kind === 'form') {
    if (contentType !== 'application/x-www-form-urlencoded') throw unsupportedType(contentType, 'application/x-www-form-urlencoded');
    return Object.fromEntries(new URLSearchParams(text));
  }
  if (contentType !== '' && contentType !== 'application/json') throw unsupportedType(contentType, 'application/json');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest('(body)', text.length > 80 ? `${text.slice(0, 80)}...` : text, `is not valid JSON (${errorMessage(error)}); send a JSON object`);
  }
}

function tooLarge(size: number, limit: number): HttpError {
  return new HttpError(413, { error: `request body of ${size} bytes or more is larger than the limit of ${limit} bytes`, field: '(body)', value: size, reason: `larger than ${limit} bytes` });
}

function unsupportedType(actual: string, expected: string): HttpError {
  return new HttpError(415, { error: `content type ${JSON.stringify(actual)} is not supported; send ${expected}`, field: 'content-type', value: actual, reason: `expected ${expected}` });
}

function send(response: ServerResponse, reply: HttpReply): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const headers: Record<string, string> = { 'cache-control': 'no-store', ...reply.headers };
  let payload: string | undefined;
  if (reply.text !== undefined) {
    payload = reply.text;
    headers['content-type'] = reply.contentType ?? 'text/plain; charset=utf-8';
  } else if (reply.body !== undefined) {
    payload = `${JSON.stringify(reply.body, null, 2)}\n`;
    headers['content-type'] = 'application/json; charset=utf-8';
  }
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  response.writeHead(reply.status, headers);
  response.end(payload);
}
