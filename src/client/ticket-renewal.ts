import type { IAssignment, IEnvelope, atlas } from '../protocol/messages.js';
import { StreamDirection } from '../protocol/messages.js';

/** Time the master gets to reply to a TicketRequest before the reconnect attempt counts as failed. */
export const DEFAULT_TICKET_RENEWAL_TIMEOUT_MS = 5000;

interface PendingRenewal {
  resolve: (assignment: IAssignment) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Fresh tickets for reconnects. A traffic node accepts each ticket once, so
 * a session connection that failed requests a new ticket from the master before
 * it connects to the same node again. At most one request per connection is
 * in flight; a newer request replaces an older one.
 */
export class TicketRenewals {
  private readonly pending = new Map<string, PendingRenewal>();

  constructor(
    private readonly send: (message: Omit<IEnvelope, 'protocolVersion'>) => boolean,
    private readonly timeoutMs = DEFAULT_TICKET_RENEWAL_TIMEOUT_MS,
  ) {}

  /** Sends a TicketRequest for the assignment's connection and resolves with the master's TicketGrant assignment. */
  request(sessionId: string, assignment: IAssignment): Promise<IAssignment> {
    const stream = assignment.stream ?? '';
    const direction = assignment.direction ?? StreamDirection.DIRECTION_UNSPECIFIED;
    const key = renewalKey(sessionId, stream, direction);
    this.pending.get(key)?.reject(new Error('replaced by a newer ticket request'));
    this.forget(key);

    return new Promise((resolve, reject) => {
      if (!this.send({ ticketRequest: { sessionId, stream, direction } })) {
        reject(new Error('cannot request a fresh ticket: not connected to the master'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new Error(`no fresh ticket from the master within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(key, { resolve, reject, timer });
    });
  }

  /** Hands a TicketGrant to the request waiting for it; returns false when none waits. */
  accept(grant: atlas.TicketGrant): boolean {
    const assignment = grant.assignment;
    if (assignment == null) return false;
    const key = renewalKey(grant.sessionId, assignment.stream ?? '', assignment.direction ?? StreamDirection.DIRECTION_UNSPECIFIED);
    const pending = this.pending.get(key);
    if (pending === undefined) return false;
    this.forget(key);
    pending.resolve(assignment);
    return true;
  }

  /** Fails every waiting request, for example when the session ended. */
  rejectAll(reason: string): void {
    for (const [key, pending] of this.pending) {
      this.forget(key);
      pending.reject(new Error(reason));
    }
  }

  private forget(key: string): void {
    const pending = this.pending.get(key);
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    this.pending.delete(key);
  }
}

function renewalKey(sessionId: string, stream: string, direction: StreamDirection): string {
  return `${sessionId} ${stream} ${direction}`;
}
