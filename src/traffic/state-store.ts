import { randomBytes } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logging/logger.js';
import { ClusterConfig, ErrorCode } from '../protocol/messages.js';
import { readJsonWithBackup, removeStaleTemporaryFiles, writeFileAtomic } from '../storage/atomic-file.js';
import { errorMessage } from '../util/errors.js';

/** Files in the data folder of a traffic node. */
export const IDENTITY_FILE = 'identity.json';
export const CONFIG_FILE = 'cluster-config.json';
export const HISTORY_FILE = 'status-history.json';
export const RUNTIME_FILE = 'node-state.json';
/** History entries kept; the oldest are dropped first. */
export const MAX_HISTORY_ENTRIES = 500;

const GUID_PATTERN = /^[0-9a-f]{32}$/;

/** One row of the status history of configuration applies. */
export interface HistoryEntry {
  atMs: number;
  /** 0 for success; otherwise the protocol ErrorCode of the failure. */
  code: number;
  message: string;
}

/** Settings the master changes without a sync, kept across restarts. */
export interface RuntimeState {
  accepting: boolean;
  /** Highest master term (epoch) this node has seen; 0 before the first master. */
  term: number;
  /** Name of the master that holds `term`; a term belongs to one master only. Absent in files of older versions. */
  termMaster?: string;
}

/** Contents of the configuration file: the applied ClusterConfig as protobuf JSON, bytes in base64. */
interface StoredConfigFile {
  version: number;
  appliedAtMs: number;
  config: Record<string, unknown>;
}

const DEFAULT_RUNTIME: RuntimeState = { accepting: true, term: 0 };

/**
 * The data folder of a traffic node: identity (appliance GUID), applied
 * cluster configuration, status history and runtime state. Every write goes
 * through writeFileAtomic, and writes run one at a time in call order. A new
 * configuration is written to disk before it replaces the copy in memory.
 */
export class StateStore {
  private writing: Promise<void> = Promise.resolve();
  private readonly history: HistoryEntry[] = [];
  private runtime: RuntimeState = { ...DEFAULT_RUNTIME };
  private applied: ClusterConfig | undefined;

  private constructor(
    private readonly deps: { logger: Logger },
    private readonly dataDir: string,
    readonly guid: string,
  ) {}

  /**
   * Opens the data folder. A damaged file is logged as an error naming it,
   * moved aside and replaced by its backup copy. When neither copy can be
   * read, the history and runtime state start fresh, no configuration is
   * applied, and the history records why. Throws when the identity cannot be
   * read, because a new GUID would silently turn this appliance into another one.
   */
  static async open(deps: { logger: Logger }, dataDir: string): Promise<StateStore> {
    const leftovers = await removeStaleTemporaryFiles(dataDir);
    if (leftovers.length > 0) deps.logger.warn({ dataDir, files: leftovers }, 'removed temporary files of writes interrupted by a crash');
    const guid = await loadIdentity(deps.logger, dataDir);
    const store = new StateStore(deps, dataDir, guid);
    await store.loadHistory();
    await store.loadRuntime();
    await store.loadConfig();
    return store;
  }

  /** The applied cluster configuration, or undefined before the first sync and after a disband. */
  get config(): ClusterConfig | undefined {
    return this.applied;
  }

  /** Version of the applied configuration; 0 when none is applied. */
  get appliedVersion(): number {
    return this.applied?.version ?? 0;
  }

  get accepting(): boolean {
    return this.runtime.accepting;
  }

  get term(): number {
    return this.runtime.term;
  }

  /** Master that holds the current term; empty when unknown. */
  get termMaster(): string {
    return this.runtime.termMaster ?? '';
  }

  /** Status history entries, oldest first. */
  listHistory(): readonly HistoryEntry[] {
    return this.history;
  }

  /** Writes `config` to disk, then makes it the applied configuration. */
  async saveConfig(config: ClusterConfig, nowMs = Date.now()): Promise<void> {
    const stored: StoredConfigFile = { version: config.version, appliedAtMs: nowMs, config: configToJson(config) };
    await this.enqueue(() => writeFileAtomic(this.file(CONFIG_FILE), JSON.stringify(stored, null, 2) + '\n'));
    this.applied = config;
  }

  /** Forgets the applied configuration (after a disband); the file then contains `null`. */
  async forgetConfig(): Promise<void> {
    this.applied = undefined;
    await this.enqueue(() => writeFileAtomic(this.file(CONFIG_FILE), 'null\n'));
  }

  /** Changes the runtime state in memory at once, then writes it. */
  async updateRuntime(change: Partial<RuntimeState>): Promise<void> {
    this.runtime = { ...this.runtime, ...change };
    const snapshot = JSON.stringify(this.runtime, null, 2) + '\n';
    await this.enqueue(() => writeFileAtomic(this.file(RUNTIME_FILE), snapshot));
  }

  /** Appends a status history entry and writes the history. A write failure is logged, not thrown. */
  async record(code: number, message: string, nowMs = Date.now()): Promise<void> {
    this.history.push({ atMs: nowMs, code, message });
    if (this.history.length > MAX_HISTORY_ENTRIES) this.history.splice(0, this.history.length - MAX_HISTORY_ENTRIES);
    const snapshot = JSON.stringify(this.history, null, 1) + '\n';
    try {
      await this.enqueue(() => writeFileAtomic(this.file(HISTORY_FILE), snapshot));
    } catch (error) {
      this.deps.logger.error({ file: this.file(HISTORY_FILE), err: errorMessage(error) }, 'writing status history failed');
    }
  }

  /** Resolves once every write queued so far has finished. */
  async flush(): Promise<void> {
    await this.writing.catch(() => undefined);
  }

  private file(name: string): string {
    return join(this.dataDir, name);
  }

  private enqueue(write: () => Promise<void>): Promise<void> {
    const result = this.writing.catch(() => undefined).then(write);
    this.writing = result.catch(() => undefined);
    return result;
  }

  private async loadHistory(): Promise<void> {
    const entries = await loadStateFile(this.deps.logger, this.file(HISTORY_FILE), validateHistory, 'status history');
    if (entries.status === 'ok') this.history.push(...entries.value);
    if (entries.status === 'ok' && entries.restoredFrom !== undefined) await this.record(ErrorCode.ERROR_INTERNAL, `Storage: ${entries.restoredFrom}; restored the status history from its backup copy`);
    if (entries.status === 'damaged') {
      await this.record(ErrorCode.ERROR_INTERNAL, `Storage: status history could not be read (${entries.problem}); starting a new history`);
    }
  }

  private async loadRuntime(): Promise<void> {
    const runtime = await loadStateFile(this.deps.logger, this.file(RUNTIME_FILE), validateRuntime, 'runtime state');
    if (runtime.status === 'ok') this.runtime = runtime.value;
    if (runtime.status === 'ok' && runtime.restoredFrom !== undefined) await this.record(ErrorCode.ERROR_INTERNAL, `Storage: ${runtime.restoredFrom}; restored the runtime state from its backup copy`);
    if (runtime.status === 'damaged') {
      await this.record(ErrorCode.ERROR_INTERNAL, `Storage: runtime state could not be read (${runtime.problem}); accepting new connections with term 0`);
    }
  }

  private async loadConfig(): Promise<void> {
    const file = this.file(CONFIG_FILE);
    const stored = await loadStateFile(this.deps.logger, file, validateConfigFile, 'cluster configuration');
    if (stored.status === 'ok' && stored.value !== null) {
      this.applied = ClusterConfig.fromObject(stored.value.config);
      this.deps.logger.info({ version: this.applied.version, file }, 'loaded applied cluster configuration');
    }
    if (stored.status === 'ok' && stored.restoredFrom !== undefined) {
      await this.record(ErrorCode.ERROR_INTERNAL, `Storage: ${stored.restoredFrom}; restored configuration version ${this.appliedVersion} from its backup copy`);
    }
    if (stored.status === 'damaged') {
      await this.record(ErrorCode.ERROR_INTERNAL, `Storage: cluster configuration could not be read (${stored.problem}); no configuration is applied until the master syncs one`);
    }
  }
}

/** `restoredFrom` names the problem of a primary copy that was replaced by its backup. */
type LoadResult<T> = { status: 'ok'; value: T; restoredFrom?: string } | { status: 'missing' } | { status: 'damaged'; problem: string };

/**
 * Reads one JSON state file; `validate` checks the parsed JSON and returns it
 * unchanged. A damaged primary copy is logged as an error naming the file,
 * moved aside as `<file>.damaged-<ms>` and rewritten from the backup. When no copy can be read, both are moved aside and the caller
 * decides what to start with.
 */
async function loadStateFile<T>(logger: Logger, file: string, validate: (value: unknown) => T, what: string): Promise<LoadResult<T>> {
  const read = await readJsonWithBackup(file, validate);
  if (read.status === 'missing') return { status: 'missing' };

  if (read.status === 'ok' && read.source === 'file') return { status: 'ok', value: read.value };

  if (read.status === 'ok') {
    const movedTo = await moveAside(file);
    logger.error({ file, problem: read.problem, backup: `${file}.bak`, movedTo }, `${what} file is damaged; using its backup copy`);
    // Rewriting now keeps the good backup: with the damaged file moved away, writeFileAtomic has nothing to copy over it.
    await writeFileAtomic(file, JSON.stringify(read.value, null, 2) + '\n');
    return { status: 'ok', value: read.value, restoredFrom: read.problem ?? `${file} was damaged` };
  }

  const movedTo = await moveAside(file);
  const backupMovedTo = await moveAside(`${file}.bak`);
  logger.error({ file, problem: read.problem, movedTo, backupMovedTo }, `${what} file and its backup are damaged; both were moved aside`);
  return { status: 'damaged', problem: read.problem };
}

async function moveAside(file: string): Promise<string | undefined> {
  const target = `${file}.damaged-${Date.now()}`;
  try {
    await rename(file, target);
    return target;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function loadIdentity(logger: Logger, dataDir: string): Promise<string> {
  const file = join(dataDir, IDENTITY_FILE);
  const identity = await loadStateFile(logger, file, validateIdentity, 'identity');
  if (identity.status === 'ok') return identity.value.guid;
  if (identity.status === 'damaged') {
    throw new Error(
      `identity file ${file} and its backup are damaged (${identity.problem}); they were moved aside. ` +
        'Restore one of them as identity.json to keep the appliance GUID, or start again to make a new GUID.',
    );
  }

  const guid = randomBytes(16).toString('hex');
  await writeFileAtomic(file, JSON.stringify({ guid, createdAtMs: Date.now() }, null, 2) + '\n');
  logger.info({ guid, file }, 'created appliance identity');
  return guid;
}

function validateIdentity(value: unknown): { guid: string } {
  const guid = (value as { guid?: unknown } | null)?.guid;
  if (typeof guid !== 'string' || !GUID_PATTERN.test(guid)) {
    throw new Error(`guid is ${JSON.stringify(guid)}; expected 32 lowercase hex digits`);
  }
  return value as { guid: string };
}

function validateHistory(value: unknown): HistoryEntry[] {
  if (!Array.isArray(value)) throw new Error(`expected an array of history entries, got ${typeof value}`);
  value.forEach((entry: Partial<HistoryEntry> | null, index) => {
    if (typeof entry?.atMs !== 'number' || typeof entry.code !== 'number' || typeof entry.message !== 'string') {
      throw new Error(`entry ${index} is ${JSON.stringify(entry)}; expected { atMs: number, code: number, message: string }`);
    }
  });
  return value as HistoryEntry[];
}

function validateRuntime(value: unknown): RuntimeState {
  const runtime = value as Partial<RuntimeState> | null;
  const masterValid = runtime?.termMaster === undefined || typeof runtime.termMaster === 'string';
  if (typeof runtime?.accepting !== 'boolean' || typeof runtime.term !== 'number' || !(runtime.term >= 0) || !masterValid) {
    throw new Error(`expected { accepting: boolean, term: number >= 0, termMaster?: string }, got ${JSON.stringify(value)}`);
  }
  return runtime as RuntimeState;
}

/** Accepts `null` (no configuration applied, as after a disband) or a stored configuration. */
function validateConfigFile(value: unknown): StoredConfigFile | null {
  if (value === null) return null;
  const stored = value as Partial<StoredConfigFile>;
  if (typeof stored !== 'object' || typeof stored.version !== 'number' || typeof stored.config !== 'object' || stored.config === null) {
    throw new Error('expected { version: number, appliedAtMs: number, config: object } or null');
  }
  const problem = ClusterConfig.verify(stored.config);
  if (problem !== null) throw new Error(`config: ${problem}`);
  const config = ClusterConfig.fromObject(stored.config);
  if (config.version !== stored.version) {
    throw new Error(`version is ${stored.version} but config.version is ${config.version}; expected them to match`);
  }
  return stored as StoredConfigFile;
}

/** Converts a configuration to plain JSON: 64-bit numbers as numbers, bytes as base64. */
export function configToJson(config: ClusterConfig): Record<string, unknown> {
  return ClusterConfig.toObject(config, { longs: Number, bytes: String, defaults: true, arrays: true });
}
