import { join } from 'node:path';
import type { Logger } from '../logging/logger.js';
import { ClusterConfig, ErrorCode, type IClusterConfig } from '../protocol/messages.js';
import { readJsonWithBackup, replaceDamagedFile, writeFileAtomic } from '../storage/atomic-file.js';
import { SITE_HOSTNAME } from '../config/constants.js';
import type { StatusHistory } from './status-history.js';

/** Length of the cluster session key that signs session tickets. */
export const SESSION_KEY_BYTES = 32;

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
  if (config.members.length > 0 && config.sessionKey.length !== SESSION_KEY_BYTES) {
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
}

/** Returns a deep copy of a configuration, every field present. */
export function cloneConfig(config: IClusterConfig): ClusterConfig {
  return ClusterConfig.decode(ClusterConfig.encode(ClusterConfig.create(config)).finish());
}

/** Configuration of an appliance that has never been in a cluster: version 0, no members. */
export function emptyConfig(): ClusterConfig {
  return ClusterConfig.create({ version: 0, clusterName: '', method: 'random', members: [], siteHostname: SITE_HOSTNAME });
}

/** True when the configuration describes a cluster, that is, it lists a primary master. */
export function isInCluster(config: IClusterConfig): boolean {
  return (config.members ?? []).some((member) => member.role === 'primary');
}

/**
 * The master's cluster configuration in its data folder. It keeps the
 * current configuration (what the admin interface edits) apart from the
 * last synced one (what traffic nodes are given), because a change counts
 * for the nodes only after a sync. Before the first "create cluster" the
 * current configuration is the empty one (version 0), which is never
 * written. Versions only rise, also across a disband, so a node that still
 * holds an old cluster's configuration rejects nothing newer by mistake.
 */
export class ClusterConfigStore {
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly deps: { logger: Logger; history: StatusHistory },
    private readonly dataDir: string,
    private currentConfig: ClusterConfig,
    private syncedConfig: ClusterConfig | undefined,
  ) {}

  /**
   * Loads both configurations. A zero-byte or corrupt file is reported in the
   * log and the status history, and its backup used. When neither copy of the
   * current configuration can be read this throws: starting empty would
   * silently discard the cluster's configuration.
   */
  static async open(deps: { logger: Logger; history: StatusHistory }, options: ClusterConfigStoreOptions): Promise<ClusterConfigStore> {
    const current = await loadConfigFile(deps, join(options.dataDir, CURRENT_CONFIG_FILE));
    const synced = await loadConfigFile(deps, join(options.dataDir, SYNCED_CONFIG_FILE));
    if (current === undefined) {
      deps.logger.info('no cluster configuration yet; waiting for an administrator to create the cluster');
      return new ClusterConfigStore(deps, options.dataDir, emptyConfig(), synced);
    }
    deps.logger.info({ version: current.version, syncedVersion: synced?.version ?? 0, members: current.members.length }, 'cluster configuration loaded');
    return new ClusterConfigStore(deps, options.dataDir, current, synced);
  }

  /** Configuration as the admin interface last changed it; the empty configuration before the first change. */
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

  /**
   * Applies `change` to a copy of the current configuration, raises the
   * version by one and writes the result atomically before it becomes
   * current. Changes run one at a time in call order, and one that throws
   * changes nothing. Resolves with the new configuration.
   */
  update(change: (draft: ClusterConfig) => void): Promise<ClusterConfig> {
    return this.serialize(async () => {
      const draft = cloneConfig(this.currentConfig);
      change(draft);
      draft.version = this.currentConfig.version + 1;
      const json = configToJson(draft);
      parseStoredConfig(JSON.parse(json));
      await writeFileAtomic(join(this.dataDir, CURRENT_CONFIG_FILE), json);
      this.currentConfig = draft;
      this.deps.logger.info({ version: draft.version, members: draft.members.length, method: draft.method }, 'cluster configuration changed');
      return draft;
    });
  }

  /**
   * Sets one member's accepting flag in the current and the synced
   * configuration without raising the version: the flag takes effect at
   * once and needs no sync. Returns false when the current configuration
   * has no member of that name.
   */
  setAccepting(name: string, accepting: boolean): Promise<boolean> {
    return this.serialize(async () => {
      const apply = (config: ClusterConfig | undefined): ClusterConfig | undefined => {
        if (config?.members.some((member) => member.name === name) !== true) return config;
        const copy = cloneConfig(config);
        for (const member of copy.members) if (member.name === name) member.accepting = accepting;
        return copy;
      };
      if (!this.currentConfig.members.some((member) => member.name === name)) return false;
      const current = apply(this.currentConfig)!;
      const synced = apply(this.syncedConfig);
      await writeFileAtomic(join(this.dataDir, CURRENT_CONFIG_FILE), configToJson(current));
      if (synced !== undefined && synced !== this.syncedConfig) await writeFileAtomic(join(this.dataDir, SYNCED_CONFIG_FILE), configToJson(synced));
      this.currentConfig = current;
      this.syncedConfig = synced;
      this.deps.logger.info({ trafficNode: name, accepting, version: current.version }, 'accepting flag changed without a version change');
      return true;
    });
  }

  /**
   * Records `config` (the current one by default) as the synced one and
   * writes it atomically. The configuration a sync pushed is passed
   * explicitly, because the current one may have changed during the sync.
   */
  markSynced(config: ClusterConfig = this.currentConfig): Promise<void> {
    return this.serialize(async () => {
      await writeFileAtomic(join(this.dataDir, SYNCED_CONFIG_FILE), configToJson(config));
      this.syncedConfig = config;
      this.deps.logger.info({ version: config.version }, 'configuration marked as synced');
    });
  }

  /** Resolves once every change started so far is written (or has failed). */
  async idle(): Promise<void> {
    await this.writing;
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const result = this.writing.then(task);
    this.writing = result.catch(() => undefined);
    return result;
  }
}

async function loadConfigFile(deps: { logger: Logger; history: StatusHistory }, file: string): Promise<ClusterConfig | undefined> {
  const read = await readJsonWithBackup(file, parseStoredConfig);
  if (read.status === 'missing') return undefined;
  if (read.status === 'unreadable') {
    deps.history.record(ErrorCode.ERROR_INTERNAL, `Storage: cluster configuration ${file} cannot be read (${read.problem})`);
    await deps.history.flush();
    throw new Error(`cluster configuration ${file} cannot be read (${read.problem}); restore the file from a copy, or delete the data folder and create the cluster again`);
  }
  if (read.source === 'backup') {
    const movedTo = await replaceDamagedFile(file, configToJson(read.value));
    deps.logger.error({ file, problem: read.problem, movedTo, version: read.value.version }, 'cluster configuration file damaged; using its backup copy');
    deps.history.record(ErrorCode.ERROR_INTERNAL, `Storage: ${read.problem ?? 'damaged file'}; using the backup copy of version ${read.value.version}`);
  }
  return read.value;
}
