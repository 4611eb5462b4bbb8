import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, TicketClaims, type ISessionTicket, type Role, type StreamDirection } from './messages.js';
import { ProtocolError } from './envelope.js';

/** Lifetime of a session ticket: long enough to connect, short enough to limit a leaked one. */
export const DEFAULT_TICKET_TTL_MS = 60_000;

export interface TicketFields {
  sessionId: string;
  participantId: string;
  role: Role;
  stream: string;
  direction: StreamDirection;
  /** Traffic node allowed to accept the ticket; empty lets any node of the cluster accept it. */
  node: string;
  reason: string;
}

/** Issues a ticket: claims encoded with protobuf, MAC is HMAC-SHA256 over exactly those bytes. */
export function issueTicket(sessionKey: Uint8Array, fields: TicketFields, nowMs = Date.now(), ttlMs = DEFAULT_TICKET_TTL_MS): ISessionTicket {
  const claims = TicketClaims.encode({
    ticketId: randomBytes(12).toString('hex'),
    sessionId: fields.sessionId,
    participantId: fields.participantId,
    role: fields.role,
    stream: fields.stream,
    direction: fields.direction,
    node: fields.node,
    expiresAtMs: nowMs + ttlMs,
    reason: fields.reason,
  }).finish();
  return { claims, mac: ticketMac(sessionKey, claims) };
}

/**
 * Verifies a ticket for `nodeName` and returns its claims. Throws a
 * ProtocolError with ERROR_TICKET_INVALID (forged or damaged),
 * ERROR_TICKET_EXPIRED or ERROR_TICKET_WRONG_NODE. Replay detection needs
 * memory of used tickets and lives with the caller (TicketReplayGuard).
 */
export function verifyTicket(sessionKey: Uint8Array, ticket: ISessionTicket | null | undefined, nodeName: string, nowMs = Date.now()): TicketClaims {
  const claimsBytes = ticket?.claims;
  const mac = ticket?.mac;
  if (claimsBytes == null || mac == null || claimsBytes.length === 0) {
    throw new ProtocolError(ErrorCode.ERROR_TICKET_INVALID, 'session ticket is missing; request a new one from the master');
  }

  const expected = ticketMac(sessionKey, claimsBytes);
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw new ProtocolError(ErrorCode.ERROR_TICKET_INVALID, 'session ticket signature does not verify; it is forged or was issued with another session key');
  }

  let claims: TicketClaims;
  try {
    claims = TicketClaims.decode(claimsBytes);
  } catch {
    throw new ProtocolError(ErrorCode.ERROR_TICKET_INVALID, 'session ticket claims are malformed');
  }

  if (claims.expiresAtMs <= nowMs) {
    throw new ProtocolError(ErrorCode.ERROR_TICKET_EXPIRED, `session ticket expired ${nowMs - claims.expiresAtMs} ms ago; request a new one from the master`);
  }
  if (claims.node !== '' && claims.node !== nodeName) {
    throw new ProtocolError(ErrorCode.ERROR_TICKET_WRONG_NODE, `session ticket is for traffic node ${claims.node}, not ${nodeName}`);
  }
  return claims;
}

/** Remembers used ticket ids until they expire, so each ticket opens one connection. */
export class TicketReplayGuard {
  private readonly used = new Map<string, number>();

  /** Records the ticket as used; throws ERROR_TICKET_REPLAYED if it was used before. */
  consume(claims: TicketClaims, nowMs = Date.now()): void {
    this.prune(nowMs);
    if (this.used.has(claims.ticketId)) {
      throw new ProtocolError(ErrorCode.ERROR_TICKET_REPLAYED, 'session ticket was already used; each ticket opens one connection');
    }
    this.used.set(claims.ticketId, claims.expiresAtMs);
  }

  get size(): number {
    return this.used.size;
  }

  private prune(nowMs: number): void {
    for (const [id, expiresAt] of this.used) {
      if (expiresAt <= nowMs) this.used.delete(id);
    }
  }
}

function ticketMac(sessionKey: Uint8Array, claims: Uint8Array): Buffer {
  return createHmac('sha256', sessionKey).update(claims).digest();
}
