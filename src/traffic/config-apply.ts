import type { Logger } from '../logging/logger.js';
import { ClusterConfig, ErrorCode, type IClusterConfig } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import type { StateStore } from './state-store.js';

/** Shortest session key a pushed configuration may carry; tickets are HMAC-SHA256 with it. */
export const MIN_SESSION_KEY_BYTES = 16;

/** Outcome of one ConfigPush, sent back as ConfigAck. */
export interface ConfigApplyResult {
  version: number;
  applied: boolean;
  /** 0 on success, otherwise the ErrorCode of the rejection. */
  code: ErrorCode;
  message: string;
}

/**
 * Applies pushed cluster configurations one at a time: rejects a version
 * older than the applied one (ERROR_STALE_CONFIG), acknowledges an equal one
 * without rewriting it, and writes a newer one atomically before it takes
 * effect. Every outcome is recorded in the status history.
 */
export class ConfigApplier {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: { logger: Logger; store: StateStore }, private readonly options: { nodeName: string }) {}

  /** Applies `pushed` after every earlier call has finished. */
  apply(pushed: IClusterConfig | null | undefined): Promise<ConfigApplyResult> {
    const result = this.queue.then(() => this.applyNow(pushed));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async applyNow(pushed: IClusterConfig | null | undefined): Promise<ConfigApplyResult> {
    const { store, logger } = this.deps;
    const held = store.appliedVersion;
    const config = ClusterConfig.create(pushed ?? {});
    const version = config.version;

    const problem = describeInvalidConfig(pushed, config);
    if (problem !== undefined) return this.finish({ version, applied: false, code: ErrorCode.ERROR_MALFORMED, message: problem });

    if (version < held) {
      const message = `configuration version ${version} is older than the applied version ${held}; kept version ${held}`;
      return this.finish({ version, applied: false, code: ErrorCode.ERROR_STALE_CONFIG, message });
    }
    if (version === held) {
      return this.finish({ version, applied: true, code: ErrorCode.ERROR_UNSPECIFIED, message: `configuration version ${version} is already applied; nothing written` });
    }

    try {
      await store.saveConfig(config);
    } catch (error) {
      logger.error({ version, err: errorMessage(error) }, 'writing cluster configuration failed');
      return this.finish({ version, applied: false, code: ErrorCode.ERROR_INTERNAL, message: `writing configuration version ${version} failed: ${errorMessage(error)}; kept version ${held}` });
    }
    await this.adoptAcceptingFlag(config);
    logger.info({ version, previousVersion: held, members: config.members.length }, 'cluster configuration applied');
    return this.finish({ version, applied: true, code: ErrorCode.ERROR_UNSPECIFIED, message: `applied configuration version ${version} (was ${held})` });
  }

  /** Takes this node's accepting flag from its member entry, when the configuration lists the node. */
  private async adoptAcceptingFlag(config: ClusterConfig): Promise<void> {
    const { store } = this.deps;
    const member = config.members.find((entry) => entry.name === this.options.nodeName || entry.applianceGuid === store.guid);
    if (member === undefined || member.accepting === store.accepting) return;
    this.deps.logger.info({ accepting: member.accepting, version: config.version }, 'accepting flag changed by configuration');
    await store.updateRuntime({ accepting: member.accepting ?? false });
  }

  private async finish(result: ConfigApplyResult): Promise<ConfigApplyResult> {
    if (result.code !== ErrorCode.ERROR_UNSPECIFIED) {
      this.deps.logger.warn({ version: result.version, code: ErrorCode[result.code], reason: result.message }, 'configuration push rejected');
    }
    await this.deps.store.record(result.code, `Config: ${result.message}`);
    return result;
  }
}

function describeInvalidConfig(pushed: IClusterConfig | null | undefined, config: ClusterConfig): string | undefined {
  if (pushed == null) return 'config_push.config is missing; expected a ClusterConfig';
  if (!Number.isSafeInteger(config.version) || config.version < 1) {
    return `config.version is ${config.version}; expected an integer of at least 1`;
  }
  const keyBytes = config.sessionKey?.length ?? 0;
  if (keyBytes < MIN_SESSION_KEY_BYTES) {
    return `config.session_key is ${keyBytes} bytes; expected at least ${MIN_SESSION_KEY_BYTES} bytes`;
  }
  return undefined;
}
