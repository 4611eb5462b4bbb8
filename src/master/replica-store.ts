import { join } from 'node:path';
import type { Logger } from '../logging/logger.js';
import { atlas } from '../protocol/messages.js';
import { readJsonWithBackup, writeFileAtomic } from '../storage/atomic-file.js';
import { CURRENT_CONFIG_FILE, SYNCED_CONFIG_FILE, configToJson, parseStoredConfig } from './cluster-config-store.js';
import { MAX_STATUS_HISTORY_ENTRIES, STATUS_HISTORY_FILE, validateStatusEntries, type StatusEntry } from './status-history.js';

/** File in a master's data folder with the sessions the primary had brokered when it last replicated. */
export const REPLICATED_SESSIONS_FILE = 'replicated-sessions.json';
/** File in a master's data folder with the primary's unexpired session keys; writeFileAtomic makes it mode 0600. */
export const REPLICATED_SESSION_KEYS_FILE = 'replicated-session-keys.json';

/** What the backup's status report shows about the state it holds. */
export interface ReplicaStatus {
  /** Sequence number of the last update written; 0 before the first one in this process. */
  appliedSeq: number;
  appliedAtMs: number;
  primaryName: string;
  primaryTerm: number;
  configVersion: number;
  syncedVersion: number;
  historyEntries: number;
  sessions: number;
}

/**
 * The backup master's copy of the primary's state, kept in the same data
 * folder files the primary uses (configurations and status history), plus
 * the brokered sessions. A backup that takes over opens its data folder like
 * any primary does, so whatever was acknowledged is what it starts from.
 */
export class ReplicaStore {
  private writing: Promise<void> = Promise.resolve();
  private currentJson = '';
  private syncedJson = '';
  private sessionsJson = '';
  private sessionKeysJson = '';
  private applied: ReplicaStatus;

  private constructor(
    private readonly deps: { logger: Logger },
    private readonly dataDir: string,
    private history: StatusEntry[],
    status: Partial<ReplicaStatus>,
  ) {
    this.applied = { appliedSeq: 0, appliedAtMs: 0, primaryName: '', primaryTerm: 0, configVersion: 0, syncedVersion: 0, historyEntries: history.length, sessions: 0, ...status };
  }

  /** Opens the replica in a data folder, reading what an earlier run stored there. */
  static async open(deps: { logger: Logger }, dataDir: string): Promise<ReplicaStore> {
    const history = await readJsonWithBackup(join(dataDir, STATUS_HISTORY_FILE), validateStatusEntries);
    const current = await readJsonWithBackup(join(dataDir, CURRENT_CONFIG_FILE), parseStoredConfig);
    const synced = await readJsonWithBackup(join(dataDir, SYNCED_CONFIG_FILE), parseStoredConfig);
    const sessions = await readJsonWithBackup(join(dataDir, REPLICATED_SESSIONS_FILE), validateSessionsFile);
    const store = new ReplicaStore(deps, dataDir, history.status === 'ok' ? history.value : [], {
      configVersion: current.status === 'ok' ? current.value.version : 0,
      syncedVersion: synced.status === 'ok' ? synced.value.version : 0,
      sessions: sessions.status === 'ok' ? sessions.value.length : 0,
    });
    if (current.status === 'ok') store.currentJson = configToJson(current.value);
    if (synced.status === 'ok') store.syncedJson = configToJson(synced.value);
    return store;
  }

  /** True once the data folder holds a configuration to take over with. */
  get hasConfig(): boolean {
    return this.currentJson !== '';
  }

  status(): ReplicaStatus {
    return { ...this.applied };
  }

  /** The replicated status history, oldest first. */
  historyEntries(): readonly StatusEntry[] {
    return this.history;
  }

  /** Resolves once every update passed to apply() so far is written or has failed. */
  async idle(): Promise<void> {
    await this.writing;
  }

  /**
   * Writes one update: each file whose content changed, atomically, one
   * update at a time. Resolves once everything is on disk, which is when the
   * backup acknowledges the update; rejects when a write fails.
   */
  apply(update: atlas.ReplicationUpdate): Promise<void> {
    const write = this.writing.then(() => this.write(update));
    this.writing = write.catch(() => undefined);
    return write;
  }

  private async write(update: atlas.ReplicationUpdate): Promise<void> {
    // Version 0 is the configuration of a master in no cluster, which is never written to disk.
    if (update.currentConfig != null && (update.currentConfig.version ?? 0) > 0) {
      const json = configToJson(update.currentConfig);
      if (json !== this.currentJson) await writeFileAtomic(join(this.dataDir, CURRENT_CONFIG_FILE), json);
      this.currentJson = json;
    }
    if (update.syncedConfig != null && (update.syncedConfig.version ?? 0) > 0) {
      const json = configToJson(update.syncedConfig);
      if (json !== this.syncedJson) await writeFileAtomic(join(this.dataDir, SYNCED_CONFIG_FILE), json);
      this.syncedJson = json;
    }

    const entries = update.history.map((record): StatusEntry => ({ atMs: record.atMs ?? 0, code: record.code ?? 0, message: record.message ?? '' }));
    if (update.full || entries.length > 0) {
      const history = update.full ? entries : [...this.history, ...entries];
      if (history.length > MAX_STATUS_HISTORY_ENTRIES) history.splice(0, history.length - MAX_STATUS_HISTORY_ENTRIES);
      await writeFileAtomic(join(this.dataDir, STATUS_HISTORY_FILE), JSON.stringify(history, null, 1));
      this.history = history;
    }

    const sessions = update.sessions.map((session) => atlas.ReplicatedSession.toObject(atlas.ReplicatedSession.fromObject(session), { longs: Number, enums: Number, defaults: true, arrays: true }));
    const sessionsJson = JSON.stringify(sessions, null, 1);
    if (sessionsJson !== this.sessionsJson) await writeFileAtomic(join(this.dataDir, REPLICATED_SESSIONS_FILE), sessionsJson);
    this.sessionsJson = sessionsJson;

    const keys = update.sessionKeys.map((key) => atlas.ReplicatedSessionKey.toObject(atlas.ReplicatedSessionKey.fromObject(key), { longs: Number, defaults: true }));
    const sessionKeysJson = JSON.stringify(keys, null, 1);
    if (sessionKeysJson !== this.sessionKeysJson) await writeFileAtomic(join(this.dataDir, REPLICATED_SESSION_KEYS_FILE), sessionKeysJson);
    this.sessionKeysJson = sessionKeysJson;

    this.applied = {
      appliedSeq: update.seq,
      appliedAtMs: Date.now(),
      primaryName: update.primaryName,
      primaryTerm: update.term,
      configVersion: update.currentConfig?.version ?? this.applied.configVersion,
      syncedVersion: update.syncedConfig?.version ?? this.applied.syncedVersion,
      historyEntries: this.history.length,
      sessions: sessions.length,
    };
    this.deps.logger.debug({ seq: update.seq, full: update.full, configVersion: this.applied.configVersion, history: entries.length, sessions: sessions.length }, 'replication update stored');
  }
}

/** Reads the sessions a backup stored, as replicated messages; an absent or unreadable file gives none. */
export async function readReplicatedSessions(deps: { logger: Logger }, dataDir: string): Promise<atlas.ReplicatedSession[]> {
  const file = join(dataDir, REPLICATED_SESSIONS_FILE);
  const read = await readJsonWithBackup(file, validateSessionsFile);
  if (read.status === 'unreadable') {
    deps.logger.error({ file, problem: read.problem }, 'replicated sessions cannot be read; sessions of the former primary end when their clients reconnect');
    return [];
  }
  return read.status === 'ok' ? read.value : [];
}

function validateSessionsFile(value: unknown): atlas.ReplicatedSession[] {
  if (!Array.isArray(value)) throw new Error(`expected an array of replicated sessions, got ${typeof value}`);
  return value.map((entry: unknown, index) => {
    const problem = atlas.ReplicatedSession.verify(entry as Record<string, unknown>);
    if (problem !== null) throw new Error(`session ${index}: ${problem}`);
    return atlas.ReplicatedSession.fromObject(entry as Record<string, unknown>);
  });
}

/** Reads the session keys a backup stored; an absent or unreadable file gives none, so their customers are rejected. */
export async function readReplicatedSessionKeys(deps: { logger: Logger }, dataDir: string): Promise<atlas.ReplicatedSessionKey[]> {
  const file = join(dataDir, REPLICATED_SESSION_KEYS_FILE);
  const read = await readJsonWithBackup(file, validateSessionKeysFile);
  if (read.status === 'unreadable') {
    deps.logger.error({ file, problem: read.problem }, 'replicated session keys cannot be read; customers with keys of the former primary are rejected');
    return [];
  }
  return read.status === 'ok' ? read.value : [];
}

function validateSessionKeysFile(value: unknown): atlas.ReplicatedSessionKey[] {
  if (!Array.isArray(value)) throw new Error(`expected an array of replicated session keys, got ${typeof value}`);
  return value.map((entry: unknown, index) => {
    const problem = atlas.ReplicatedSessionKey.verify(entry as Record<string, unknown>);
    if (problem !== null) throw new Error(`session key ${index}: ${problem}`);
    return atlas.ReplicatedSessionKey.fromObject(entry as Record<string, unknown>);
  });
}
