import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { join } from 'node:path';
import type { ClusterInfo } from '../config/cluster-info.js';
import { silentLogger } from '../logging/logger.js';
import { NOT_PRIMARY_STATUS } from '../master/command-api/backup-refusal.js';
import { createClusterLookup } from '../net/lookup.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { readApiAccountFile, type ApiAccountFile } from './api-account-file.js';
import { masterCandidates } from './master-candidates.js';

/** Time one request to the master may take, including the TLS handshake. */
export const DEFAULT_API_REQUEST_TIMEOUT_MS = 15_000;

/** A master's public listener: where the request goes, the hostname it names, and the CA its certificate must chain to. */
export interface MasterEndpoint {
  /** Hostname the request names and the certificate must cover. */
  host: string;
  /** Loopback address to connect to. When absent, `host` is resolved with `lookup`. */
  address?: string;
  /** Resolver of `host` through the cluster DNS server, used when `address` is absent. */
  lookup?: LookupFunction;
  port: number;
  ca: Buffer;
  /** Name of the endpoint in messages, such as "master master2". Messages use `host` when it is absent. */
  label?: string;
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

/**
 * Returns the endpoints to ask for the primary master, in order: the site
 * hostname, resolved through the cluster DNS server so that it follows a
 * takeover, then each master by its own address.
 */
export async function masterEndpoints(info: ClusterInfo): Promise<MasterEndpoint[]> {
  if (!info.nodes.some((node) => node.role === 'master' && node.ports.public !== undefined)) {
    throw new ConfigError(`cluster.json of ${info.runDir} lists no master with a public port; the cluster did not finish starting`);
  }
  const ca = await readFile(join(info.certsDir, 'ca.pem'));
  const lookup = createClusterLookup({ server: info.dns, logger: silentLogger() });
  return masterCandidates(info).map((candidate) => ({
    host: candidate.host,
    port: candidate.port,
    ca,
    label: candidate.label,
    ...(candidate.address === undefined ? { lookup } : { address: candidate.address }),
  }));
}

/** Returns the endpoint of the primary master: the site hostname, resolved through the cluster DNS server. */
export async function masterEndpoint(info: ClusterInfo): Promise<MasterEndpoint> {
  const [site] = await masterEndpoints(info);
  if (site === undefined) throw new ConfigError(`cluster.json of ${info.runDir} lists no site hostname`);
  return site;
}

/** Sends one HTTPS request to the master, verifying its certificate against the cluster CA and its hostname. */
export function requestMaster(endpoint: MasterEndpoint, request: HttpsRequest): Promise<HttpsReply> {
  const timeoutMs = request.timeoutMs ?? DEFAULT_API_REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const outgoing = httpsRequest(
      {
        host: endpoint.address ?? endpoint.host,
        port: endpoint.port,
        lookup: endpoint.address === undefined ? endpoint.lookup : undefined,
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
    const where = describeEndpoint(endpoint);
    outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new Error(`no response from ${where} within ${timeoutMs} ms`)));
    outgoing.on('error', (error) => reject(new Error(`request ${request.method} ${request.path} to ${where} failed: ${errorMessage(error)}`)));
    outgoing.end(request.body);
  });
}

/** Describes an endpoint for messages: label, hostname and where the request goes. */
function describeEndpoint(endpoint: MasterEndpoint): string {
  const target = `${endpoint.host} (${endpoint.address ?? 'resolved through the cluster DNS server'}:${endpoint.port})`;
  return endpoint.label === undefined ? target : `${endpoint.label}, ${target}`;
}

/** A token and the master that issued it, because only that master accepts it. */
interface TokenGrant {
  token: string;
  endpoint: MasterEndpoint;
}

/**
 * A command API client with the run folder's API account. It asks the
 * endpoints in order for a token and sends every action to the master that
 * issued it. When that master stops answering, answers 409 because it is
 * now the backup, or rejects the token (a new primary does not know the
 * tokens of the old one), the client gets a new token once and sends the
 * action again.
 */
export class CommandApiClient {
  private readonly endpoints: MasterEndpoint[];
  private grant: TokenGrant | undefined;

  constructor(endpoints: MasterEndpoint | MasterEndpoint[], private readonly account: Pick<ApiAccountFile, 'clientId' | 'clientSecret'>) {
    this.endpoints = Array.isArray(endpoints) ? endpoints : [endpoints];
    if (this.endpoints.length === 0) throw new Error('CommandApiClient needs at least one master endpoint');
  }

  /** Builds a client of the primary master from cluster.json and the run folder's api-account.json. */
  static async open(info: ClusterInfo, apiAccountFile: string): Promise<CommandApiClient> {
    return new CommandApiClient(await masterEndpoints(info), await readApiAccountFile(apiAccountFile));
  }

  /** The master that issued the current token, or undefined before the first token. */
  get servingEndpoint(): MasterEndpoint | undefined {
    return this.grant?.endpoint;
  }

  /**
   * Gets a bearer token with the client credentials grant from the first
   * endpoint that issues one. An endpoint that cannot be reached or answers
   * 409 (a backup master) is skipped. Any other refusal throws with the
   * master's reason, as does the case where no endpoint issued a token.
   */
  async fetchToken(): Promise<string> {
    this.grant = undefined;
    const failures: string[] = [];
    for (const endpoint of this.endpoints) {
      let reply: HttpsReply;
      try {
        reply = await this.requestToken(endpoint);
      } catch (error) {
        failures.push(errorMessage(error));
        continue;
      }
      const parsed = parseJson(reply.body) as { access_token?: unknown; error_description?: unknown } | undefined;
      const reason = typeof parsed?.error_description === 'string' ? parsed.error_description : reply.body.slice(0, 200);
      if (reply.status === 200 && typeof parsed?.access_token === 'string') {
        this.grant = { token: parsed.access_token, endpoint };
        return parsed.access_token;
      }
      if (reply.status !== NOT_PRIMARY_STATUS) throw new Error(`token request to ${describeEndpoint(endpoint)} failed with HTTP ${reply.status}: ${reason}`);
      failures.push(`${describeEndpoint(endpoint)}: HTTP ${reply.status}: ${reason}`);
    }
    throw new Error(
      `no master issued a token; check that the cluster runs with \`atlas-sim status\`, and retry after the heartbeat timeout when a takeover is under way:\n  ${failures.join('\n  ')}`,
    );
  }

  /** Runs `action` with `parameters`; `format` selects the XML response or the same data as JSON. */
  async command(action: string, parameters: Record<string, string> = {}, format: 'xml' | 'json' = 'xml'): Promise<HttpsReply> {
    const query = new URLSearchParams({ action, ...parameters });
    const request: HttpsRequest = { method: 'GET', path: `/api/command?${query.toString()}`, headers: { accept: format === 'json' ? 'application/json' : 'text/xml' } };
    const fresh = this.grant === undefined;
    const grant = await this.currentGrant();
    let reply: HttpsReply;
    try {
      reply = await this.send(grant, request);
    } catch (error) {
      if (fresh) throw error;
      return this.sendWithNewToken(request);
    }
    if (!fresh && (reply.status === 401 || reply.status === NOT_PRIMARY_STATUS)) return this.sendWithNewToken(request);
    return reply;
  }

  /** Runs `action` for JSON and returns the parsed body; a non-200 response throws with the master's message. */
  async commandJson<T>(action: string, parameters: Record<string, string> = {}): Promise<T> {
    const reply = await this.command(action, parameters, 'json');
    const parsed = parseJson(reply.body) as { error?: unknown } | undefined;
    if (reply.status !== 200) throw new Error(`command ${action} failed with HTTP ${reply.status}: ${typeof parsed?.error === 'string' ? parsed.error : reply.body.slice(0, 200)}`);
    return parsed as T;
  }

  private async currentGrant(): Promise<TokenGrant> {
    if (this.grant === undefined) await this.fetchToken();
    if (this.grant === undefined) throw new Error('no token after a successful token request');
    return this.grant;
  }

  private async sendWithNewToken(request: HttpsRequest): Promise<HttpsReply> {
    await this.fetchToken();
    return this.send(await this.currentGrant(), request);
  }

  private send(grant: TokenGrant, request: HttpsRequest): Promise<HttpsReply> {
    return requestMaster(grant.endpoint, { ...request, headers: { ...request.headers, authorization: `Bearer ${grant.token}` } });
  }

  private requestToken(endpoint: MasterEndpoint): Promise<HttpsReply> {
    const basic = Buffer.from(`${encodeURIComponent(this.account.clientId)}:${encodeURIComponent(this.account.clientSecret)}`).toString('base64');
    return requestMaster(endpoint, {
      method: 'POST',
      path: '/oauth2/token',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
