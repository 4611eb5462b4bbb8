import { EventEmitter } from 'node:events';
import type { LookupFunction } from 'node:net';
import type { Logger } from '../logging/logger.js';
import { openAuthenticatedChannel, type AuthenticatedChannel } from '../net/appliance-handshake.js';
import type { ChannelClose, HeartbeatOptions } from '../net/channel.js';
import { CLOSE_NORMAL, ProtocolError } from '../protocol/envelope.js';
import { ErrorCode, type atlas } from '../protocol/messages.js';
import { errorMessage } from '../util/errors.js';
import { DNS_CLAIM_PATH } from './claim-endpoint.js';

/** Time the DNS server has to answer one claim. */
export const DEFAULT_CLAIM_REPLY_TIMEOUT_MS = 3000;
/** Delays between attempts to get a held claim back after its channel closed, in ms. */
export const DEFAULT_RECLAIM_DELAYS_MS: readonly number[] = [100, 250, 500, 1000, 2000];

export interface DnsClaimRequest {
  hostname: string;
  address: string;
  term: number;
}

/** The record after a claim: granted or not, and who holds it under which term. */
export interface ClaimOutcome {
  granted: boolean;
  hostname: string;
  address: string;
  term: number;
  owner: string;
  message: string;
}

export interface DnsClaimClientDeps {
  logger: Logger;
  psk: Uint8Array;
  /** Cluster CA that signs the DNS process's certificate. */
  ca: Buffer | string;
  lookup: LookupFunction;
}

export interface DnsClaimClientOptions {
  /** Address and port of the DNS process's claim listener. */
  server: { address: string; port: number };
  /** Name verified in the DNS process's certificate, such as dns.support.example.test. */
  tlsName: string;
  /** Name and GUID of this master; the name is the claim's owner. */
  self: { name: string; guid: string };
  /** Source address of the connection (the master's internal address). */
  localAddress?: string;
  heartbeat: HeartbeatOptions;
  replyTimeoutMs?: number;
  reclaimDelaysMs?: readonly number[];
}

interface Waiter {
  resolve(outcome: ClaimOutcome): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A master's client of the DNS claim channel. claim() asks the DNS server
 * to point a hostname at this master under a term. After a grant the client
 * keeps the channel open, because the DNS server counts an open channel as a
 * live holder. When the channel drops it reconnects and claims again with
 * the same term, and emits 'lost' when the DNS server no longer grants it.
 */
export class DnsClaimClient extends EventEmitter<{ lost: [ClaimOutcome]; reclaimed: [ClaimOutcome] }> {
  private link: AuthenticatedChannel | undefined;
  private connecting: Promise<AuthenticatedChannel> | undefined;
  private waiter: Waiter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private held: DnsClaimRequest | undefined;
  private reclaiming = false;
  private stopped = false;

  constructor(private readonly deps: DnsClaimClientDeps, private readonly options: DnsClaimClientOptions) {
    super();
  }

  /** The claim this master holds now, if any. */
  get holding(): Readonly<DnsClaimRequest> | undefined {
    return this.held;
  }

  /**
   * Sends one claim and resolves with the DNS server's answer. A granted
   * claim is held until release(). Rejects when the DNS server cannot be
   * reached or does not answer in time.
   */
  claim(request: DnsClaimRequest): Promise<ClaimOutcome> {
    const run = this.queue.then(() => this.claimOnce(request));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stops holding the claim and closes the channel; the record stays until another master claims it. */
  release(reason: string): void {
    this.held = undefined;
    this.link?.channel.close(CLOSE_NORMAL, reason);
  }

  /** Releases the claim and stops reconnecting for good. */
  stop(reason: string): void {
    this.stopped = true;
    this.release(reason);
  }

  private async claimOnce(request: DnsClaimRequest): Promise<ClaimOutcome> {
    if (this.stopped) throw new Error('the DNS claim client is stopped');
    const link = await this.connect();
    const outcome = await this.exchange(link, request);
    this.held = outcome.granted ? { ...request } : undefined;
    return outcome;
  }

  private exchange(link: AuthenticatedChannel, request: DnsClaimRequest): Promise<ClaimOutcome> {
    const timeoutMs = this.options.replyTimeoutMs ?? DEFAULT_CLAIM_REPLY_TIMEOUT_MS;
    return new Promise<ClaimOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`the DNS server did not answer the claim of ${request.hostname} within ${timeoutMs} ms`));
        link.channel.close(CLOSE_NORMAL, 'claim timed out');
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
      const sent = link.channel.send({ dnsClaim: { hostname: request.hostname, address: request.address, term: request.term, owner: this.options.self.name } });
      if (!sent) this.failWaiter(new Error('the DNS claim channel closed before the claim was sent'));
    });
  }

  private connect(): Promise<AuthenticatedChannel> {
    if (this.link !== undefined && this.link.channel.isOpen) return Promise.resolve(this.link);
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<AuthenticatedChannel> {
    const { server } = this.options;
    const link = await openAuthenticatedChannel({ logger: this.deps.logger }, {
      host: server.address,
      port: server.port,
      path: DNS_CLAIM_PATH,
      tlsName: this.options.tlsName,
      ca: this.deps.ca,
      lookup: this.deps.lookup,
      localAddress: this.options.localAddress,
      heartbeat: this.options.heartbeat,
      psk: this.deps.psk,
      self: { ...this.options.self, term: 0 },
    });
    this.link = link;
    link.attach((envelope) => {
      if (envelope.body === 'dnsClaimResult') {
        this.settle(envelope.dnsClaimResult as atlas.DnsClaimResult);
      } else if (envelope.body === 'error') {
        this.failWaiter(new Error(`the DNS server rejected the claim: ${envelope.error?.message ?? ''}`));
      } else {
        throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected on the DNS claim channel`);
      }
    });
    link.channel.once('close', (close) => this.closed(link, close));
    this.deps.logger.info({ server: `${server.address}:${server.port}` }, 'DNS claim channel open');
    return link;
  }

  private settle(result: atlas.DnsClaimResult): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter === undefined) {
      this.deps.logger.warn({ result }, 'DNS claim result without a pending claim, ignored');
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve({ granted: result.granted, hostname: result.hostname, address: result.address, term: result.term, owner: result.owner, message: result.message });
  }

  private failWaiter(error: Error): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter === undefined) return;
    clearTimeout(waiter.timer);
    waiter.reject(error);
  }

  private closed(link: AuthenticatedChannel, close: ChannelClose): void {
    if (this.link === link) this.link = undefined;
    this.failWaiter(new Error(`the DNS claim channel closed (code ${close.code}${close.reason ? `, ${close.reason}` : ''})`));
    if (this.held === undefined || this.stopped) return;
    this.deps.logger.warn({ code: close.code, reason: close.reason, held: this.held }, 'DNS claim channel closed while holding a claim; claiming again');
    void this.reclaim();
  }

  /** Gets a held claim back after its channel closed: retries until granted, refused or released. */
  private async reclaim(): Promise<void> {
    if (this.reclaiming) return;
    this.reclaiming = true;
    const delays = this.options.reclaimDelaysMs ?? DEFAULT_RECLAIM_DELAYS_MS;
    try {
      for (let attempt = 1; this.held !== undefined && !this.stopped; attempt++) {
        const request = this.held;
        try {
          const outcome = await this.claim(request);
          if (outcome.granted) this.emit('reclaimed', outcome);
          else this.emit('lost', outcome);
          return;
        } catch (error) {
          const delayMs = delays[Math.min(attempt, delays.length) - 1] ?? 1000;
          this.deps.logger.warn({ attempt, delayMs, err: errorMessage(error) }, 'claiming again failed, retrying');
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
      }
    } finally {
      this.reclaiming = false;
    }
  }
}
