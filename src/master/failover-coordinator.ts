import type { ClaimOutcome, DnsClaimClient } from '../dns/claim-client.js';
import { ProtocolError } from '../protocol/envelope.js';
import { ErrorCode, type atlas } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import type { FailoverState, FailoverStateStore, MasterRole, PeerMaster } from './failover-state.js';
import { PauseDetector } from './pause-detector.js';
import { PrimaryServices, type MasterContext } from './primary-services.js';
import { ReplicaStore, readReplicatedSessionKeys, readReplicatedSessions, type ReplicaStatus } from './replica-store.js';
import type { FlushResult, ReplicationLinkStatus } from './replication-link.js';
import type { ConnectingMaster, Refusal } from './replication-endpoint.js';
import type { StatusEntry } from './status-history.js';
import type { MasterStatusReport } from './status-report.js';

/** Delays between takeover attempts while the primary stays silent, in ms; the last one repeats. */
export const DEFAULT_TAKEOVER_RETRY_DELAYS_MS: readonly number[] = [0, 250, 500, 1000];

export interface FailoverCoordinatorDeps {
  context: MasterContext;
  state: FailoverStateStore;
  claims: DnsClaimClient;
  /** The backup's public listener (admin API only), running while this master is not the primary. */
  standby: { start(): Promise<void>; stop(): Promise<void> };
  /** Sends a timeline event to the launcher. */
  report: (event: string, data?: Record<string, unknown>) => void;
}

export interface FailoverCoordinatorOptions {
  /** Hostname whose A record points at the primary (the site hostname). */
  siteHostname: string;
  /** The other master of the pair, replicated to while this master is the primary. */
  peer: PeerMaster;
  /** Silence on the replication channel after which the primary counts as gone; the heartbeat timeout. */
  heartbeatTimeoutMs: number;
  takeoverRetryDelaysMs?: readonly number[];
}

/** Failover part of the status report of a master in a failover pair. */
export interface FailoverStatus {
  role: MasterRole;
  term: number;
  termHolder: string;
  peer: string;
  /** True while this primary refuses commands until the DNS server confirms its claim again after a pause. */
  fenced: boolean;
  /** Primary side: the link to the backup. */
  replication?: ReplicationLinkStatus;
  /** Backup side: the primary linked now (empty when none) and the state this backup holds. */
  primary?: string;
  replica?: ReplicaStatus;
  unpairedBy?: string;
}

export type FailoverMasterStatus = MasterStatusReport & { failover: FailoverStatus };

/**
 * Decides whether this master is the primary or the backup of its failover
 * pair, and switches between the two.
 *
 * The cluster DNS server arbitrates: a master is the primary of a term only
 * after the DNS server granted it the site hostname under that term, and it
 * grants a newer term only while no other master holds the record through an
 * open claim channel. A backup whose primary falls silent on the replication
 * channel asks for the next term until the DNS server grants it (the primary
 * is gone) or another primary links to it. A primary steps down as soon as
 * a traffic node, the other master or the DNS server shows it a newer term,
 * and after a pause of the whole process it answers no command until the
 * DNS server has confirmed its claim again.
 */
export class FailoverCoordinator {
  private primary: PrimaryServices | undefined;
  private replica: ReplicaStore | undefined;
  private primaryLink: ConnectingMaster | undefined;
  private takeoverTimer: NodeJS.Timeout | undefined;
  private takeoverAttempt = 0;
  private waitingForConfigLogged = false;
  private transitions: Promise<unknown> = Promise.resolve();
  private fenced = false;
  private stopped = false;
  private readonly pauses: PauseDetector;

  constructor(private readonly deps: FailoverCoordinatorDeps, private readonly options: FailoverCoordinatorOptions) {
    this.pauses = new PauseDetector((gapMs) => this.paused(gapMs), { thresholdMs: options.heartbeatTimeoutMs });
  }

  get role(): MasterRole {
    return this.state.role;
  }

  get term(): number {
    return this.state.term;
  }

  private get state(): Readonly<FailoverState> {
    return this.deps.state.state;
  }

  private get logger(): MasterContext['logger'] {
    return this.deps.context.logger;
  }

  /** Takes up the role stored in the data folder; a primary first gets its claim confirmed by the DNS server. */
  async start(): Promise<void> {
    this.deps.claims.on('lost', (outcome) => void this.enqueue(() => this.stepDown(outcome.term, outcome.owner, describeLoss(outcome))));
    this.pauses.start();
    if (this.state.role === 'primary') await this.enqueue(() => this.resumeAsPrimary());
    else await this.enqueue(() => this.enterBackup('started as the backup'));
  }

  /** Stops whatever role runs. The DNS claim is released, so the backup can take over at once. */
  async stop(reason: string): Promise<void> {
    this.stopped = true;
    this.pauses.stop();
    clearTimeout(this.takeoverTimer);
    await this.transitions;
    this.deps.claims.stop(reason);
    await this.primary?.stop(reason);
    await this.deps.standby.stop();
  }

  /** Throws while this master may not act as the primary; the control channel calls it before every message. */
  fence(): void {
    if (this.state.role !== 'primary' || this.primary === undefined) {
      throw new ProtocolError(ErrorCode.ERROR_NOT_PRIMARY, `master ${this.deps.context.config.name} is not the primary; reconnect through the site hostname`);
    }
    if (this.fenced) {
      throw new ProtocolError(ErrorCode.ERROR_NOT_PRIMARY, `master ${this.deps.context.config.name} was paused and is confirming that it is still the primary; reconnect through the site hostname`);
    }
  }

  /** Decides on a master that authenticated on the replication channel (see ReplicationEndpoint). */
  admit(peer: ConnectingMaster): Promise<Refusal | undefined> {
    return this.enqueue(async () => {
      const { term, termHolder, role } = this.state;
      const self = this.deps.context.config.name;
      if (peer.name === self) return { code: ErrorCode.ERROR_AUTH_FAILED, reason: `master ${self} connected to itself; check the peer's internal address` };
      if (peer.term < term || (peer.term === term && termHolder !== '' && termHolder !== peer.name)) {
        return { code: ErrorCode.ERROR_STALE_TERM, reason: `term ${peer.term} of ${peer.name} is stale: term ${term} belongs to ${termHolder || 'another master'}` };
      }
      if (role === 'primary') {
        if (peer.term === term) return { code: ErrorCode.ERROR_STALE_TERM, reason: `${self} is the primary of term ${term}` };
        await this.stepDown(peer.term, peer.name, `master ${peer.name} connected as the primary of term ${peer.term}`);
      }
      if (peer.term !== this.state.term || peer.name !== this.state.termHolder || this.state.unpairedBy !== undefined) {
        await this.deps.state.update({ term: peer.term, termHolder: peer.name, unpairedBy: undefined });
      }
      return undefined;
    });
  }

  /** Cancels takeover attempts, because the primary's replication link is up. */
  primaryLinked(peer: ConnectingMaster): void {
    this.primaryLink = peer;
    this.takeoverAttempt = 0;
    clearTimeout(this.takeoverTimer);
    this.deps.report('primary-linked', { primary: peer.name, term: peer.term });
  }

  /**
   * Starts takeover attempts, because the primary's replication link closed
   * or timed out. A close the primary made on purpose is logged at info.
   */
  primaryLost(peer: ConnectingMaster, reason: string, primaryStopping = false): void {
    if (this.primaryLink?.name === peer.name) this.primaryLink = undefined;
    if (this.stopped) {
      this.logger.info({ primary: peer.name, reason }, 'replication link from the primary ended because this master is stopping; no takeover');
      return;
    }
    if (primaryStopping) this.logger.info({ primary: peer.name, reason }, 'primary master closed the replication link on purpose');
    else this.logger.warn({ primary: peer.name, reason }, 'primary master silent on the replication channel');
    this.deps.report('primary-lost', { primary: peer.name, reason });
    if (this.state.role === 'backup') this.scheduleTakeover();
  }

  /** Stops takeover attempts for good, because the primary paired another backup in place of this master. */
  unpaired(peer: ConnectingMaster, unpair: atlas.FailoverUnpair): void {
    void this.enqueue(async () => {
      clearTimeout(this.takeoverTimer);
      await this.deps.state.update({ unpairedBy: peer.name });
      this.logger.warn({ primary: peer.name, newBackup: unpair.newBackup }, 'unpaired: the primary paired another backup master; this master will not take over');
      this.deps.report('unpaired', { primary: peer.name, newBackup: unpair.newBackup });
    });
  }

  /** Writes a replication update into the data folder (backup only). */
  async apply(update: atlas.ReplicationUpdate): Promise<void> {
    const replica = this.replica;
    if (this.state.role !== 'backup' || replica === undefined) throw new Error(`master ${this.deps.context.config.name} is not a backup now`);
    await replica.apply(update);
  }

  /** Waits until the backup stored the state as it is now (primary only). */
  replicate(timeoutMs?: number): Promise<FlushResult> {
    if (this.primary === undefined) return Promise.reject(new Error(`master ${this.deps.context.config.name} is not the primary; send the request to the primary master`));
    return this.primary.replicate(timeoutMs);
  }

  /**
   * Pairs another backup master with this primary in place of the current
   * one, as an administrator does when a backup appliance is replaced. The
   * former backup is notified that it is unpaired, so it never takes over.
   * When it cannot be notified, the status history records a warning.
   */
  pairBackup(peer: PeerMaster): Promise<{ formerTold: boolean; former: string }> {
    return this.enqueue(async () => {
      const primary = this.primary;
      if (primary === undefined) throw new Error(`master ${this.deps.context.config.name} is not the primary; pair the backup on the primary master`);
      const former = (this.state.peer ?? this.options.peer).name;
      if (peer.name === this.deps.context.config.name) throw new Error(`name: ${peer.name} is this primary master; give the name of the new backup master`);
      await this.deps.state.update({ peer });
      const { formerTold } = await primary.replaceBackup(peer);
      primary.history.record(0, `Failover: backup master ${peer.name} paired in place of ${former}.`);
      if (!formerTold && former !== peer.name) {
        primary.history.record(ErrorCode.ERROR_INTERNAL, `Failover: the former backup master ${former} could not be notified that it is unpaired; stop it, or it may take over when this primary fails.`);
      }
      this.deps.report('backup-paired', { backup: peer.name, former, formerTold });
      return { formerTold, former };
    });
  }

  /** Status history: the primary's own, or the copy a backup holds. */
  historyEntries(): readonly StatusEntry[] {
    return this.primary?.history.list() ?? this.replica?.historyEntries() ?? [];
  }

  /** The running primary services, while this master is the primary. */
  get services(): PrimaryServices | undefined {
    return this.primary;
  }

  status(): FailoverMasterStatus {
    const { config, guid } = this.deps.context;
    const { role, term, termHolder, peer, unpairedBy } = this.state;
    const failover: FailoverStatus = { role, term, termHolder, peer: (peer ?? this.options.peer).name, fenced: this.fenced, ...(unpairedBy === undefined ? {} : { unpairedBy }) };
    if (this.primary !== undefined) {
      const replication = this.primary.replicationStatus();
      return { ...this.primary.status(), failover: { ...failover, ...(replication === undefined ? {} : { replication }) } };
    }
    const replica = this.replica?.status();
    return {
      name: config.name,
      guid,
      role: 'backup',
      term,
      inCluster: this.replica?.hasConfig ?? false,
      configVersion: replica?.configVersion ?? 0,
      syncedVersion: replica?.syncedVersion ?? 0,
      syncRequired: false,
      nodes: [],
      failover: { ...failover, role: 'backup', primary: this.primaryLink?.name ?? '', ...(replica === undefined ? {} : { replica }) },
    };
  }

  /** Runs role changes one at a time, in call order. */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = this.transitions.then(task);
    this.transitions = result.catch((error: unknown) => this.logger.error({ err: errorMessage(error) }, 'failover transition failed'));
    return result;
  }

  /** Claims the stored term again at the DNS server before a restarted primary serves anything. */
  private async resumeAsPrimary(): Promise<void> {
    const term = Math.max(this.state.term, 1);
    const outcome = await this.claimUntilAnswered(term);
    if (outcome === undefined) return;
    if (outcome.granted) {
      await this.becomePrimary(term, this.state.termHolder === '' ? 'first start of the primary' : 'restarted as the primary', false);
      return;
    }
    await this.deps.state.update({ role: 'backup', term: Math.max(this.state.term, outcome.term), termHolder: outcome.owner });
    this.logger.warn({ term, holder: outcome.owner, holderTerm: outcome.term }, 'another master became the primary while this one was away; continuing as the backup');
    this.deps.report('stepped-down', { term: outcome.term, holder: outcome.owner, reason: describeLoss(outcome) });
    await this.enterBackup(describeLoss(outcome));
  }

  private async enterBackup(reason: string): Promise<void> {
    this.replica = await ReplicaStore.open({ logger: this.logger.child({ component: 'replica' }) }, this.deps.context.config.dataDir);
    await this.startStandby();
    this.logger.info({ term: this.state.term, termHolder: this.state.termHolder, configVersion: this.replica.status().configVersion, reason }, 'serving as the backup master');
    this.deps.report('backup', { term: this.state.term, reason });
    // A primary that has just started, or just took over from this master, gets one heartbeat timeout to link.
    if (this.primaryLink === undefined) this.scheduleTakeover(this.options.heartbeatTimeoutMs);
  }

  /** Starts the backup's admin listener; a failure is logged, because the backup works without it. */
  private async startStandby(): Promise<void> {
    try {
      await this.deps.standby.start();
    } catch (error) {
      this.logger.error({ err: errorMessage(error) }, 'the backup admin listener failed to start; the Security page of this master is unreachable');
    }
  }

  private scheduleTakeover(delayMs?: number): void {
    if (this.stopped || this.state.unpairedBy !== undefined) return;
    const delays = this.options.takeoverRetryDelaysMs ?? DEFAULT_TAKEOVER_RETRY_DELAYS_MS;
    const wait = delayMs ?? delays[Math.min(this.takeoverAttempt, delays.length - 1)] ?? 1000;
    this.takeoverAttempt++;
    clearTimeout(this.takeoverTimer);
    this.takeoverTimer = setTimeout(() => void this.enqueue(() => this.attemptTakeover()), wait);
  }

  private async attemptTakeover(): Promise<void> {
    if (this.stopped || this.state.role !== 'backup' || this.primaryLink !== undefined || this.state.unpairedBy !== undefined) return;
    const replica = this.replica;
    if (replica === undefined || !replica.hasConfig) {
      if (!this.waitingForConfigLogged) this.logger.warn('the primary is silent, but this backup has no replicated configuration yet; waiting for a primary');
      this.waitingForConfigLogged = true;
      this.scheduleTakeover();
      return;
    }
    await replica.idle();

    const proposed = Math.max(this.state.term + 1, this.state.proposedTerm);
    if (proposed !== this.state.proposedTerm) await this.deps.state.update({ proposedTerm: proposed });
    let outcome: ClaimOutcome;
    try {
      outcome = await this.deps.claims.claim({ hostname: this.options.siteHostname, address: this.deps.context.config.public.address, term: proposed });
    } catch (error) {
      this.logger.warn({ term: proposed, err: errorMessage(error) }, 'takeover claim failed; retrying');
      this.scheduleTakeover();
      return;
    }
    if (outcome.granted) {
      const silent = this.state.termHolder || 'the primary';
      await this.becomePrimary(proposed, `${silent} stopped answering on the replication channel`, true);
      return;
    }
    if (outcome.term > this.state.term) await this.deps.state.update({ term: outcome.term, termHolder: outcome.owner });
    this.logger.info({ term: proposed, holder: outcome.owner, holderTerm: outcome.term, reason: outcome.message }, 'takeover claim rejected by the DNS server; the primary may still be alive');
    this.deps.report('claim-rejected', { term: proposed, holder: outcome.owner, holderTerm: outcome.term });
    this.scheduleTakeover();
  }

  private async becomePrimary(term: number, reason: string, takeover: boolean): Promise<void> {
    clearTimeout(this.takeoverTimer);
    const { config } = this.deps.context;
    await this.deps.state.update({ role: 'primary', term, termHolder: config.name, proposedTerm: Math.max(this.state.proposedTerm, term) });
    const restoredSessions = await readReplicatedSessions({ logger: this.logger }, config.dataDir);
    const restoredSessionKeys = await readReplicatedSessionKeys({ logger: this.logger }, config.dataDir);
    this.replica = undefined;
    this.fenced = false;
    await this.deps.standby.stop();
    try {
      this.primary = await PrimaryServices.start(this.deps.context, {
        term,
        peer: this.state.peer ?? this.options.peer,
        restoredSessions,
        restoredSessionKeys,
        fence: () => this.fence(),
        onNewerTerm: (newer, holder) => void this.enqueue(() => this.stepDown(newer, holder, `a traffic node or the other master knows term ${newer}`)),
      });
    } catch (error) {
      this.logger.error({ term, err: errorMessage(error) }, 'starting the primary services failed; releasing the claim and staying the backup');
      this.deps.claims.release('primary services failed to start');
      await this.deps.state.update({ role: 'backup' });
      await this.enterBackup('primary services failed to start');
      return;
    }
    this.primary.history.record(0, `Failover: ${config.name} is the primary master under term ${term} (${reason}).`);
    if (takeover) await this.primary.membership.tookOver();
    // A takeover is logged as a warning, so people following warnings see the master change.
    const fields = { term, reason, restoredSessions: restoredSessions.length };
    if (takeover) this.logger.warn(fields, 'this master took over as the primary');
    else this.logger.info(fields, 'this master is the primary');
    this.deps.report('became-primary', { term, reason, restoredSessions: restoredSessions.length });
  }

  private async stepDown(term: number, holder: string, reason: string): Promise<void> {
    if (this.state.role !== 'primary') {
      if (term > this.state.term) await this.deps.state.update({ term, termHolder: holder });
      return;
    }
    if (term <= this.state.term && holder === this.state.termHolder) return;
    await this.deps.state.update({ role: 'backup', term: Math.max(term, this.state.term), termHolder: holder });
    this.deps.claims.release('stepped down');
    const primary = this.primary;
    this.primary = undefined;
    this.fenced = false;
    this.logger.warn({ term, holder, reason }, 'stepping down to the backup role');
    await primary?.stop(`stepped down: ${reason}`);
    this.deps.report('stepped-down', { term, holder, reason });
    await this.enterBackup(reason);
  }

  private paused(gapMs: number): void {
    if (this.state.role !== 'primary' || this.fenced) return;
    this.fenced = true;
    this.logger.warn({ gapMs }, 'this process did not run for longer than the heartbeat timeout; refusing commands until the DNS server confirms the claim');
    this.deps.report('paused', { gapMs });
    void this.enqueue(() => this.confirmClaim());
  }

  /** After a pause: keeps the primary role if the DNS server still grants this master's term, else steps down. */
  private async confirmClaim(): Promise<void> {
    if (this.state.role !== 'primary' || !this.fenced) return;
    const outcome = await this.claimUntilAnswered(this.state.term);
    if (outcome === undefined || this.state.role !== 'primary') return;
    if (outcome.granted) {
      this.fenced = false;
      this.logger.info({ term: this.state.term }, 'claim confirmed after the pause; serving as the primary again');
      this.deps.report('claim-confirmed', { term: this.state.term });
      return;
    }
    await this.stepDown(outcome.term, outcome.owner, describeLoss(outcome));
  }

  /** Claims the site hostname until the DNS server answers; undefined when this master stops first. */
  private async claimUntilAnswered(term: number): Promise<ClaimOutcome | undefined> {
    const delays = this.options.takeoverRetryDelaysMs ?? DEFAULT_TAKEOVER_RETRY_DELAYS_MS;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        return await this.deps.claims.claim({ hostname: this.options.siteHostname, address: this.deps.context.config.public.address, term });
      } catch (error) {
        const delayMs = Math.max(250, delays[Math.min(attempt, delays.length - 1)] ?? 1000);
        this.logger.warn({ term, attempt: attempt + 1, delayMs, err: errorMessage(error) }, 'the DNS server did not answer the claim; retrying');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
    return undefined;
  }
}

function describeLoss(outcome: ClaimOutcome): string {
  return `the DNS server gives the site hostname to ${outcome.owner || '(nobody)'} under term ${outcome.term}: ${outcome.message}`;
}
