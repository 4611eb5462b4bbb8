import { join } from 'node:path';
import type { Logger } from '../logging/logger.js';
import { ClusterConfig, ErrorCode, type IClusterConfig } from '../protocol/messages.js';
import { readJsonWithBackup, writeFileAtomic } from '../storage/atomic-file.js';
import { SESSION_KEY_BYTES } from './initial-cluster-config.js';
import type { StatusHistory } from './status-history.js';

/** Configuration the admin interface edits; its version rises with every change. */
export const CURRENT_CONFIG_FILE = 'cluster-config.json';
/** Configuration as last pushed to the traffic nodes by a sync. */
export const SYNCED_CONFIG_FILE = 'synced-config.json';

const MEMBER_ROLES = ['primary', 'backup', 'traffic'];

/** Converts a configuration to the JSON stored on disk: bytes as base64, every field present. */
export function configToJson(config: IClusterConfig): string {
  const object = ClusterConfig.toObject(ClusterConfig.create(config), { bytes: String, longs: Number, defaults: true, arrays: true });
  return JSON.stringify(object, null, 2);
}

/** Checks a parsed configuration file and converts it; throws naming the field and the expected value. */
export function parseStoredConfig(value: unknown): ClusterConfig {
  const problem = ClusterConfig.verify(value as Record<string, unknown>);
  if (problem !== null) throw new Error(`not a ClusterConfig: ${problem}`);
  const config = ClusterConfig.fromObject(value as Record<string, unknown>);

  if (!Number.isInteger(config.version) || config.version < 1) {
    throw new Error(`version is ${JSON.stringify(config.version)}; expected an integer of at least 1`);
  }
  if (config.sessionKey.length !== SESSION_KEY_BYTES) {
    throw new Error(`sessionKey has ${config.sessionKey.length} bytes; expected ${SESSION_KEY_BYTES}`);
  }
  config.members.forEach((member, index) => {
    if (!member.name) throw new Error(`members[${index}].name is empty; every member needs a name`);
    if (!MEMBER_ROLES.includes(member.role ?? '')) {
      throw new Error(`members[${index}].role is ${JSON.stringify(member.role)}; expected one of ${MEMBER_ROLES.join(', ')}`);
    }
  });
  return config;
}

export interface ClusterConfigStoreOptions {
  dataDir: string;
  /** Builds the first configuration when the data folder has none. */
  initial: () => Promise<IClusterConfig>;
}

/**
 * The master's cluster configuration in its data folder. It keeps the
 * current configuration (what the admin interface edits) apart from the
 * last synced one (what traffic nodes are given), because a change counts
 * for the nodes only after a sync.
 */
export class ClusterConfigStore {
  private constructor(
    private readonly deps: { logger: Logger; history: StatusHistory },
    private readonly dataDir: string,
    private currentConfig: ClusterConfig,
    private syncedConfig: ClusterConfig | undefined,
  ) {}

  /**
   * Loads both configurations. A zero-byte or corrupt file is reported in the
   * log and the status history, and its backup used. When neither copy of the
   * current configuration can be read this throws: starting from the seed
   * would silently discard the cluster's configuration.
   */
  static async open(deps: { logger: Logger; history: StatusHistory }, options: ClusterConfigStoreOptions): Promise<ClusterConfigStore> {
    const current = await loadConfigFile(deps, join(options.dataDir, CURRENT_CONFIG_FILE));
    const synced = await loadConfigFile(deps, join(options.dataDir, SYNCED_CONFIG_FILE));

    if (current !== undefined) {
      deps.logger.info({ version: current.version, syncedVersion: synced?.version ?? 0 }, 'cluster configuration loaded');
      return new ClusterConfigStore(deps, options.dataDir, current, synced);
    }

    // The round trip through the stored form checks the seed exactly as a later start checks the file.
    const json = configToJson(await options.initial());
    const initial = parseStoredConfig(JSON.parse(json));
    await writeFileAtomic(join(options.dataDir, CURRENT_CONFIG_FILE), json);
    const store = new ClusterConfigStore(deps, options.dataDir, initial, synced);
    deps.logger.info({ version: initial.version, members: initial.members.length, method: initial.method }, 'cluster configuration created from the seed');
    return store;
  }

  /** Configuration as the admin interface last changed it. */
  get current(): ClusterConfig {
    return this.currentConfig;
  }

  /** Configuration of the last sync, or undefined before the first sync. */
  get synced(): ClusterConfig | undefined {
    return this.syncedConfig;
  }

  /** Version of the last synced configuration; 0 before the first sync. */
  get syncedVersion(): number {
    return this.syncedConfig?.version ?? 0;
  }

  /** True when the current configuration differs from the last synced one ("sync required"). */
  get syncRequired(): boolean {
    return this.currentConfig.version !== this.syncedVersion;
  }

  /** Records the current configuration as the synced one and writes it atomically. */
  async markSynced(): Promise<void> {
    const config = this.currentConfig;
    await writeFileAtomic(join(this.dataDir, SYNCED_CONFIG_FILE), configToJson(config));
    this.syncedConfig = config;
    this.deps.logger.info({ version: config.version }, 'configuration marked as synced');
  }
}

async function loadConfigFile(deps: { logger: Logger; history: StatusHistory }, file: string): Promise<ClusterConfig | undefined> {
  const read = await readJsonWithBackup(file, parseStoredConfig);
  if (read.status === 'missing') return undefined;
  if (read.status === 'unreadable') {
    deps.history.record(ErrorCode.ERROR_INTERNAL, `Storage: cluster configuration ${file} cannot be read (${read.problem})`);
    await deps.history.flush();
    throw new Error(`cluster configuration ${file} cannot be read (${read.problem}); restore the file from a copy, or delete the data folder to build a new cluster from the seed`);
  }
  if (read.source === 'backup') {
    deps.history.record(ErrorCode.ERROR_INTERNAL, `Storage: ${read.problem ?? 'damaged file'}; using the backup copy of version ${read.value.version}`);
    await writeFileAtomic(file, configToJson(read.value));
  }
  return read.value;
}
