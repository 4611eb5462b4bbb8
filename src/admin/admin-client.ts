import { Agent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { basicAuthorization } from '../net/http/basic-auth.js';
import type { HttpProblem } from '../net/http/router.js';
import { MIN_TLS_VERSION } from '../net/tls-options.js';
import type { AdminCredentials } from './credentials.js';

/** Time one admin request may take, connection included. A sync to many nodes runs inside one request. */
export const DEFAULT_ADMIN_REQUEST_TIMEOUT_MS = 60_000;

export interface AdminClientOptions {
  /** Hostname of the appliance: the site hostname for the primary master, a node hostname for one node. */
  host: string;
  port: number;
  /** Cluster CA; the server certificate must chain to it and cover `host`. */
  ca: Buffer | string;
  /** Resolves `host` through the cluster DNS server. */
  lookup: LookupFunction;
  credentials: AdminCredentials | undefined;
  localAddress?: string;
  timeoutMs?: number;
}

/** A non-2xx reply of the admin API, with the server's problem description. */
export class AdminApiError extends Error {
  override name = 'AdminApiError';

  constructor(
    readonly status: number,
    readonly problem: HttpProblem,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path} failed with ${status}: ${problem.error}`);
  }
}

/**
 * HTTPS client of one appliance's admin API. It verifies the server
 * certificate against the cluster CA for the hostname it dials, resolves the
 * hostname through the cluster DNS server, and sends HTTP Basic credentials.
 * Connections are kept open between requests; close() ends them.
 */
export class AdminClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });

  constructor(private readonly options: AdminClientOptions) {
    if (isIP(options.host) !== 0) throw new Error(`admin API host must be a hostname, got the IP address ${options.host}; use the site hostname or a node hostname`);
  }

  /** Closes the connections kept open for later requests. */
  close(): void {
    this.agent.destroy();
  }

  get target(): string {
    return `https://${this.options.host}:${this.options.port}`;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  patch<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** Sends one request; resolves with the parsed JSON body of a 2xx reply, throws AdminApiError otherwise. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const reply = await this.send(method, path, body);
    if (reply.status >= 200 && reply.status < 300) return reply.body as T;
    const problem = typeof reply.body === 'object' && reply.body !== null && typeof (reply.body as HttpProblem).error === 'string'
      ? (reply.body as HttpProblem)
      : { error: `HTTP ${reply.status}` };
    throw new AdminApiError(reply.status, problem, method, path);
  }

  /** Sends one request and returns status and parsed body whatever the status, for callers that check 4xx replies. */
  send(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown; headers: Record<string, string | string[] | undefined> }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.credentials !== undefined) headers.authorization = basicAuthorization(this.options.credentials.username, this.options.credentials.password);
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_ADMIN_REQUEST_TIMEOUT_MS;

    return new Promise((resolve, reject) => {
      const request = httpsRequest(
        {
          host: this.options.host,
          port: this.options.port,
          method,
          path,
          headers,
          ca: this.options.ca,
          servername: this.options.host,
          lookup: this.options.lookup,
          localAddress: this.options.localAddress,
          minVersion: MIN_TLS_VERSION,
          agent: this.agent,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            if ((response.headers['content-type'] ?? '').startsWith('application/json') && text !== '') {
              try {
                parsed = JSON.parse(text) as unknown;
              } catch {
                parsed = text;
              }
            }
            resolve({ status: response.statusCode ?? 0, body: parsed, headers: response.headers });
          });
        },
      );
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`no reply from ${this.target}${path} within ${timeoutMs} ms`)));
      request.on('error', (error) => reject(new Error(`admin request ${method} ${this.target}${path} failed: ${error.message}`)));
      request.end(payload);
    });
  }
}
