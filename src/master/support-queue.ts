import type { atlas } from '../protocol/messages.js';

/** Customers waiting for a representative, oldest first. */
export class SupportQueue {
  private readonly waiting = new Map<string, atlas.IQueueEntry>();

  /**
   * Adds a customer, or updates the issue of one already waiting without
   * changing its place in the queue.
   */
  enqueue(clientId: string, displayName: string, issue: string, nowMs = Date.now()): void {
    const existing = this.waiting.get(clientId);
    if (existing !== undefined) {
      existing.issue = issue;
      existing.displayName = displayName;
      return;
    }
    this.waiting.set(clientId, { clientId, displayName, issue, queuedAtMs: nowMs });
  }

  /** Removes a customer; true when it was waiting. */
  remove(clientId: string): boolean {
    return this.waiting.delete(clientId);
  }

  has(clientId: string): boolean {
    return this.waiting.has(clientId);
  }

  /** Takes the named customer, or the oldest one when `clientId` is empty; undefined when not waiting. */
  take(clientId: string): atlas.IQueueEntry | undefined {
    const id = clientId === '' ? this.waiting.keys().next().value : clientId;
    if (id === undefined) return undefined;
    const entry = this.waiting.get(id);
    this.waiting.delete(id);
    return entry;
  }

  entries(): atlas.IQueueEntry[] {
    return [...this.waiting.values()];
  }
}
