import type { Endpoint } from '../config/node-config.js';
import type { Logger } from '../logging/logger.js';
import { atlas, type ClusterConfig, type IClusterMember } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import { isInCluster, type ClusterConfigStore } from './cluster-config-store.js';
import type { PeerMaster } from './failover-state.js';
import type { BackupIdentity, FlushResult } from './replication-link.js';
import type { StatusHistory } from './status-history.js';

/** Response header of the admin API with the outcome of replicating a change to the backup master before the reply. */
export const REPLICATION_HEADER = 'x-atlas-replication';

/** Value of REPLICATION_HEADER for one flush of the replication link. */
export function describeReplication(result: FlushResult): string {
  return result.replicated ? `acknowledged by ${result.backup} (update ${result.seq})` : `not replicated: ${result.reason ?? 'unknown reason'}`;
}

/**
 * Keeps the two masters of a failover pair in the cluster configuration.
 * A backup that joins while the cluster exists is listed at once (a change
 * like any other, so "sync required" shows until the next sync). A cluster
 * created while a backup is paired lists it from the start. After a
 * takeover the new primary lists itself as the primary and the former
 * primary as its backup.
 */
export class MasterMembership {
  private backup: { identity: BackupIdentity; peer: PeerMaster } | undefined;

  constructor(
    private readonly deps: { logger: Logger; store: ClusterConfigStore; history: StatusHistory },
    private readonly options: { self: { name: string; guid: string; model: string; public: Endpoint; internal: Endpoint } },
  ) {}

  /** Returns the paired backup as a cluster member once it has joined, and undefined before. */
  backupMember(): IClusterMember | undefined {
    if (this.backup === undefined) return undefined;
    const { identity, peer } = this.backup;
    return {
      name: identity.name,
      applianceGuid: identity.guid,
      role: 'backup',
      publicHost: peer.publicHost,
      publicPort: peer.publicPort,
      internalHost: peer.internalHost,
      internalPort: peer.internalPort,
      model: identity.model,
      accepting: false,
      prefixes: [],
      timezone: '',
    };
  }

  /** Records a backup that joined over the replication link and lists it in the configuration when it is not listed yet. */
  async backupJoined(identity: BackupIdentity, peer: PeerMaster): Promise<void> {
    this.backup = { identity, peer };
    const expected = this.backupMember()!;
    const { store } = this.deps;
    const listed = store.current.members.find((member) => member.role === 'backup');
    if (!isInCluster(store.current) || (listed !== undefined && sameMember(listed, expected))) return;
    try {
      const config = await store.update((draft) => {
        draft.members = [...draft.members.filter((member) => member.role !== 'backup'), atlas.ClusterMember.create(expected)];
      });
      const replaced = listed === undefined || listed.name === expected.name ? '' : ` in place of ${listed.name ?? ''}`;
      this.deps.history.record(0, `Failover: backup master ${expected.name ?? ''} listed in the cluster configuration${replaced} (version ${config.version}).`);
    } catch (error) {
      this.deps.logger.error({ backup: identity.name, err: errorMessage(error) }, 'listing the backup master in the cluster configuration failed');
    }
  }

  /**
   * Lists this master as the primary and the former primary as the backup,
   * after a takeover. Traffic nodes get the change with the next sync; they
   * accept commands by term and need no master list.
   */
  async tookOver(): Promise<ClusterConfig | undefined> {
    const { store } = this.deps;
    const { self } = this.options;
    const current = store.current;
    const listedSelf = current.members.find((member) => member.name === self.name);
    if (!isInCluster(current) || listedSelf?.role === 'primary') return undefined;
    try {
      return await store.update((draft) => {
        if (listedSelf === undefined) draft.members.push(atlas.ClusterMember.create(this.selfMember()));
        for (const member of draft.members) {
          if (member.name === self.name) {
            member.role = 'primary';
            member.applianceGuid = self.guid;
          } else if (member.role === 'primary') {
            member.role = 'backup';
          }
        }
      });
    } catch (error) {
      this.deps.logger.error({ err: errorMessage(error) }, 'listing this master as the primary in the cluster configuration failed');
      return undefined;
    }
  }

  private selfMember(): IClusterMember {
    const { self } = this.options;
    return {
      name: self.name,
      applianceGuid: self.guid,
      role: 'backup',
      publicHost: self.public.host,
      publicPort: self.public.port,
      internalHost: self.internal.host,
      internalPort: self.internal.port,
      model: self.model,
      accepting: false,
      prefixes: [],
      timezone: '',
    };
  }
}

function sameMember(a: IClusterMember, b: IClusterMember): boolean {
  return (
    a.name === b.name &&
    a.applianceGuid === b.applianceGuid &&
    a.model === b.model &&
    a.publicHost === b.publicHost &&
    a.publicPort === b.publicPort &&
    a.internalHost === b.internalHost &&
    a.internalPort === b.internalPort
  );
}
