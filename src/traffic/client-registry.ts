import { Role, StreamDirection, type TicketClaims } from '../protocol/messages.js';

/** One session-channel client, as the connected-clients report lists it. */
export interface ConnectedClient {
  /** Number this node gave the connection, unique for the life of the process. */
  connectionId: number;
  /** Client id the client sent in SessionJoin. */
  clientId: string;
  participantId: string;
  role: 'customer' | 'representative' | 'unspecified';
  sessionId: string;
  stream: string;
  direction: 'publish' | 'subscribe';
  sourceIp: string;
  /** Reason the master chose this node, copied from the ticket. */
  reason: string;
  connectedSinceMs: number;
  connectedSince: string;
}

/** Session-channel clients that completed SessionJoin and are still connected. */
export class ClientRegistry {
  private nextConnectionId = 1;
  private readonly clients = new Map<number, ConnectedClient>();

  /** Adds a client from its verified ticket claims; returns its entry. */
  add(claims: TicketClaims, clientId: string, sourceIp: string, nowMs = Date.now()): ConnectedClient {
    const client: ConnectedClient = {
      connectionId: this.nextConnectionId++,
      clientId,
      participantId: claims.participantId,
      role: roleName(claims.role),
      sessionId: claims.sessionId,
      stream: claims.stream,
      direction: claims.direction === StreamDirection.DIRECTION_PUBLISH ? 'publish' : 'subscribe',
      sourceIp,
      reason: claims.reason,
      connectedSinceMs: nowMs,
      connectedSince: new Date(nowMs).toISOString(),
    };
    this.clients.set(client.connectionId, client);
    return client;
  }

  remove(client: ConnectedClient): void {
    this.clients.delete(client.connectionId);
  }

  get size(): number {
    return this.clients.size;
  }

  /** Copies of the entries, oldest connection first. */
  list(): ConnectedClient[] {
    return [...this.clients.values()].map((client) => ({ ...client }));
  }
}

/** Protocol Role of a role name in the report. */
export function roleCode(role: ConnectedClient['role']): Role {
  if (role === 'customer') return Role.ROLE_CUSTOMER;
  if (role === 'representative') return Role.ROLE_REPRESENTATIVE;
  return Role.ROLE_UNSPECIFIED;
}

function roleName(role: Role): ConnectedClient['role'] {
  if (role === Role.ROLE_CUSTOMER) return 'customer';
  if (role === Role.ROLE_REPRESENTATIVE) return 'representative';
  return 'unspecified';
}
