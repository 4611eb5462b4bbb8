import { createHmac } from 'node:crypto';
import { DEFAULT_PEER_TO_PEER } from '../config/peer-to-peer.js';
import { StreamDirection, type ClusterConfig, type Role, type atlas } from '../protocol/messages.js';
import { DEFAULT_TICKET_TTL_MS, issueTicket } from '../protocol/tickets.js';

/** Stream name in the claims of a direct ticket: the ticket opens the one direct connection that carries every stream. */
export const DIRECT_TICKET_STREAM = 'direct';

/** Node name a direct ticket names: the direct listener of the client `clientId`. */
export function directNodeName(clientId: string): string {
  return `direct:${clientId}`;
}

/**
 * Derives the key that signs the direct tickets of one session. Clients never
 * hold the cluster session key, so the master sends both participants this
 * per-session key over their control channels. A leaked key opens no other session.
 */
export function directSessionKey(sessionKey: Uint8Array, sessionId: string): Buffer {
  return createHmac('sha256', sessionKey).update(`atlas-direct-v1|${sessionId}`).digest();
}

/** One participant as a direct plan needs it. */
export interface DirectParticipant {
  clientId: string;
  role: Role;
}

/**
 * Builds the DirectPlan of one participant for a session start: the STUN
 * server, the timeout, the session's direct key and a ticket for the peer's
 * direct listener. Returns undefined when the cluster has peer to peer off.
 * With force relay, or without a STUN server, the plan carries the reason to skip.
 */
export function buildDirectPlan(
  config: ClusterConfig,
  stunServer: string | undefined,
  sessionId: string,
  self: DirectParticipant,
  peer: DirectParticipant,
  nowMs = Date.now(),
): atlas.IDirectPlan | undefined {
  if (!config.p2pEnabled) return undefined;
  const timeoutMs = config.p2pTimeoutMs || DEFAULT_PEER_TO_PEER.timeoutMs;
  if (config.forceRelay) return { timeoutMs, skipReason: 'force relay is set on the cluster, so no direct attempt is made' };
  if (stunServer === undefined || stunServer === '') {
    const role = config.stunRole || DEFAULT_PEER_TO_PEER.stunRole;
    const missing = role === 'master' ? 'the master has the STUN role but serves no STUN (see its log)' : 'the cluster names no public STUN server';
    return { timeoutMs, skipReason: `no STUN server to query: ${missing}` };
  }

  const directKey = directSessionKey(config.sessionKey, sessionId);
  const ticket = issueTicket(
    directKey,
    {
      sessionId,
      participantId: self.clientId,
      role: self.role,
      stream: DIRECT_TICKET_STREAM,
      direction: StreamDirection.DIRECTION_UNSPECIFIED,
      node: directNodeName(peer.clientId),
      reason: 'direct path',
    },
    nowMs,
    Math.max(DEFAULT_TICKET_TTL_MS, 2 * timeoutMs),
  );
  return { stunServer, timeoutMs, directKey, ticket, skipReason: '' };
}
