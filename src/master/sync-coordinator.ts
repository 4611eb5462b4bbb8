import PQueue from 'p-queue';
import type { DisbandReport, NodeSyncResult, RemovedNodeResult, SyncReport } from '../admin/api-types.js';
import type { Logger } from '../logging/logger.js';
import { HttpError } from '../net/http/router.js';
import { errorCodeName } from '../protocol/envelope.js';
import { ErrorCode, type ClusterConfig, type IClusterMember } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import { LinkUnavailableError, type ApplianceLink } from './appliance-link.js';
import type { ApplianceLinks } from './appliance-links.js';
import { isInCluster, type ClusterConfigStore } from './cluster-config-store.js';
import type { StatusHistory } from './status-history.js';

/** Traffic nodes that get the configuration at the same time during a sync, or the Disband during a disband. */
export const DEFAULT_SYNC_CONCURRENCY = 16;
/** Time a node that is not online gets to connect and authenticate during a sync. */
export const DEFAULT_SYNC_CONNECT_TIMEOUT_MS = 5_000;
/** Time a node gets to apply the configuration and acknowledge it, or to confirm a disband. */
export const DEFAULT_SYNC_ACK_TIMEOUT_MS = 10_000;

export interface SyncCoordinatorDeps {
  logger: Logger;
  store: ClusterConfigStore;
  history: StatusHistory;
  links: ApplianceLinks;
  /** Called once a configuration is the synced one (after Sync Now and after a disband). */
  onSynced: (config: ClusterConfig) => void;
  /** Called with the version a sync starts giving out, and with undefined when it ends. */
  onPending?: (version: number | undefined) => void;
}

export interface SyncCoordinatorOptions {
  concurrency?: number;
  connectTimeoutMs?: number;
  ackTimeoutMs?: number;
}

/**
 * Sync Now and Disband on the primary master. A sync pushes the whole
 * current configuration to every traffic node over its appliance link,
 * several nodes at a time through a bounded queue. The status history gets
 * the start, each node's start and finish (or failure, with its code and
 * reason) and the finish, in the wording of the real product. A node that
 * cannot be reached fails alone, and the others still sync. Only one sync
 * or disband runs at a time.
 */
export class SyncCoordinator {
  private busy: 'sync' | 'disband' | undefined;
  private target: ClusterConfig | undefined;

  constructor(private readonly deps: SyncCoordinatorDeps, private readonly options: SyncCoordinatorOptions = {}) {}

  get syncInProgress(): boolean {
    return this.busy === 'sync';
  }

  /** Configuration a running sync gives out; undefined between syncs. */
  get pendingConfig(): ClusterConfig | undefined {
    return this.target;
  }

  /** Runs Sync Now and resolves with every node's outcome; throws HttpError 409 when it cannot start. */
  async sync(): Promise<SyncReport> {
    const { store, history, links } = this.deps;
    const target = store.current;
    if (!isInCluster(target)) throw new HttpError(409, { error: 'this appliance is not in a cluster; create the cluster first (atlas-sim cluster create)' });
    this.claim('sync');

    const startedAtMs = Date.now();
    const logger = this.deps.logger.child({ sync: target.version });
    const traffic = target.members.filter((member) => member.role === 'traffic');
    try {
      history.record(0, 'Data Sync: Started configuration data sync with traffic nodes.');
      logger.info({ version: target.version, nodes: traffic.length, concurrency: this.concurrency }, 'sync started');
      this.target = target;
      this.deps.onPending?.(target.version);
      await links.ensure(traffic);

      const queue = new PQueue({ concurrency: this.concurrency });
      const results = await Promise.all(traffic.map((member) => queue.add(() => this.syncNode(member, target, logger))));

      const removed = await this.notifyRemoved(traffic, logger);
      await store.markSynced(target);
      await links.setMembers(traffic);
      this.deps.onSynced(target);

      const failed = results.filter((result) => !result.ok);
      const finishedAtMs = Date.now();
      const summary = failed.length === 0
        ? 'Data Sync: Finished data sync with traffic nodes.'
        : `Data Sync: Finished data sync with traffic nodes; ${failed.length} of ${results.length} failed: ${failed.map((result) => result.name).join(', ')}.`;
      history.record(failed[0]?.code ?? 0, summary);
      logger.info({ version: target.version, succeeded: results.length - failed.length, failed: failed.length, durationMs: finishedAtMs - startedAtMs }, 'sync finished');
      return { version: target.version, startedAtMs, finishedAtMs, durationMs: finishedAtMs - startedAtMs, succeeded: results.length - failed.length, failed: failed.length, nodes: results, removed };
    } finally {
      this.target = undefined;
      this.deps.onPending?.(undefined);
      this.busy = undefined;
    }
  }

  /**
   * Disbands the cluster: sends every linked traffic node a Disband,
   * records each attempt, then stores a configuration without members (this
   * master leaves too). Nodes that could not be notified are listed, and
   * each can leave by itself with `atlas-sim node leave`.
   */
  async disband(): Promise<DisbandReport> {
    const { store, history, links } = this.deps;
    if (!isInCluster(store.current)) throw new HttpError(409, { error: 'this appliance is not in a cluster; there is nothing to disband' });
    this.claim('disband');

    const logger = this.deps.logger.child({ disband: store.current.clusterName });
    try {
      const names = links.states().map((state) => state.name);
      history.record(0, `Disband: Started removing every node from cluster ${store.current.clusterName}; notifying ${names.length} traffic nodes.`);
      const queue = new PQueue({ concurrency: this.concurrency });
      const outcomes = await Promise.all(names.map((name) => queue.add(() => this.notifyDisband(name, logger))));

      const config = await store.update((draft) => {
        draft.members = [];
      });
      await store.markSynced(config);
      await links.setMembers([]);
      this.deps.onSynced(config);

      const notified = outcomes.filter((outcome) => outcome.reason === undefined).map((outcome) => outcome.name);
      const unreachable = outcomes.filter((outcome) => outcome.reason !== undefined).map((outcome) => ({ name: outcome.name, reason: outcome.reason ?? '' }));
      const summary = unreachable.length === 0
        ? `Disband: Finished; the cluster is disbanded and all ${notified.length} traffic nodes were notified.`
        : `Disband: Finished; the cluster is disbanded. Not notified: ${unreachable.map((entry) => entry.name).join(', ')}; remove each from the cluster on the node itself (atlas-sim node leave).`;
      history.record(unreachable.length === 0 ? 0 : ErrorCode.ERROR_NODE_UNREACHABLE, summary);
      logger.info({ version: config.version, notified, unreachable: unreachable.map((entry) => entry.name) }, 'cluster disbanded');
      return { version: config.version, notified, unreachable };
    } finally {
      this.busy = undefined;
    }
  }

  private get concurrency(): number {
    return this.options.concurrency ?? DEFAULT_SYNC_CONCURRENCY;
  }

  private claim(operation: 'sync' | 'disband'): void {
    if (this.busy !== undefined) throw new HttpError(409, { error: `a ${this.busy} is in progress; wait for it to finish and try again` });
    this.busy = operation;
  }

  private async syncNode(member: IClusterMember, target: ClusterConfig, logger: Logger): Promise<NodeSyncResult> {
    const name = member.name ?? '';
    const startedMs = Date.now();
    const { history } = this.deps;
    history.record(0, `Data Sync: Started configuration data sync with ${name}.`);

    const fail = (code: ErrorCode, message: string): NodeSyncResult => {
      history.record(code, `Data Sync: Failed configuration data sync with ${name}: ${message}`);
      logger.warn({ trafficNode: name, code: errorCodeName(code), reason: message }, 'node sync failed');
      return { name, ok: false, code, codeName: errorCodeName(code), message, durationMs: Date.now() - startedMs };
    };

    try {
      const link = this.requireLink(name);
      await link.waitReady(this.options.connectTimeoutMs ?? DEFAULT_SYNC_CONNECT_TIMEOUT_MS);
      // A node that joined during this sync was given the target version at join time already.
      const ack = link.state.appliedConfigVersion === target.version ? undefined : await link.pushConfig(target, this.options.ackTimeoutMs ?? DEFAULT_SYNC_ACK_TIMEOUT_MS);
      if (ack !== undefined && !ack.applied) {
        const code = ack.code === ErrorCode.ERROR_UNSPECIFIED ? ErrorCode.ERROR_INTERNAL : ack.code;
        return fail(code, `node rejected configuration version ${target.version}: ${ack.message || errorCodeName(code)}`);
      }
    } catch (error) {
      if (error instanceof LinkUnavailableError) return fail(error.code, error.reason);
      return fail(ErrorCode.ERROR_INTERNAL, errorMessage(error));
    }

    history.record(0, `Data Sync: Finished configuration data sync with ${name}.`);
    return { name, ok: true, code: 0, codeName: 'OK', message: `applied configuration version ${target.version}`, durationMs: Date.now() - startedMs };
  }

  /**
   * Notifies each node that has a link but is no longer a member (removed
   * by an administrator since the last sync) that it left the cluster, and
   * records each attempt. A node that cannot be notified keeps its last
   * configuration until `atlas-sim node leave` runs on it.
   */
  private async notifyRemoved(members: readonly IClusterMember[], logger: Logger): Promise<RemovedNodeResult[]> {
    const keep = new Set(members.map((member) => member.name ?? ''));
    const names = this.deps.links.states().map((state) => state.name).filter((name) => !keep.has(name));
    const queue = new PQueue({ concurrency: this.concurrency });
    return Promise.all(names.map((name) => queue.add(() => this.notifyRemovedNode(name, logger))));
  }

  private async notifyRemovedNode(name: string, logger: Logger): Promise<RemovedNodeResult> {
    const { history } = this.deps;
    try {
      const link = this.requireLink(name);
      await link.waitReady(this.options.connectTimeoutMs ?? DEFAULT_SYNC_CONNECT_TIMEOUT_MS);
      await link.sendDisband(this.options.ackTimeoutMs ?? DEFAULT_SYNC_ACK_TIMEOUT_MS, true);
    } catch (error) {
      const code = error instanceof LinkUnavailableError ? error.code : ErrorCode.ERROR_INTERNAL;
      const reason = error instanceof LinkUnavailableError ? error.reason : errorMessage(error);
      history.record(code, `Data Sync: Could not notify removed node ${name}: ${reason}. Remove it from the cluster on the node itself (atlas-sim node leave).`);
      logger.warn({ trafficNode: name, code: errorCodeName(code), reason }, 'removed traffic node not notified');
      return { name, notified: false, reason };
    }
    history.record(0, `Data Sync: Notified removed node ${name} that it is no longer in the cluster.`);
    logger.info({ trafficNode: name }, 'removed traffic node notified');
    return { name, notified: true };
  }

  private async notifyDisband(name: string, logger: Logger): Promise<{ name: string; reason?: string }> {
    const { history } = this.deps;
    try {
      const link = this.requireLink(name);
      await link.waitReady(this.options.connectTimeoutMs ?? DEFAULT_SYNC_CONNECT_TIMEOUT_MS);
      await link.sendDisband(this.options.ackTimeoutMs ?? DEFAULT_SYNC_ACK_TIMEOUT_MS);
    } catch (error) {
      const code = error instanceof LinkUnavailableError ? error.code : ErrorCode.ERROR_INTERNAL;
      const reason = error instanceof LinkUnavailableError ? error.reason : errorMessage(error);
      history.record(code, `Disband: Could not notify ${name}: ${reason}. Remove it from the cluster on the node itself (atlas-sim node leave).`);
      logger.warn({ trafficNode: name, code: errorCodeName(code), reason }, 'traffic node not notified of the disband');
      return { name, reason };
    }
    history.record(0, `Disband: Notified ${name} that it is no longer in a cluster.`);
    return { name };
  }

  private requireLink(name: string): ApplianceLink {
    const link = this.deps.links.get(name);
    if (link === undefined) throw new LinkUnavailableError(ErrorCode.ERROR_INTERNAL, `no appliance link to ${name}`);
    return link;
  }
}
