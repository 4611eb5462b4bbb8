import { Role } from '../../protocol/messages.js';
import type { ConnectedClient } from '../client-registry.js';
import type { SessionRecord } from '../session-broker.js';
import { HttpError } from './http-io.js';

/** Client types the command API names; the simulator runs only representatives and support customers. */
export const CLIENT_TYPES = ['representative', 'support_customer', 'presentation_attendee', 'push_agent'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];
/** Maximum number of ids one get_connected_clients request may name. */
export const MAX_CLIENT_IDS = 100;

/** An appliance that clients can be connected to. */
export interface ApplianceRef {
  guid: string;
  name: string;
  hostname: string;
  role: 'primary' | 'traffic';
}

/** Master state the connected-clients report reads. */
export interface ConnectedClientsSource {
  master: ApplianceRef;
  /** Traffic nodes with an open, authenticated appliance link. */
  onlineTrafficNodes(): ApplianceRef[];
  clients(): ConnectedClient[];
  session(sessionId: string): SessionRecord | undefined;
}

/** One connection of a client: its control channel to the master, or a session channel to a traffic node. */
export interface ClientConnectionView {
  applianceGuid: string;
  applianceName: string;
  channel: 'control' | 'session';
  connected: boolean;
  /** ISO 8601 time the connection opened; absent while a session connection is not open yet. */
  connectedSince?: string;
  sessionId?: string;
  /** `home` for the client's own traffic node, `cross` for the peer's. */
  kind?: 'home' | 'cross';
  stream?: string;
  direction?: 'publish' | 'subscribe';
  /** Reason the master chose this traffic node for the client. */
  reason?: string;
  /** Path the client reported for the stream: `relay` or `direct`; empty before it reports. */
  path?: string;
  /** Why the client took that path, such as the reason its direct attempt failed. */
  pathReason?: string;
}

export interface ConnectedClientView {
  id: string;
  type: ClientType;
  displayName: string;
  /** Source address of the client's control channel. */
  publicIp: string;
  /** Seconds east of UTC. */
  timezoneOffsetSeconds: number;
  connectedSince: string;
  sessionId?: string;
  connections: ClientConnectionView[];
}

export interface ApplianceSummaryView {
  guid: string;
  name: string;
  role: ApplianceRef['role'];
  /** Clients connected to the appliance, by type. */
  counts: Partial<Record<ClientType, number>>;
}

/** Parameters shared by get_connected_clients and get_connected_client_list. */
export interface ClientQuery {
  types: ClientType[];
  ids?: Set<string>;
  includeConnections: boolean;
  summaryOnly: boolean;
}

/** Parses `type`, `id`, `include_connections` and `summary_only`; a bad value is a 400 naming it. */
export function parseClientQuery(parameters: URLSearchParams): ClientQuery {
  const typeText = parameters.get('type') ?? 'all';
  const requested = typeText.split(',').map((part) => part.trim()).filter((part) => part !== '');
  for (const type of requested) {
    if (type !== 'all' && !CLIENT_TYPES.includes(type as ClientType)) {
      throw new HttpError(400, `type ${JSON.stringify(type)} is invalid; expected all or a comma-separated list of ${CLIENT_TYPES.join(', ')}`);
    }
  }
  const types = requested.length === 0 || requested.includes('all') ? [...CLIENT_TYPES] : (requested as ClientType[]);

  const idText = parameters.get('id');
  let ids: Set<string> | undefined;
  if (idText !== null) {
    ids = new Set(idText.split(',').map((part) => part.trim()).filter((part) => part !== ''));
    if (ids.size > MAX_CLIENT_IDS) throw new HttpError(400, `id lists ${ids.size} client ids; at most ${MAX_CLIENT_IDS} are allowed per request`);
  }
  return { types, ids, includeConnections: parseBoolean(parameters, 'include_connections'), summaryOnly: parseBoolean(parameters, 'summary_only') };
}

function parseBoolean(parameters: URLSearchParams, name: string): boolean {
  const value = parameters.get(name);
  if (value === null || value === '' || value === '0') return false;
  if (value === '1') return true;
  throw new HttpError(400, `${name} is ${JSON.stringify(value)}; expected 1 or 0`);
}

/** Clients that match the query, each with every connection it has, in the order they came online. */
export function listConnectedClients(source: ConnectedClientsSource, query: ClientQuery): ConnectedClientView[] {
  const appliances = new Map([source.master, ...source.onlineTrafficNodes()].map((appliance) => [appliance.name, appliance]));
  return source
    .clients()
    .filter((client) => query.types.includes(clientType(client)))
    .filter((client) => query.ids === undefined || query.ids.has(client.clientId))
    .sort((a, b) => a.connectedAtMs - b.connectedAtMs)
    .map((client) => clientView(client, source, appliances));
}

/**
 * Counts clients per appliance. Every online client is connected to the
 * master, but a traffic node counts only the clients with an open session
 * connection through it.
 */
export function summarizeAppliances(source: ConnectedClientsSource, clients: ConnectedClientView[], types: ClientType[]): ApplianceSummaryView[] {
  const appliances = [source.master, ...source.onlineTrafficNodes()];
  return appliances.map((appliance) => {
    const counts: Partial<Record<ClientType, number>> = {};
    for (const type of types) counts[type] = 0;
    for (const client of clients) {
      const connected = client.connections.some((connection) => connection.applianceName === appliance.name && connection.connected);
      if (connected) counts[client.type] = (counts[client.type] ?? 0) + 1;
    }
    return { guid: appliance.guid, name: appliance.name, role: appliance.role, counts };
  });
}

export function clientType(client: ConnectedClient): ClientType {
  return client.role === Role.ROLE_REPRESENTATIVE ? 'representative' : 'support_customer';
}

function clientView(client: ConnectedClient, source: ConnectedClientsSource, appliances: Map<string, ApplianceRef>): ConnectedClientView {
  const control: ClientConnectionView = {
    applianceGuid: source.master.guid,
    applianceName: source.master.name,
    channel: 'control',
    connected: true,
    connectedSince: new Date(client.connectedAtMs).toISOString(),
  };
  const session = client.sessionId === undefined ? undefined : source.session(client.sessionId);
  const sessionConnections = (session?.connections.get(client.clientId) ?? []).map((connection): ClientConnectionView => ({
    applianceGuid: appliances.get(connection.node)?.guid ?? '',
    applianceName: connection.node,
    channel: 'session',
    connected: connection.connected,
    connectedSince: connection.connectedAtMs === undefined ? undefined : new Date(connection.connectedAtMs).toISOString(),
    sessionId: session?.id,
    kind: connection.kind,
    stream: connection.stream,
    direction: connection.direction,
    reason: connection.reason,
    path: connection.path,
    ...(connection.pathReason === undefined ? {} : { pathReason: connection.pathReason }),
  }));

  return {
    id: client.clientId,
    type: clientType(client),
    displayName: client.displayName,
    publicIp: client.address,
    timezoneOffsetSeconds: client.utcOffsetMinutes * 60,
    connectedSince: new Date(client.connectedAtMs).toISOString(),
    sessionId: session?.id,
    connections: [control, ...sessionConnections],
  };
}
