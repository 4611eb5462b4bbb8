import { createSocket, type Socket } from 'node:dgram';
import type { ClientNetworkSettings } from '../../config/peer-to-peer.js';
import type { Logger } from '../../logging/logger.js';
import type { Channel, ChannelOptions } from '../../net/channel.js';
import { resolveClusterAddresses, type ClusterDnsClientOptions } from '../../net/lookup.js';
import { ProtocolError, errorCodeName } from '../../protocol/envelope.js';
import { ErrorCode, type atlas } from '../../protocol/messages.js';
import { TicketReplayGuard, verifyTicket } from '../../protocol/tickets.js';
import { runBindingTransaction } from '../../stun-protocol/client.js';
import { isLoopbackAddress } from '../../stun-protocol/ip-address.js';
import { errorMessage } from '../../util/errors.js';
import { ConnectivityChecks, type Endpoint } from './connectivity-checks.js';
import { directCertificate } from './direct-certificate.js';
import { dialDirect } from './direct-dial.js';
import { DirectListener } from './direct-listener.js';
import { DIRECT_NODE, DirectPath } from './direct-path.js';
import { NatFilter } from './nat-model.js';

/** Maximum time of the STUN query, so a dead STUN server leaves time for the fallback. */
export const MAX_STUN_QUERY_MS = 2000;
/** First STUN retransmission timeout on loopback, where RFC 5389's 500 ms would eat the attempt's budget. */
export const STUN_INITIAL_RTO_MS = 100;
/** Maximum time connectivity checks run before the clients compare results. */
export const MAX_CHECK_WINDOW_MS = 1000;
/** Extra time the accepting side waits past the deadline, so it never gives up on a dial that is about to succeed. */
export const ACCEPT_GRACE_MS = 1000;

/** The two sides of a session: the customer dials when it can (see nat-model.ts). */
export type DirectRole = 'customer' | 'representative';

export interface DirectAttemptDeps {
  logger: Logger;
  sendSignal: (signal: atlas.IPeerSignal) => boolean;
  dns: ClusterDnsClientOptions;
}

export interface DirectAttemptOptions {
  sessionId: string;
  selfId: string;
  peerId: string;
  role: DirectRole;
  plan: atlas.IDirectPlan;
  /** The client's own address; every socket binds it. */
  address: string;
  network: ClientNetworkSettings;
  channel: ChannelOptions;
}

export type DirectOutcome = { path: 'direct'; reason: string; direct: DirectPath } | { path: 'relay'; reason: string };

/** A failure the peer reported itself (it sent "failed"), so no "failed" signal goes back. */
class PeerFailure extends Error {}

/** The peer's first dial failed, so this client dials back. */
class PeerDialFailed extends Error {}

type DirectSuccess = { path: 'direct'; reason: string; direct: DirectPath };

/**
 * The direct attempt of one client at session start:
 * 1. query the STUN server from the client's own address for the reflexive address;
 * 2. send the candidates and the listener's fingerprint to the peer through the master;
 * 3. run connectivity checks through the simulated NAT (see nat-model.ts);
 * 4. exchange the check results, then dial or accept one direct TLS WebSocket,
 *    authenticated by the ticket the master issued, within the plan's timeout.
 *    The customer dials first; when its dial fails, the representative dials back.
 * Any failure resolves with the traffic-node path and the reason.
 */
export class DirectAttempt {
  private readonly logger: Logger;
  private readonly signals: atlas.PeerSignal[] = [];
  private signalWaiter: (() => void) | undefined;
  private readonly abort = new AbortController();
  private listener: DirectListener | undefined;
  private stunSocket: Socket | undefined;
  private checks: ConnectivityChecks | undefined;

  constructor(private readonly deps: DirectAttemptDeps, private readonly options: DirectAttemptOptions) {
    this.logger = deps.logger.child({ session: options.sessionId, component: 'direct' });
  }

  /** Takes a PeerSignal the master relayed from the peer. */
  onSignal(signal: atlas.PeerSignal): void {
    this.signals.push(signal);
    this.signalWaiter?.();
  }

  /** Stops the attempt (the session ended); a running run() resolves with the traffic-node path. */
  cancel(reason: string): void {
    this.abort.abort(new Error(reason));
    this.signalWaiter?.();
  }

  async run(): Promise<DirectOutcome> {
    const startedAt = Date.now();
    const deadline = startedAt + (this.options.plan.timeoutMs || 5000);
    this.logger.info({ stunServer: this.options.plan.stunServer, timeoutMs: this.options.plan.timeoutMs, natType: this.options.network.natType, blockInbound: this.options.network.blockInbound }, 'direct attempt starting');
    try {
      const outcome = await this.attempt(deadline);
      this.logger.info({ elapsedMs: Date.now() - startedAt, reason: outcome.reason }, 'direct path established');
      return outcome;
    } catch (error) {
      const reason = errorMessage(error);
      if (!(error instanceof PeerFailure)) this.sendSignal({ kind: 'failed', reason });
      this.logger.warn({ elapsedMs: Date.now() - startedAt, reason }, 'direct attempt failed, falling back to the traffic-node path');
      return { path: 'relay', reason: `direct attempt failed: ${reason}` };
    } finally {
      this.cleanUp();
    }
  }

  private async attempt(deadline: number): Promise<DirectSuccess> {
    const { plan, address, network } = this.options;
    const certificate = await directCertificate();
    const listener = new DirectListener({ logger: this.logger }, { address, certificate, blockInbound: network.blockInbound, channel: this.options.channel });
    this.listener = listener;
    const listenerPort = await listener.listen();

    const stunFilter = new NatFilter(network.natType);
    const reflexive = await this.queryStun(stunFilter, deadline);
    this.sendSignal({ kind: 'candidates', candidates: [`udp ${reflexive.address}:${reflexive.port}`, `tcp ${address}:${listenerPort}`], fingerprint: certificate.fingerprint });

    const peerCandidates = await this.waitSignal('candidates', deadline);
    const peer = parseCandidates(peerCandidates);
    this.logger.info({ peerReflexive: `${peer.udp.address}:${peer.udp.port}`, peerListener: `${peer.tcp.address}:${peer.tcp.port}` }, 'peer candidates received');

    const checks = new ConnectivityChecks({
      logger: this.logger,
      natType: network.natType,
      localAddress: address,
      stunSocket: this.stunSocket!,
      stunFilter,
      key: Buffer.from(plan.directKey ?? []),
      selfId: this.options.selfId,
      peerId: this.options.peerId,
      peer: peer.udp,
    });
    this.checks = checks;
    checks.start();
    const outcome = await checks.settle(Math.min(MAX_CHECK_WINDOW_MS, Math.max(0, deadline - Date.now())));
    // Checks keep running until the attempt ends, so a check that passes after this point still opens the listener.
    listener.admitWhen((address) => checks.hasAdmitted(address));
    // The peer may dial before its "checks" signal arrives through the master, so connections wait in the listener.
    this.logger.info({ received: outcome.received, answered: outcome.answered, dropped: outcome.dropped }, 'connectivity checks settled');
    this.sendSignal({ kind: 'checks', checksReceived: outcome.received });
    const peerChecks = await this.waitSignal('checks', deadline);

    // A check that passes either way triggers one back, so both clients receive checks or neither does; a
    // client whose check window closed first may not have seen them yet, and its listener still admits later ones.
    if (!outcome.received && !peerChecks.checksReceived) {
      throw new Error(`no connectivity check passed either NAT (this client ${network.natType}, checks from the peer not received, own checks not received by the peer)`);
    }
    if (this.options.role === 'customer') return this.dialFirst(peer.tcp, peerCandidates.fingerprint, deadline);
    return this.acceptFirst(peer.tcp, peerCandidates.fingerprint, deadline);
  }

  /**
   * Dials the peer with half of the remaining time. When that dial fails,
   * this client sends a "dial-failed" signal, and the peer dials this
   * client's listener with the rest.
   */
  private async dialFirst(target: Endpoint, fingerprint: string, deadline: number): Promise<DirectSuccess> {
    const firstDeadline = Date.now() + Math.floor((deadline - Date.now()) / 2);
    try {
      return await this.dial(target, fingerprint, firstDeadline);
    } catch (error) {
      const reason = errorMessage(error);
      this.logger.info({ reason }, 'direct dial failed; waiting for the peer to dial back');
      this.sendSignal({ kind: 'dial-failed', reason });
      try {
        return await this.acceptDial(deadline + ACCEPT_GRACE_MS, `after this ${this.options.role}'s own dial failed`);
      } catch (second) {
        // The peer's "failed" report already names this client's failed dial.
        if (second instanceof PeerFailure) throw second;
        throw new Error(`${reason}; then ${errorMessage(second)}`, { cause: second });
      }
    }
  }

  /** Waits for the peer's dial, and dials the peer itself once the peer reports that its dial failed. */
  private async acceptFirst(target: Endpoint, fingerprint: string, deadline: number): Promise<DirectSuccess> {
    try {
      return await this.acceptDial(deadline + ACCEPT_GRACE_MS, '', true);
    } catch (error) {
      if (!(error instanceof PeerDialFailed)) throw error;
      this.logger.info({ reason: error.message }, "the peer's direct dial failed; dialing back");
      try {
        return await this.dial(target, fingerprint, deadline, `after the peer's dial failed (${error.message})`);
      } catch (second) {
        const peerRole = this.options.role === 'customer' ? 'representative' : 'customer';
        throw new Error(`the ${peerRole}'s dial failed (${error.message}); this ${this.options.role}'s dial back failed: ${errorMessage(second)}`, { cause: second });
      }
    }
  }

  /** Queries the STUN server from a socket on the client's own address and keeps the socket for the checks. */
  private async queryStun(filter: NatFilter, deadline: number): Promise<Endpoint> {
    const stunServer = this.options.plan.stunServer ?? '';
    const colon = stunServer.lastIndexOf(':');
    const host = stunServer.slice(0, colon);
    const port = Number(stunServer.slice(colon + 1));
    const [serverAddress] = await resolveClusterAddresses(this.deps.dns, host);
    if (serverAddress === undefined) throw new Error(`STUN server ${host} has no address in the cluster DNS`);

    const socket = createSocket({ type: 'udp4' });
    this.stunSocket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: this.options.address, port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (error) => this.logger.warn({ err: errorMessage(error) }, 'direct attempt UDP socket failed'));

    filter.recordOutbound(serverAddress, port);
    const timeoutMs = Math.max(1, Math.min(MAX_STUN_QUERY_MS, deadline - Date.now()));
    try {
      const reflexive = await runBindingTransaction(socket, { server: { address: serverAddress, port }, timeoutMs, initialRtoMs: STUN_INITIAL_RTO_MS, retries: 10, logger: this.logger, signal: this.abort.signal });
      this.logger.info({ stunServer, reflexive: `${reflexive.address}:${reflexive.port}` }, 'reflexive address from STUN');
      return reflexive;
    } catch (error) {
      throw new Error(`STUN server ${stunServer} (${serverAddress}) did not respond: ${errorMessage(error)}`, { cause: error });
    }
  }

  private async dial(target: Endpoint, fingerprint: string, deadline: number, note = ''): Promise<DirectSuccess> {
    const timeoutMs = Math.max(1, deadline - Date.now());
    this.logger.info({ target: `${target.address}:${target.port}`, timeoutMs }, 'dialing the peer directly');
    const channel = await dialDirect({ logger: this.logger }, { target, fingerprint, localAddress: this.options.address, timeoutMs, channel: this.options.channel });
    const reason = `this ${this.options.role} dialed the peer's direct listener ${target.address}:${target.port}, which its connectivity checks reached${note === '' ? '' : `, ${note}`}`;
    return this.withDeadline(deadline, channel, new Promise((resolve, reject) => {
      channel.onMessage((envelope) => {
        if (envelope.body === 'sessionJoined') {
          resolve({ path: 'direct', reason, direct: new DirectPath(channel, this.logger, target, reason) });
          return;
        }
        if (envelope.body === 'error') {
          reject(new Error(`the peer refused the direct connection: ${errorCodeName(envelope.error?.code ?? ErrorCode.ERROR_UNSPECIFIED)}: ${envelope.error?.message ?? ''}`));
          return;
        }
        throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `expected SessionJoined on the direct connection, got ${envelope.body}`);
      });
      channel.once('close', (close) => reject(new Error(`direct connection closed before SessionJoined (code ${close.code}${close.reason ? `, ${close.reason}` : ''})`)));
      channel.send({ sessionJoin: { ticket: this.options.plan.ticket, clientId: this.options.selfId } });
    }));
  }

  /** Waits for the peer's dial and verifies it; with `switchOnDialFailed`, a "dial-failed" signal rejects with PeerDialFailed. */
  private acceptDial(deadline: number, note: string, switchOnDialFailed = false): Promise<DirectSuccess> {
    const listener = this.listener!;
    const guard = new TicketReplayGuard();
    this.logger.info({ waitMs: deadline - Date.now() }, 'waiting for the peer to dial');
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.signalWaiter = undefined;
        outcome();
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out waiting for the peer's direct connection${listener.dropped > 0 ? ` (${listener.dropped} inbound connection dropped)` : ''}`))), Math.max(1, deadline - Date.now()));
      // A "failed" signal from the dialer ends the wait early.
      this.signalWaiter = () => {
        const failed = this.signals.find((signal) => signal.kind === 'failed');
        const dialFailed = this.signals.find((signal) => signal.kind === 'dial-failed');
        if (failed !== undefined) finish(() => reject(new PeerFailure(`the peer reported: ${failed.reason}`)));
        if (dialFailed !== undefined && switchOnDialFailed) finish(() => reject(new PeerDialFailed(dialFailed.reason)));
        if (this.abort.signal.aborted) finish(() => reject(new Error(errorMessage(this.abort.signal.reason))));
      };
      this.signalWaiter();
      listener.accept((channel) => {
        channel.onMessage((envelope) => {
          if (settled) throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'the direct attempt is over');
          const direct = this.verifyJoin(channel, envelope.body === 'sessionJoin' ? envelope.sessionJoin : undefined, guard, note);
          finish(() => resolve({ path: 'direct', reason: direct.reason, direct }));
        });
      });
    });
  }

  /** Verifies the dialer's SessionJoin as a traffic node would and replies with SessionJoined. Throws ProtocolError to reject the dialer. */
  private verifyJoin(channel: Channel, join: atlas.ISessionJoin | null | undefined, guard: TicketReplayGuard, note: string): DirectPath {
    if (join == null) throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'expected SessionJoin as the first message on the direct connection');
    const key = Buffer.from(this.options.plan.directKey ?? []);
    const claims = verifyTicket(key, join.ticket, `direct:${this.options.selfId}`);
    if (claims.sessionId !== this.options.sessionId || claims.participantId !== this.options.peerId) {
      throw new ProtocolError(ErrorCode.ERROR_TICKET_INVALID, `the ticket is for participant ${claims.participantId} of session ${claims.sessionId}, not the peer ${this.options.peerId} of ${this.options.sessionId}`);
    }
    guard.consume(claims);
    channel.send({ sessionJoined: { nodeName: DIRECT_NODE, sessionId: this.options.sessionId, stream: '' } });
    const peer = { address: channel.remoteAddress, port: 0 };
    const reason = `the peer dialed this ${this.options.role}'s direct listener, which its connectivity checks reached${note === '' ? '' : `, ${note}`}`;
    this.logger.info({ peer: channel.remoteAddress, participant: claims.participantId }, 'peer joined the direct connection');
    return new DirectPath(channel, this.logger, peer, reason);
  }

  private withDeadline<T>(deadline: number, channel: Channel, work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        channel.close(1000, 'direct attempt timed out');
        reject(new Error('timed out waiting for SessionJoined on the direct connection'));
      }, Math.max(1, deadline - Date.now()));
      work.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          channel.close(1000, 'direct attempt failed');
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** Resolves with the first signal of `kind` from the peer; rejects on its "failed" signal, on cancel, or at the deadline. */
  private waitSignal(kind: string, deadline: number): Promise<atlas.PeerSignal> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.signalWaiter = undefined;
        reject(new Error(`timed out waiting for the peer's "${kind}" signal`));
      }, Math.max(1, deadline - Date.now()));
      const check = (): void => {
        const failed = this.signals.find((signal) => signal.kind === 'failed');
        const wanted = this.signals.find((signal) => signal.kind === kind);
        const done = (outcome: () => void): void => {
          clearTimeout(timer);
          this.signalWaiter = undefined;
          outcome();
        };
        if (this.abort.signal.aborted) done(() => reject(new Error(errorMessage(this.abort.signal.reason))));
        else if (failed !== undefined) done(() => reject(new PeerFailure(`the peer reported: ${failed.reason}`)));
        else if (wanted !== undefined) done(() => resolve(wanted));
      };
      this.signalWaiter = check;
      check();
    });
  }

  private sendSignal(signal: atlas.IPeerSignal): void {
    const sent = this.deps.sendSignal({ sessionId: this.options.sessionId, toClientId: this.options.peerId, ...signal });
    if (!sent) this.logger.warn({ kind: signal.kind }, 'peer signal not sent: the control channel is down');
  }

  private cleanUp(): void {
    this.checks?.close();
    this.stunSocket?.close();
    // Closing the listener stops new connections and drops held ones; an accepted direct connection stays open.
    void this.listener?.stopListening();
  }
}

/** Parses the peer's "udp ip:port" and "tcp ip:port" candidates; both must be loopback addresses. */
function parseCandidates(signal: atlas.PeerSignal): { udp: Endpoint; tcp: Endpoint } {
  const found: Partial<Record<'udp' | 'tcp', Endpoint>> = {};
  for (const candidate of signal.candidates) {
    const match = /^(udp|tcp) (\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(candidate);
    if (match === null) throw new Error(`peer candidate ${JSON.stringify(candidate.slice(0, 60))} is malformed; expected "udp|tcp <IPv4>:<port>"`);
    const address = match[2]!;
    if (!isLoopbackAddress(address)) throw new Error(`peer candidate ${candidate} is not a loopback address; atlas-sim connects only within 127.0.0.0/8`);
    found[match[1] as 'udp' | 'tcp'] = { address, port: Number(match[3]) };
  }
  if (found.udp === undefined || found.tcp === undefined) throw new Error('the peer sent no udp or no tcp candidate');
  if (signal.fingerprint === '') throw new Error('the peer sent no certificate fingerprint');
  return { udp: found.udp, tcp: found.tcp };
}
