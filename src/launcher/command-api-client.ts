import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { ClusterInfo } from '../config/cluster-info.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { readApiAccountFile, type ApiAccountFile } from './api-account-file.js';

/** Time one request to the master may take, including the TLS handshake. */
export const DEFAULT_API_REQUEST_TIMEOUT_MS = 15_000;

/** Address, port, hostname and CA of the master's public listener. */
export interface MasterEndpoint {
  /** Hostname the certificate must cover (the master's canonical hostname). */
  host: string;
  /** Loopback address the master binds; the request goes there directly, without DNS. */
  address: string;
  port: number;
  ca: Buffer;
}

export interface HttpsRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Finds the master in cluster.json and loads the cluster CA. */
export async function masterEndpoint(info: ClusterInfo): Promise<MasterEndpoint> {
  const master = info.nodes.find((node) => node.role === 'master');
  if (master?.ports.public === undefined) {
    throw new ConfigError(`cluster.json of ${info.runDir} lists no master with a public port; the cluster did not finish starting`);
  }
  const ca = await readFile(join(info.certsDir, 'ca.pem'));
  return { host: master.hostname, address: master.address, port: master.ports.public, ca };
}

/** Sends one HTTPS request to the master, verifying its certificate against the cluster CA and its hostname. */
export function requestMaster(endpoint: MasterEndpoint, request: HttpsRequest): Promise<HttpsReply> {
  const timeoutMs = request.timeoutMs ?? DEFAULT_API_REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const outgoing = httpsRequest(
      {
        host: endpoint.address,
        port: endpoint.port,
        servername: endpoint.host,
        ca: endpoint.ca,
        method: request.method,
        path: request.path,
        headers: { host: `${endpoint.host}:${endpoint.port}`, ...request.headers },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new Error(`no response from ${endpoint.host} (${endpoint.address}:${endpoint.port}) within ${timeoutMs} ms`)));
    outgoing.on('error', (error) => reject(new Error(`request ${request.method} ${request.path} to ${endpoint.host} (${endpoint.address}:${endpoint.port}) failed: ${errorMessage(error)}`)));
    outgoing.end(request.body);
  });
}

/** A command API client with the run folder's API account: gets a token, then sends actions. */
export class CommandApiClient {
  private token: string | undefined;

  constructor(private readonly endpoint: MasterEndpoint, private readonly account: Pick<ApiAccountFile, 'clientId' | 'clientSecret'>) {}

  /** Builds a client from cluster.json and the run folder's api-account.json. */
  static async open(info: ClusterInfo, apiAccountFile: string): Promise<CommandApiClient> {
    return new CommandApiClient(await masterEndpoint(info), await readApiAccountFile(apiAccountFile));
  }

  /** Gets a bearer token with the client credentials grant; throws with the master's reason on failure. */
  async fetchToken(): Promise<string> {
    const basic = Buffer.from(`${encodeURIComponent(this.account.clientId)}:${encodeURIComponent(this.account.clientSecret)}`).toString('base64');
    const reply = await requestMaster(this.endpoint, {
      method: 'POST',
      path: '/oauth2/token',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const parsed = parseJson(reply.body) as { access_token?: unknown; error_description?: unknown } | undefined;
    if (reply.status !== 200 || typeof parsed?.access_token !== 'string') {
      throw new Error(`token request failed with HTTP ${reply.status}: ${typeof parsed?.error_description === 'string' ? parsed.error_description : reply.body.slice(0, 200)}`);
    }
    this.token = parsed.access_token;
    return this.token;
  }

  /** Runs `action` with `parameters`; `format` selects the XML response or the same data as JSON. */
  async command(action: string, parameters: Record<string, string> = {}, format: 'xml' | 'json' = 'xml'): Promise<HttpsReply> {
    const token = this.token ?? (await this.fetchToken());
    const query = new URLSearchParams({ action, ...parameters });
    return requestMaster(this.endpoint, {
      method: 'GET',
      path: `/api/command?${query.toString()}`,
      headers: { authorization: `Bearer ${token}`, accept: format === 'json' ? 'application/json' : 'text/xml' },
    });
  }

  /** Runs `action` for JSON and returns the parsed body; a non-200 response throws with the master's message. */
  async commandJson<T>(action: string, parameters: Record<string, string> = {}): Promise<T> {
    const reply = await this.command(action, parameters, 'json');
    const parsed = parseJson(reply.body) as { error?: unknown } | undefined;
    if (reply.status !== 200) throw new Error(`command ${action} failed with HTTP ${reply.status}: ${typeof parsed?.error === 'string' ? parsed.error : reply.body.slice(0, 200)}`);
    return parsed as T;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
