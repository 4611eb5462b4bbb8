import type { Logger } from '../logging/logger.js';
import type { Channel } from '../net/channel.js';
import { Role, type atlas } from '../protocol/messages.js';

/** A client whose control channel finished the hello. */
export interface ConnectedClient {
  clientId: string;
  role: atlas.Role.ROLE_CUSTOMER | atlas.Role.ROLE_REPRESENTATIVE;
  displayName: string;
  /** Source address of the control channel, IPv4-mapped prefix stripped. */
  address: string;
  utcOffsetMinutes: number;
  channel: Channel;
  /** Logger bound to the client id and address. */
  logger: Logger;
  connectedAtMs: number;
  /** Session the client takes part in, if any. */
  sessionId?: string;
}

export function roleName(role: Role): 'customer' | 'representative' | 'unspecified' {
  if (role === Role.ROLE_CUSTOMER) return 'customer';
  if (role === Role.ROLE_REPRESENTATIVE) return 'representative';
  return 'unspecified';
}

/** Clients online on the control channel, by client id. */
export class ClientRegistry {
  private readonly clients = new Map<string, ConnectedClient>();

  /** Registers a client and returns the connection it replaces (same client id), if any. */
  add(client: ConnectedClient): ConnectedClient | undefined {
    const previous = this.clients.get(client.clientId);
    this.clients.set(client.clientId, client);
    return previous;
  }

  /** Removes the client unless a newer connection with the same id replaced it; true when removed. */
  remove(client: ConnectedClient): boolean {
    if (this.clients.get(client.clientId) !== client) return false;
    this.clients.delete(client.clientId);
    return true;
  }

  get(clientId: string): ConnectedClient | undefined {
    return this.clients.get(clientId);
  }

  /** True when `client` is the registered connection for its id. */
  isCurrent(client: ConnectedClient): boolean {
    return this.clients.get(client.clientId) === client;
  }

  list(): ConnectedClient[] {
    return [...this.clients.values()];
  }

  representatives(): ConnectedClient[] {
    return this.list().filter((client) => client.role === Role.ROLE_REPRESENTATIVE);
  }
}
