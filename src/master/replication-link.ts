import type { LookupFunction } from 'node:net';
import type { Logger } from '../logging/logger.js';
import { HandshakeError, openAuthenticatedChannel, type AuthenticatedChannel } from '../net/appliance-handshake.js';
import type { ChannelClose, HeartbeatOptions } from '../net/channel.js';
import { CLOSE_GOING_AWAY, ProtocolError, errorCodeName, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, type atlas } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import { APPLIANCE_PATH } from './appliance-link.js';
import type { PeerMaster } from './failover-state.js';
import { DEFAULT_BACKOFF, reconnectDelayMs, type BackoffOptions } from './reconnect-backoff.js';
import { closedByStoppingPeer, MASTER_STOPPING_REASON } from './replication-endpoint.js';
import { ReplicationCursor, type ReplicationSources } from './replication-source.js';
import type { StatusHistory } from './status-history.js';

/** How often the link looks for changes to send while no update waits for its acknowledgement. */
export const DEFAULT_REPLICATION_POLL_MS = 50;
/** Time flush() waits for the backup to acknowledge the state. */
export const DEFAULT_REPLICATION_ACK_TIMEOUT_MS = 3000;

/** The backup master as it introduced itself in its challenge. */
export interface BackupIdentity {
  name: string;
  guid: string;
  model: string;
}

export interface ReplicationLinkDeps {
  logger: Logger;
  history: StatusHistory;
  lookup: LookupFunction;
  ca: Buffer | string;
  /** Inter-appliance pre-shared key in use now. */
  psk: () => Uint8Array;
  /** This master: name and GUID for the handshake, model for the same-model rule. */
  self: { name: string; guid: string; model: string };
  /** This primary's term, sent in ApplianceAuth and every update. */
  term: () => number;
  sources: ReplicationSources;
  /** Called when the backup reports a newer term than this primary's, so this master was replaced and must step down. */
  onNewerTerm: (term: number, holder: string) => void;
  /** A backup of the right model authenticated; called on every link, with its identity. */
  onBackupJoined?: (backup: BackupIdentity) => void;
  random?: () => number;
}

export interface ReplicationLinkOptions {
  peer: PeerMaster;
  /** Source address of the link (this master's internal address). */
  localAddress: string;
  heartbeat: HeartbeatOptions;
  backoff?: BackoffOptions;
  pollIntervalMs?: number;
}

/** Outcome of flush(): whether the backup has stored the state as it was when flush() was called. */
export interface FlushResult {
  replicated: boolean;
  backup: string;
  /** Sequence number of the update that had to be acknowledged. */
  seq: number;
  /** Reason the state is not replicated; absent when it is. */
  reason?: string;
}

/** State of the link, as the status report shows it. */
export interface ReplicationLinkStatus {
  peer: string;
  connected: boolean;
  backupGuid: string;
  sentSeq: number;
  ackedSeq: number;
  lastAckAtMs: number;
  problem: string;
}

interface FlushWaiter {
  target: number;
  resolve(result: FlushResult): void;
  timer: NodeJS.Timeout;
}

/**
 * The primary's appliance channel to its backup master. It connects to the
 * backup's internal address, runs the pre-shared key handshake with this
 * primary's term and checks that the backup is the same model. Then it sends
 * a full ReplicationUpdate, followed by one update per change, one at a time;
 * the backup acknowledges each once it has written it. The link reconnects
 * forever with capped, jittered backoff until stop() is called.
 */
export class ReplicationLink {
  private link: AuthenticatedChannel | undefined;
  private cursor: ReplicationCursor | undefined;
  private nextSeq = 1;
  private sentSeq = 0;
  private ackedSeq = 0;
  private inFlight: number | undefined;
  private lastAckAtMs = 0;
  private backupGuid = '';
  private joinedGuid = '';
  private lastProblem = '';
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<FlushWaiter>();
  private stopped = false;
  private running: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(private readonly deps: ReplicationLinkDeps, private readonly options: ReplicationLinkOptions) {}

  start(): void {
    this.running ??= this.run();
  }

  /** Stops reconnecting, closes the link and resolves every pending flush() as not replicated. */
  async stop(reason: string): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    this.link?.channel.close(CLOSE_GOING_AWAY, `${MASTER_STOPPING_REASON}: ${reason}`);
    await this.running;
    for (const waiter of this.waiters) this.settle(waiter, { replicated: false, reason: `replication stopped: ${reason}` });
  }

  /**
   * Notifies the backup that another backup was paired in its place, so it
   * never takes over. Returns false when the backup is not connected and
   * could not be notified.
   */
  unpair(newBackup: string): boolean {
    const link = this.connected ? this.link : undefined;
    if (link === undefined) return false;
    const sent = link.channel.send({ failoverUnpair: { newBackup, term: this.deps.term() } });
    if (sent) this.deps.logger.info({ newBackup }, 'notified the backup master that it is unpaired');
    return sent;
  }

  get connected(): boolean {
    return this.link !== undefined && this.cursor !== undefined;
  }

  status(): ReplicationLinkStatus {
    return {
      peer: this.options.peer.name,
      connected: this.connected,
      backupGuid: this.backupGuid,
      sentSeq: this.sentSeq,
      ackedSeq: this.ackedSeq,
      lastAckAtMs: this.lastAckAtMs,
      problem: this.lastProblem,
    };
  }

  /**
   * Resolves once the backup has acknowledged the state as it is now, or
   * with `replicated: false` and the reason when the backup is not connected
   * or does not acknowledge within `timeoutMs`.
   */
  flush(timeoutMs = DEFAULT_REPLICATION_ACK_TIMEOUT_MS): Promise<FlushResult> {
    const backup = this.options.peer.name;
    if (!this.connected) {
      const problem = this.lastProblem === '' ? 'no link yet' : this.lastProblem;
      return Promise.resolve({ replicated: false, backup, seq: this.sentSeq, reason: `backup master ${backup} is not connected (${problem})` });
    }
    this.pump();
    const target = this.cursor?.hasChanges() === true ? this.nextSeq : this.sentSeq;
    if (this.ackedSeq >= target) return Promise.resolve({ replicated: true, backup, seq: target });
    return new Promise((resolve) => {
      const waiter: FlushWaiter = {
        target,
        resolve,
        timer: setTimeout(() => this.settle(waiter, { replicated: false, reason: `backup master ${backup} did not acknowledge update ${target} within ${timeoutMs} ms` }), timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  private async run(): Promise<void> {
    const { peer } = this.options;
    let attempt = 0;
    while (!this.stopped) {
      const outcome = await this.connectOnce();
      if (outcome.served) attempt = 0;
      if (this.stopped) break;
      attempt += 1;
      const delayMs = reconnectDelayMs(attempt, this.options.backoff ?? DEFAULT_BACKOFF, this.deps.random);
      this.deps.logger.warn({ attempt, delayMs, host: peer.internalHost, port: peer.internalPort, err: outcome.error }, 'replication link retry scheduled');
      await this.sleep(delayMs);
    }
    this.deps.logger.info('replication link stopped');
  }

  private async connectOnce(): Promise<{ served: boolean; error?: string }> {
    const { peer } = this.options;
    let link: AuthenticatedChannel;
    try {
      link = await openAuthenticatedChannel({ logger: this.deps.logger }, {
        host: peer.internalHost,
        port: peer.internalPort,
        path: APPLIANCE_PATH,
        ca: this.deps.ca,
        lookup: this.deps.lookup,
        localAddress: this.options.localAddress,
        heartbeat: this.options.heartbeat,
        // A backup that does not finish the handshake within the heartbeat timeout counts as silent, so an
        // attempt made during a partition gives up by then and the link returns soon after the heal.
        connectTimeoutMs: this.options.heartbeat.timeoutMs,
        psk: this.deps.psk(),
        self: { name: this.deps.self.name, guid: this.deps.self.guid, term: this.deps.term() },
      });
    } catch (error) {
      if (error instanceof HandshakeError) this.handshakeFailed(error);
      return { served: false, error: errorMessage(error) };
    }
    if (this.stopped) {
      link.channel.close(CLOSE_GOING_AWAY, MASTER_STOPPING_REASON);
      return { served: false };
    }
    return { served: await this.serve(link) };
  }

  /** Serves one authenticated link until it closes; true when the backup accepted this primary. */
  private serve(link: AuthenticatedChannel): Promise<boolean> {
    const closed = new Promise<ChannelClose>((resolve) => link.channel.once('close', resolve));
    if (!this.admit(link)) return closed.then(() => false);

    this.link = link;
    this.cursor = new ReplicationCursor(this.deps.sources);
    this.backupGuid = link.challenge.applianceGuid;
    this.lastProblem = '';
    link.attach((envelope) => this.handle(envelope));
    this.deps.logger.info({ backup: link.challenge.nodeName, address: link.channel.remoteAddress, backupTerm: link.authOk.term }, 'replication link open, sending full state');
    this.send(true);
    this.pollTimer = setInterval(() => this.pump(), this.options.pollIntervalMs ?? DEFAULT_REPLICATION_POLL_MS);
    this.pollTimer.unref();

    return closed.then((close) => {
      clearInterval(this.pollTimer);
      this.link = undefined;
      this.cursor = undefined;
      this.inFlight = undefined;
      this.logClose(close);
      return true;
    });
  }

  /** Logs the close at info when this master or the backup stops, and at warn for every other close. */
  private logClose(close: ChannelClose): void {
    const fields = { backup: this.options.peer.name, ackedSeq: this.ackedSeq, code: close.code, reason: close.reason, local: close.local };
    if (this.stopped) this.deps.logger.info(fields, 'replication link closed, this master is stopping');
    else if (closedByStoppingPeer(close)) this.deps.logger.info(fields, 'replication link closed, the backup master is stopping');
    else this.deps.logger.warn(fields, 'replication link closed');
  }

  /** Checks the backup's challenge and term; false (link closed) when this primary may not replicate to it. */
  private admit(link: AuthenticatedChannel): boolean {
    const { challenge, authOk, channel } = link;
    const { peer } = this.options;
    const term = this.deps.term();
    if (authOk.term > term) {
      this.deps.logger.warn({ peer: challenge.nodeName, peerRole: challenge.role, peerTerm: authOk.term, term }, 'the other master knows a newer term; this master was replaced');
      channel.close(CLOSE_GOING_AWAY, 'stepping down');
      this.deps.onNewerTerm(authOk.term, challenge.role === 'primary' ? challenge.nodeName : '');
      return false;
    }
    if (challenge.nodeName !== peer.name) {
      this.reportProblem(ErrorCode.ERROR_AUTH_FAILED, `Failover: the appliance at ${peer.internalHost}:${peer.internalPort} reports the name "${challenge.nodeName}", not ${peer.name}; check the backup master's internal address`);
      channel.fail(ErrorCode.ERROR_AUTH_FAILED, `expected backup master ${peer.name}, got ${challenge.nodeName}`);
      return false;
    }
    if (challenge.model !== this.deps.self.model) {
      const message = `Failover: backup master ${peer.name} is a ${challenge.model || '(unknown model)'} appliance, but primary master ${this.deps.self.name} is a ${this.deps.self.model}; both masters must be the same model, so pair a ${this.deps.self.model} backup`;
      this.reportProblem(ErrorCode.ERROR_MODEL_MISMATCH, message);
      channel.fail(ErrorCode.ERROR_MODEL_MISMATCH, `both masters of a failover pair must be the same model; this primary is a ${this.deps.self.model}, this backup a ${challenge.model}`);
      return false;
    }
    if (challenge.applianceGuid !== this.joinedGuid) {
      this.joinedGuid = challenge.applianceGuid;
      this.deps.history.record(0, `Failover: backup master ${peer.name} (${challenge.model}) joined the cluster; replicating the configuration to it.`);
    }
    this.deps.onBackupJoined?.({ name: challenge.nodeName, guid: challenge.applianceGuid, model: challenge.model });
    return true;
  }

  private handle(envelope: DecodedEnvelope): void {
    if (envelope.body === 'replicationAck') {
      this.acknowledged(envelope.replicationAck as atlas.ReplicationAck);
    } else if (envelope.body === 'error') {
      const error = envelope.error as atlas.Error;
      this.reportProblem(error.code, `Failover: backup master ${this.options.peer.name} closed the replication link with ${errorCodeName(error.code)}: ${error.message}`);
    } else {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected from a backup master; expected replicationAck`);
    }
  }

  private acknowledged(ack: atlas.ReplicationAck): void {
    if (ack.seq !== this.inFlight) {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `replicationAck for update ${ack.seq}, but update ${this.inFlight ?? '(none)'} is waiting`);
    }
    this.inFlight = undefined;
    if (!ack.applied) {
      this.reportProblem(ErrorCode.ERROR_INTERNAL, `Failover: backup master ${this.options.peer.name} could not store update ${ack.seq}: ${ack.message}`);
      this.link?.channel.close(CLOSE_GOING_AWAY, 'update not stored; sending the full state again');
      return;
    }
    this.ackedSeq = ack.seq;
    this.lastAckAtMs = Date.now();
    for (const waiter of this.waiters) {
      if (waiter.target <= this.ackedSeq) this.settle(waiter, { replicated: true });
    }
    this.pump();
  }

  /** Sends the changes since the last update unless an update is waiting for its acknowledgement. */
  private pump(): void {
    if (this.inFlight !== undefined || this.cursor?.hasChanges() !== true) return;
    this.send(false);
  }

  private send(full: boolean): void {
    const { link, cursor } = this;
    if (link === undefined || cursor === undefined) return;
    const seq = this.nextSeq++;
    const payload = cursor.next(full);
    this.inFlight = seq;
    this.sentSeq = seq;
    link.channel.send({ replicationUpdate: { ...payload, seq, term: this.deps.term(), primaryName: this.deps.self.name } });
  }

  private settle(waiter: FlushWaiter, outcome: { replicated: boolean; reason?: string }): void {
    if (!this.waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve({ ...outcome, backup: this.options.peer.name, seq: waiter.target });
  }

  private handshakeFailed(error: HandshakeError): void {
    if (error.code === ErrorCode.ERROR_AUTH_FAILED) {
      this.reportProblem(error.code, `Failover: backup master ${this.options.peer.name}: inter-appliance key does not match`);
    } else if (error.code === ErrorCode.ERROR_STALE_TERM) {
      this.deps.logger.warn({ err: error.message }, 'backup master rejected this primary\'s term');
    } else if (error.code !== ErrorCode.ERROR_UNSPECIFIED && error.code !== ErrorCode.ERROR_HEARTBEAT_TIMEOUT) {
      this.reportProblem(error.code, `Failover: backup master ${this.options.peer.name} rejected the replication link: ${error.message}`);
    }
    this.lastProblem = error.message;
  }

  /** Records a problem in the status history once, until it changes or the backup joins. */
  private reportProblem(code: ErrorCode, message: string): void {
    const repeated = message === this.lastProblem;
    this.lastProblem = message;
    if (repeated) {
      this.deps.logger.warn({ code: errorCodeName(code), problem: message }, 'replication link problem repeated');
      return;
    }
    this.deps.history.record(code, message);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, ms);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = finish;
    });
  }
}
