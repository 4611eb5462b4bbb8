import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from '../../logging/logger.js';
import { errorMessage } from '../../util/errors.js';
import { renderXml, type XmlElement } from '../../util/xml.js';
import type { AccessTokenStore } from './access-tokens.js';
import type { ApiAccount, ApiAccountStore } from './api-accounts.js';
import { checkHealthXml, connectedClientListXml, connectedClientsXml, errorXml, type HealthReport } from './command-xml.js';
import { listConnectedClients, parseClientQuery, summarizeAppliances, type ConnectedClientsSource } from './connected-clients.js';
import { HttpError, readParameters, sendResponse, wantsJson } from './http-io.js';
import { AUTH_REALM, handleTokenRequest, TOKEN_PATH } from './oauth-token.js';

export const COMMAND_PATH = '/api/command';
/** Unauthenticated probe: 200 when the appliance is healthy, 500 when not, with no other data. */
export const HEALTH_PATH = '/check_health';
const XML_CONTENT_TYPE = 'text/xml; charset=UTF-8';

/** Result of an action: the XML document and the same data for clients that accept JSON. */
export interface CommandResult {
  xml: XmlElement;
  json: unknown;
}

export interface CommandContext {
  account: ApiAccount;
  parameters: URLSearchParams;
  logger: Logger;
}

/** One `action=` of the command API and the permission it needs. */
export interface CommandAction {
  /** `read_only` actions run for every account; `full` actions need an account with full access. */
  permission: ApiAccount['commandApi'];
  run(context: CommandContext): CommandResult | Promise<CommandResult>;
}

export interface CommandApiDeps {
  logger: Logger;
  accounts: ApiAccountStore;
  tokens: AccessTokenStore;
  clients: ConnectedClientsSource;
  health: () => Promise<HealthReport>;
}

/**
 * The command API on the master's public address: `/api/command?action=...`
 * with a bearer token from `/oauth2/token`, returning XML (or JSON when the
 * Accept header requests it), and the unauthenticated `/check_health` probe.
 * More actions are added with addAction().
 */
export class CommandApi {
  private readonly actions = new Map<string, CommandAction>();

  constructor(private readonly deps: CommandApiDeps) {
    this.addAction('get_connected_clients', { permission: 'read_only', run: (context) => this.connectedClients(context) });
    this.addAction('get_connected_client_list', { permission: 'read_only', run: (context) => this.connectedClientList(context) });
    this.addAction('check_health', { permission: 'read_only', run: async () => this.checkHealth() });
  }

  /** Registers an action; a second action with the same name is a programming error. */
  addAction(name: string, action: CommandAction): void {
    if (this.actions.has(name)) throw new Error(`command API action ${name} is already registered`);
    this.actions.set(name, action);
  }

  /** Paths this API serves, for a router to mount. */
  get paths(): string[] {
    return [COMMAND_PATH, TOKEN_PATH, HEALTH_PATH];
  }

  /** Serves the request when its path belongs to this API and returns true; returns false for any other path. */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const url = new URL(request.url ?? '/', 'https://localhost');
    if (url.pathname === TOKEN_PATH) {
      void handleTokenRequest(this.deps, request, url, response);
      return true;
    }
    if (url.pathname === HEALTH_PATH) {
      void this.serveHealthProbe(response);
      return true;
    }
    if (url.pathname === COMMAND_PATH) {
      void this.serveCommand(request, url, response);
      return true;
    }
    return false;
  }

  private async serveCommand(request: IncomingMessage, url: URL, response: ServerResponse): Promise<void> {
    const json = wantsJson(request);
    const logger = this.deps.logger.child({ component: 'command-api', peer: request.socket.remoteAddress });
    try {
      if (request.method !== 'GET' && request.method !== 'POST') throw new HttpError(405, `method ${request.method ?? ''} is not allowed; use GET or POST`, { allow: 'GET, POST' });
      const account = this.authenticate(request);
      const parameters = await readParameters(request, url);
      const name = parameters.get('action');
      if (name === null || name === '') throw new HttpError(400, `action is missing; expected one of ${[...this.actions.keys()].join(', ')}`);
      const action = this.actions.get(name);
      if (action === undefined) throw new HttpError(400, `action ${JSON.stringify(name)} is unknown; expected one of ${[...this.actions.keys()].join(', ')}`);
      if (action.permission === 'full' && account.commandApi !== 'full') {
        throw new HttpError(403, `action ${name} needs an API account with full access to the command API; account ${account.name} has read-only access`);
      }

      const result = await action.run({ account, parameters, logger });
      logger.debug({ action: name, clientId: account.clientId }, 'command API request served');
      this.send(response, 200, json, result);
    } catch (error) {
      const failure = error instanceof HttpError ? error : new HttpError(500, 'the command failed; see the master log');
      if (failure.status >= 500) logger.error({ err: errorMessage(error) }, 'command API request failed');
      else logger.debug({ status: failure.status, reason: failure.message }, 'command API request rejected');
      this.send(response, failure.status, json, { xml: errorXml(failure.message), json: { error: failure.message } }, failure.headers);
    }
  }

  /** Returns the account of the request's bearer token; throws 401 when it has none or a bad one. */
  private authenticate(request: IncomingMessage): ApiAccount {
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) {
      throw new HttpError(401, `a bearer token is required; get one with POST ${TOKEN_PATH} and send Authorization: Bearer TOKEN`, { 'www-authenticate': `Bearer realm="${AUTH_REALM}"` });
    }
    const clientId = this.deps.tokens.verify(match[1] ?? '');
    const account = clientId === undefined ? undefined : this.deps.accounts.find(clientId);
    if (account === undefined) {
      this.deps.logger.warn({ peer: request.socket.remoteAddress }, 'command API request with an unknown or expired bearer token');
      throw new HttpError(401, `the bearer token is unknown or expired; get a new one with POST ${TOKEN_PATH}`, { 'www-authenticate': `Bearer realm="${AUTH_REALM}", error="invalid_token"` });
    }
    return account;
  }

  private send(response: ServerResponse, status: number, json: boolean, result: CommandResult, headers: OutgoingHttpHeaders = {}): void {
    if (json) sendResponse(response, status, 'application/json', `${JSON.stringify(result.json, null, 2)}\n`, headers);
    else sendResponse(response, status, XML_CONTENT_TYPE, renderXml(result.xml), headers);
  }

  private connectedClients(context: CommandContext): CommandResult {
    const query = parseClientQuery(context.parameters);
    const clients = listConnectedClients(this.deps.clients, query);
    const json = clients.map((client) => (query.includeConnections ? client : { ...client, connections: undefined }));
    return { xml: connectedClientsXml(clients, query.includeConnections), json: { clients: json } };
  }

  private connectedClientList(context: CommandContext): CommandResult {
    const query = parseClientQuery(context.parameters);
    const clients = listConnectedClients(this.deps.clients, { ...query, ids: undefined });
    const summary = summarizeAppliances(this.deps.clients, clients, query.types);
    const listed = query.summaryOnly ? undefined : clients;
    return {
      xml: connectedClientListXml(summary, listed),
      json: { appliances: summary, clients: listed?.map((client) => ({ type: client.type, id: client.id })) },
    };
  }

  private async checkHealth(): Promise<CommandResult> {
    const report = await this.deps.health();
    return { xml: checkHealthXml(report), json: report };
  }

  private async serveHealthProbe(response: ServerResponse): Promise<void> {
    let healthy = false;
    try {
      healthy = (await this.deps.health()).success;
    } catch (error) {
      this.deps.logger.error({ err: errorMessage(error) }, 'health probe failed');
    }
    sendResponse(response, healthy ? 200 : 500, 'text/plain; charset=UTF-8', healthy ? 'health check succeeded\n' : 'health check failed\n');
  }
}
