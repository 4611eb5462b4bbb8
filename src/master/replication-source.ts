import type { ClusterConfig, atlas } from '../protocol/messages.js';
import type { SessionRecord } from './session-broker.js';
import { toReplicatedSessionKey, type SessionKey } from './session-keys.js';
import { toReplicatedSession } from './session-replica.js';
import type { StatusEntry } from './status-history.js';

/** The primary's live state that a backup needs to take over. */
export interface ReplicationSources {
  /** Configuration as the admin interface last changed it; undefined before the cluster exists. */
  current: () => ClusterConfig | undefined;
  /** Configuration of the last sync. */
  synced: () => ClusterConfig | undefined;
  history: { list(): readonly StatusEntry[]; readonly recorded: number };
  sessions: { readonly revision: number; list(): SessionRecord[] };
  /** Session keys of the session generation API; none are replicated when absent. */
  sessionKeys?: { readonly revision: number; list(): SessionKey[] };
}

/** An update without the fields the link stamps (sequence number, term, sender). */
export type ReplicationPayload = Omit<atlas.IReplicationUpdate, 'seq' | 'term' | 'primaryName'>;

/**
 * Tracks what one replication link has sent, so the next update carries
 * only the history entries recorded since. Changes are found by comparison:
 * the configuration store replaces its configuration objects on every
 * change, the history counts its entries and the broker its session changes,
 * so nothing that changes the state has to know about replication.
 */
export class ReplicationCursor {
  private sentCurrent: ClusterConfig | undefined;
  private sentSynced: ClusterConfig | undefined;
  private sentHistory = -1;
  private sentSessions = -1;
  private sentSessionKeys = -1;

  constructor(private readonly sources: ReplicationSources) {}

  /** True when the state differs from what the last update carried. */
  hasChanges(): boolean {
    const { sources } = this;
    return (
      sources.current() !== this.sentCurrent ||
      sources.synced() !== this.sentSynced ||
      sources.history.recorded !== this.sentHistory ||
      sources.sessions.revision !== this.sentSessions ||
      (sources.sessionKeys !== undefined && sources.sessionKeys.revision !== this.sentSessionKeys)
    );
  }

  /**
   * Builds the next update and records it as sent. A full update carries the
   * whole history; so does any update whose new entries include some that
   * the history has already dropped as too old.
   */
  next(full: boolean): ReplicationPayload {
    const { sources } = this;
    const entries = sources.history.list();
    const recorded = sources.history.recorded;
    const fresh = recorded - this.sentHistory;
    const whole = full || this.sentHistory < 0 || fresh > entries.length;
    const history = whole ? entries : entries.slice(entries.length - fresh);

    this.sentCurrent = sources.current();
    this.sentSynced = sources.synced();
    this.sentHistory = recorded;
    this.sentSessions = sources.sessions.revision;
    this.sentSessionKeys = sources.sessionKeys?.revision ?? -1;
    return {
      full: whole,
      ...(this.sentCurrent === undefined ? {} : { currentConfig: this.sentCurrent }),
      ...(this.sentSynced === undefined ? {} : { syncedConfig: this.sentSynced }),
      history: history.map((entry) => ({ atMs: entry.atMs, code: entry.code, message: entry.message })),
      sessions: sources.sessions.list().map(toReplicatedSession),
      sessionKeys: (sources.sessionKeys?.list() ?? []).map(toReplicatedSessionKey),
    };
  }
}
