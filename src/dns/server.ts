import { isIP } from 'node:net';
import { Packet } from 'dns2';
import type { Logger } from '../logging/logger.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { answerQuery, DEFAULT_RECORD_TTL_SECONDS, RCODE } from './answer.js';
import { isLoopbackAddress } from './cidr.js';
import { DnsListeners, type Transport } from './transport.js';
import { encodeForUdp, encodeWithoutCompression, implausibleMessage, udpResponseLimit } from './wire.js';
import { Zone, type ZoneDefinition } from './zone.js';

export interface ClusterDnsServerDeps {
  logger: Logger;
}

export interface ClusterDnsServerOptions {
  /** Loopback address (127.0.0.0/8 or ::1) for both UDP and TCP. */
  address: string;
  /** Port for both UDP and TCP. 0 picks a port that is free for both. */
  port: number;
  zone: ZoneDefinition | Zone;
  /** TTL of every record sent, DEFAULT_RECORD_TTL_SECONDS when absent. */
  ttlSeconds?: number;
}

/** Counters since the server was created. */
export interface DnsServerStats {
  /** Requests parsed and answered (any response code). */
  queries: number;
  /** Messages dropped because they cannot be parsed, are DNS responses, or stop mid-message on TCP. */
  malformed: number;
  /** UDP responses sent with the TC bit because they did not fit the client's size limit. */
  truncated: number;
}

/**
 * Authoritative DNS server for the cluster zone over UDP and TCP on one
 * loopback address and port. It answers A, SRV (with the targets' A records as
 * additional records), SOA and ANY queries, and views select records by client
 * source address. It never recurses or forwards, so names outside the zone get REFUSED.
 */
export class ClusterDnsServer {
  private readonly logger: Logger;
  private zone: Zone;
  private serial = Math.floor(Date.now() / 1000) >>> 0;
  private readonly ttlSeconds: number;
  private listeners: DnsListeners | undefined;
  private starting = false;
  private readonly counters: DnsServerStats = { queries: 0, malformed: 0, truncated: 0 };

  constructor(
    deps: ClusterDnsServerDeps,
    private readonly options: ClusterDnsServerOptions,
  ) {
    if (isIP(options.address) === 0 || !isLoopbackAddress(options.address)) {
      throw new ConfigError(`address: expected a loopback IP address (127.0.0.0/8 or ::1), got ${JSON.stringify(options.address)}`);
    }
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 0xffff) {
      throw new ConfigError(`port: expected an integer from 0 to 65535, got ${JSON.stringify(options.port)}`);
    }
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_RECORD_TTL_SECONDS;
    this.zone = options.zone instanceof Zone ? options.zone : Zone.fromDefinition(options.zone);
    this.logger = deps.logger.child({ component: 'dns-server' });
  }

  /** Binds UDP and TCP and starts answering. Resolves with the address and the port actually bound. */
  async listen(): Promise<{ address: string; port: number }> {
    if (this.starting || this.listeners !== undefined) throw new Error('DNS server: listen() was called twice');
    this.starting = true;
    try {
      this.listeners = await DnsListeners.bind(this.options.address, this.options.port, {
        answer: (message, clientAddress, transport) => this.answer(message, clientAddress, transport),
        malformed: (transport, reason) => this.countMalformed(transport, reason),
        socketError: (transport, error) => this.logger.debug({ transport, err: errorMessage(error) }, 'DNS socket error'),
      });
    } finally {
      this.starting = false;
    }
    const bound = { address: this.listeners.address, port: this.listeners.port };
    this.logger.info({ ...bound, zone: this.zone.origin, records: this.zone.recordCounts, views: this.zone.viewNames }, 'DNS server listening');
    return bound;
  }

  /** Stops both listeners and drops open TCP connections. Safe to call more than once. */
  async close(): Promise<void> {
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners === undefined) return;
    await listeners.close();
    this.logger.info({ address: listeners.address, port: listeners.port, stats: this.stats() }, 'DNS server closed');
  }

  /** Address and port while listening. */
  address(): { address: string; port: number } | undefined {
    return this.listeners === undefined ? undefined : { address: this.listeners.address, port: this.listeners.port };
  }

  /** Replaces the whole zone. Throws ConfigError (and keeps the old zone) when the definition is invalid. */
  setZone(zone: ZoneDefinition | Zone): void {
    this.zone = zone instanceof Zone ? zone : Zone.fromDefinition(zone);
    this.serial = (this.serial + 1) >>> 0;
    this.logger.info({ zone: this.zone.origin, records: this.zone.recordCounts, views: this.zone.viewNames, serial: this.serial }, 'zone replaced');
  }

  /**
   * Sets the A record of one hostname, in the base records or in one view.
   * An empty list removes the record. In a view it removes the view's override, so the base record applies again.
   */
  setRecord(hostname: string, addresses: string[], view?: string): void {
    this.zone = this.zone.withAddresses(hostname, addresses, view);
    this.serial = (this.serial + 1) >>> 0;
    this.logger.info({ hostname, addresses, view, serial: this.serial }, 'A record changed');
  }

  /** Returns the zone that queries are answered from now. */
  currentZone(): Zone {
    return this.zone;
  }

  stats(): DnsServerStats {
    return { ...this.counters };
  }

  private countMalformed(transport: Transport, reason: string): void {
    this.counters.malformed += 1;
    this.logger.debug({ transport, reason, malformed: this.counters.malformed }, 'malformed DNS message dropped');
  }

  /** Parses one message and returns the encoded response, or undefined for a message that gets none. */
  private answer(message: Buffer, clientAddress: string | undefined, transport: Transport): Buffer | undefined {
    const implausible = implausibleMessage(message);
    if (implausible !== undefined) {
      this.countMalformed(transport, implausible);
      return undefined;
    }

    let request: Packet;
    try {
      request = Packet.parse(message);
    } catch (error) {
      this.countMalformed(transport, errorMessage(error));
      return undefined;
    }
    if (request.header.qr === 1) {
      this.countMalformed(transport, `a DNS response (id ${request.header.id}) was sent to the server`);
      return undefined;
    }

    this.counters.queries += 1;
    try {
      return this.encodeAnswer(request, clientAddress, transport);
    } catch (error) {
      // Only a zone record that cannot be encoded gets here, and the client gets SERVFAIL.
      this.logger.warn({ err: errorMessage(error), question: request.questions[0]?.name }, 'building a DNS answer failed');
      const response = Packet.createResponseFromRequest(request);
      response.header.rcode = RCODE.SERVFAIL;
      return encodeWithoutCompression(response);
    }
  }

  private encodeAnswer(request: Packet, clientAddress: string | undefined, transport: Transport): Buffer {
    const { response, summary } = answerQuery(request, { zone: this.zone, clientAddress, ttlSeconds: this.ttlSeconds, serial: this.serial });
    let buffer: Buffer;
    let truncated = false;
    if (transport === 'udp') {
      ({ buffer, truncated } = encodeForUdp(response, udpResponseLimit(request)));
      if (truncated) this.counters.truncated += 1;
    } else {
      buffer = encodeWithoutCompression(response);
    }
    this.logger.debug({ ...summary, transport, clientAddress, truncated, bytes: buffer.length }, 'DNS query answered');
    return buffer;
  }
}
