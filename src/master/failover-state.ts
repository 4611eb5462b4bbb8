import { join } from 'node:path';
import type { Logger } from '../logging/logger.js';
import { readJsonWithBackup, writeFileAtomic } from '../storage/atomic-file.js';

/** File in the master's data folder with its failover role and terms. */
export const FAILOVER_STATE_FILE = 'failover-state.json';

export type MasterRole = 'primary' | 'backup';

/** The other master of the pair: where the primary connects to it, and the public address the cluster configuration lists. */
export interface PeerMaster {
  name: string;
  internalHost: string;
  internalPort: number;
  publicHost: string;
  publicPort: number;
}

/** What a master keeps about failover across restarts. */
export interface FailoverState {
  role: MasterRole;
  /** Highest term the DNS server granted to a primary that this master knows of. */
  term: number;
  /** Master that holds `term`; empty before the first grant. */
  termHolder: string;
  /** Highest term this master asked the DNS server for; a new takeover attempt asks for more than both terms. */
  proposedTerm: number;
  /** Backup master this master replicates to while it is the primary. */
  peer?: PeerMaster;
  /** Set when the primary paired another backup in place of this one; such a master never takes over. */
  unpairedBy?: string;
}

function validateState(value: unknown): FailoverState {
  const state = value as Partial<FailoverState> | null;
  const roleValid = state?.role === 'primary' || state?.role === 'backup';
  const termsValid = Number.isSafeInteger(state?.term) && (state?.term ?? -1) >= 0 && Number.isSafeInteger(state?.proposedTerm) && (state?.proposedTerm ?? -1) >= 0;
  if (!roleValid || !termsValid || typeof state?.termHolder !== 'string') {
    throw new Error(`expected { role: "primary" | "backup", term: integer >= 0, termHolder: string, proposedTerm: integer >= 0 }, got ${JSON.stringify(value)}`);
  }
  const peer = state.peer;
  const peerValid = typeof peer?.name === 'string' && typeof peer.internalHost === 'string' && Number.isInteger(peer.internalPort) && typeof peer.publicHost === 'string' && Number.isInteger(peer.publicPort);
  if (peer !== undefined && !peerValid) {
    throw new Error(`peer is ${JSON.stringify(peer)}; expected { name, internalHost, internalPort, publicHost, publicPort }`);
  }
  if (state.unpairedBy !== undefined && typeof state.unpairedBy !== 'string') throw new Error(`unpairedBy is ${JSON.stringify(state.unpairedBy)}; expected a master name`);
  return state as FailoverState;
}

/**
 * The failover state in the data folder. Every change is written
 * atomically before update() resolves, one write at a time, so a term this
 * master has asked for or learnt is never forgotten after a crash.
 */
export class FailoverStateStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly deps: { logger: Logger },
    private readonly file: string,
    private current: FailoverState,
  ) {}

  /**
   * Loads the state, or starts from `initial` when the data folder has none.
   * A damaged file falls back to its backup copy; with neither copy readable
   * this throws, because restarting as the primary of an old term could
   * bring back a master that was already replaced.
   */
  static async open(deps: { logger: Logger }, dataDir: string, initial: FailoverState): Promise<FailoverStateStore> {
    const file = join(dataDir, FAILOVER_STATE_FILE);
    const read = await readJsonWithBackup(file, validateState);
    if (read.status === 'unreadable') {
      throw new Error(`failover state ${file} cannot be read (${read.problem}); restore it from a copy, or delete it to start this master as a backup`);
    }
    if (read.status === 'missing') {
      const store = new FailoverStateStore(deps, file, { ...initial });
      await store.update({});
      deps.logger.info({ role: initial.role, peer: initial.peer?.name }, 'failover state created');
      return store;
    }
    if (read.source === 'backup') deps.logger.warn({ file, problem: read.problem }, 'failover state damaged; using its backup copy');
    deps.logger.info({ role: read.value.role, term: read.value.term, termHolder: read.value.termHolder, peer: read.value.peer?.name }, 'failover state loaded');
    return new FailoverStateStore(deps, file, read.value);
  }

  get state(): Readonly<FailoverState> {
    return this.current;
  }

  /** Changes the state in memory at once and resolves once it is on disk. */
  update(change: Partial<FailoverState>): Promise<void> {
    this.current = { ...this.current, ...change };
    if (this.current.unpairedBy === undefined) delete this.current.unpairedBy;
    const json = `${JSON.stringify(this.current, null, 2)}\n`;
    const write = this.writing.then(() => writeFileAtomic(this.file, json));
    this.writing = write.catch((error: unknown) => this.deps.logger.error({ file: this.file, err: String(error) }, 'writing failover state failed'));
    return write;
  }
}
