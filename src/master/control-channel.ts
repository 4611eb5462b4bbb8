import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { SOFTWARE_VERSION } from '../config/constants.js';
import type { Logger } from '../logging/logger.js';
import { Channel, type ChannelClose, type HeartbeatOptions } from '../net/channel.js';
import { WsServer, type RequestHandler, type TlsServerCredentials } from '../net/ws-server.js';
import { CLOSE_NORMAL, ProtocolError, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, Role, type atlas } from '../protocol/messages.js';
import { resumeToken, verifyResumeToken } from '../protocol/resume-token.js';
import { MAX_UTC_OFFSET_MINUTES, MIN_UTC_OFFSET_MINUTES } from '../routing/index.js';
import { roleName, type ClientRegistry, type ConnectedClient } from './client-registry.js';
import type { SessionBroker } from './session-broker.js';
import type { SessionKey, SessionKeyStore } from './session-keys.js';
import type { SupportQueue } from './support-queue.js';

export const CONTROL_PATH = '/control';
/** Client ids a client may choose itself; anything else is rejected in the hello. */
const CLIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Maximum length of a display name or support issue kept, in characters. */
export const MAX_TEXT_FIELD_CHARS = 200;
/** Time a new connection has to send its ClientHello before it is closed. */
export const DEFAULT_HELLO_TIMEOUT_MS = 10_000;

export interface ControlChannelDeps {
  logger: Logger;
  registry: ClientRegistry;
  queue: SupportQueue;
  broker: SessionBroker;
  /** Fields of ClientWelcome that come from the master and its configuration. */
  welcome: () => Omit<atlas.IClientWelcome, 'clientId' | 'resumeToken'>;
  /** Cluster session key, which also keys the clients' resume tokens. */
  sessionKey: () => Uint8Array;
  /** Keys of the session generation API that customers present in their hello; none are accepted when absent. */
  sessionKeys?: SessionKeyStore;
  /** Throws a ProtocolError when this master may not act as the primary now; called before every message is handled. */
  fence?: () => void;
}

export interface ControlChannelOptions {
  /** Loopback address and port of the master's public address. */
  address: string;
  port: number;
  tls: TlsServerCredentials;
  heartbeat: HeartbeatOptions;
  /** DEFAULT_HELLO_TIMEOUT_MS when absent. */
  helloTimeoutMs?: number;
  /** Plain HTTPS requests on the same address (command API, admin API); 404 when absent. */
  onRequest?: RequestHandler;
}

/**
 * The control channel on the master's public address: every online client
 * keeps one open. It runs the hello, the support queue and session
 * brokering, and ends a client's session when its channel closes.
 */
export class ControlChannelServer {
  private readonly server: WsServer;
  private stopping = false;

  constructor(private readonly deps: ControlChannelDeps, private readonly options: ControlChannelOptions) {
    this.server = new WsServer(
      { logger: deps.logger },
      { host: options.address, port: options.port, tls: options.tls, paths: { [CONTROL_PATH]: (ws, request) => this.accept(ws, request) }, onRequest: options.onRequest },
    );
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const port = await this.server.listen();
    this.deps.logger.info({ address: this.options.address, port, path: CONTROL_PATH }, 'control channel listening');
    return port;
  }

  /**
   * Drops every client and stops listening. Sessions are not ended: their
   * streams keep flowing through the traffic nodes, and a backup master that
   * takes over finds them in the state it replicated.
   */
  async close(): Promise<void> {
    this.stopping = true;
    await this.server.close();
  }

  private accept(ws: WebSocket, _request: IncomingMessage): void {
    const channel = new Channel(ws, { logger: this.deps.logger }, { heartbeat: this.options.heartbeat });
    const logger = this.deps.logger.child({ peer: channel.remoteAddress });
    let client: ConnectedClient | undefined;
    logger.debug('control channel opened');

    const helloTimeoutMs = this.options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
    const helloTimer = setTimeout(() => {
      channel.fail(ErrorCode.ERROR_TIMEOUT, `no clientHello within ${helloTimeoutMs} ms of connecting`);
    }, helloTimeoutMs);
    helloTimer.unref();

    channel.onMessage((envelope) => {
      this.deps.fence?.();
      if (client === undefined) {
        clearTimeout(helloTimer);
        client = this.hello(channel, logger, envelope);
      } else {
        this.dispatch(client, envelope);
      }
    });
    channel.once('close', (close) => {
      clearTimeout(helloTimer);
      if (client === undefined) {
        logger.debug({ code: close.code, reason: close.reason }, 'control channel closed before hello');
      } else {
        this.disconnected(client, close);
      }
    });
  }

  private hello(channel: Channel, logger: Logger, envelope: DecodedEnvelope): ConnectedClient {
    if (envelope.body !== 'clientHello') {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `the first message on the control channel must be clientHello, got ${envelope.body}`);
    }
    // A decoded body is a message instance with every field defaulted.
    const hello = envelope.clientHello as atlas.ClientHello;
    if (hello.softwareVersion !== SOFTWARE_VERSION) {
      throw new ProtocolError(ErrorCode.ERROR_SOFTWARE_VERSION, `client software version ${JSON.stringify(hello.softwareVersion)} is not supported; this master runs ${SOFTWARE_VERSION}`);
    }
    if (hello.role !== Role.ROLE_CUSTOMER && hello.role !== Role.ROLE_REPRESENTATIVE) {
      throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `clientHello.role is ${hello.role}; expected ROLE_CUSTOMER or ROLE_REPRESENTATIVE`);
    }
    if (hello.utcOffsetMinutes < MIN_UTC_OFFSET_MINUTES || hello.utcOffsetMinutes > MAX_UTC_OFFSET_MINUTES) {
      throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `clientHello.utcOffsetMinutes is ${hello.utcOffsetMinutes}; expected ${MIN_UTC_OFFSET_MINUTES} to ${MAX_UTC_OFFSET_MINUTES}`);
    }
    if (hello.clientId !== '' && !CLIENT_ID_PATTERN.test(hello.clientId)) {
      throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `clientHello.clientId ${JSON.stringify(hello.clientId.slice(0, 80))} is invalid; expected 1-64 characters of A-Z, a-z, 0-9, ".", "_" or "-", or empty to get one assigned`);
    }

    const sessionKey = this.deps.sessionKey();
    if (hello.clientId !== '' && this.deps.registry.get(hello.clientId) !== undefined && !verifyResumeToken(sessionKey, hello.clientId, hello.resumeToken)) {
      throw new ProtocolError(ErrorCode.ERROR_AUTH_FAILED, `client id ${hello.clientId} is online on another connection; a reconnecting client must present the resume token from its ClientWelcome`);
    }

    const clientId = hello.clientId || `c-${randomBytes(8).toString('hex')}`;
    const generated = this.redeemSessionKey(hello, clientId);
    const client: ConnectedClient = {
      clientId,
      role: hello.role,
      displayName: hello.displayName.slice(0, MAX_TEXT_FIELD_CHARS),
      address: channel.remoteAddress,
      utcOffsetMinutes: hello.utcOffsetMinutes,
      channel,
      logger: logger.child({ client: clientId }),
      connectedAtMs: Date.now(),
    };
    this.replacePrevious(client, this.deps.registry.add(client));
    this.rejoinSession(client);

    channel.send({ clientWelcome: { ...this.deps.welcome(), clientId, resumeToken: resumeToken(sessionKey, clientId) } });
    client.logger.info({ role: roleName(client.role), displayName: client.displayName, utcOffsetMinutes: client.utcOffsetMinutes }, 'client online');
    if (client.role === Role.ROLE_REPRESENTATIVE) client.channel.send({ queueUpdate: { entries: this.deps.queue.entries() } });
    if (generated !== undefined && client.sessionId === undefined) {
      // The issue text comes from the integration that generated the key; a SupportRequest may replace it.
      this.deps.queue.enqueue(client.clientId, client.displayName, (generated.externalKey || 'session key from the session generation API').slice(0, MAX_TEXT_FIELD_CHARS));
      client.logger.info({ queue: generated.queueId, expiresAt: new Date(generated.expiresAtMs).toISOString(), waiting: this.deps.queue.entries().length }, 'customer joined the queue with a session key');
      this.broadcastQueue();
    }
    return client;
  }

  /**
   * Admits a customer that presents a session key, or throws a ProtocolError
   * that closes the connection when the key is unknown, expired or used by
   * another client. Returns undefined for a hello without a key.
   */
  private redeemSessionKey(hello: atlas.ClientHello, clientId: string): SessionKey | undefined {
    if (hello.sessionKey === '') return undefined;
    if (hello.role !== Role.ROLE_CUSTOMER) {
      throw new ProtocolError(ErrorCode.ERROR_MALFORMED, 'clientHello.sessionKey is set by a representative; only a customer client presents a session key');
    }
    const result = this.deps.sessionKeys?.redeem(hello.sessionKey, clientId) ?? { ok: false as const, reason: 'this master does not accept session keys' };
    if (!result.ok) throw new ProtocolError(ErrorCode.ERROR_SESSION_KEY_REJECTED, result.reason);
    return result.key;
  }

  /**
   * Hands a reconnecting client's state over from its previous connection and
   * closes that connection. With the same role the client keeps its queue
   * place and session. With another role the previous connection counts as gone.
   */
  private replacePrevious(client: ConnectedClient, previous: ConnectedClient | undefined): void {
    if (previous === undefined) return;
    if (previous.role === client.role) {
      client.sessionId = previous.sessionId;
    } else {
      this.leave(previous, 'replaced by a connection with another role');
    }
    client.logger.info({ previousAddress: previous.address }, 'client reconnected, closing its previous control channel');
    previous.channel.close(CLOSE_NORMAL, 'replaced by a newer connection of the same client');
  }

  private dispatch(client: ConnectedClient, envelope: DecodedEnvelope): void {
    const { broker } = this.deps;
    const isCustomer = client.role === Role.ROLE_CUSTOMER;
    switch (envelope.body) {
      case 'supportRequest':
        if (!isCustomer) break;
        this.supportRequest(client, envelope.supportRequest as atlas.SupportRequest);
        return;
      case 'acceptRequest':
        if (isCustomer) break;
        this.acceptRequest(client, envelope.acceptRequest as atlas.AcceptRequest);
        return;
      case 'showMyScreen':
        if (isCustomer) break;
        broker.showMyScreen(client, envelope.showMyScreen?.sessionId ?? '');
        return;
      case 'endSession':
        broker.endByParticipant(client, envelope.endSession!);
        return;
      case 'peerSignal':
        broker.relayPeerSignal(client, envelope.peerSignal!);
        return;
      case 'pathReport':
        broker.recordPath(client, envelope.pathReport!);
        return;
      case 'ticketRequest':
        broker.renewTicket(client, envelope.ticketRequest!);
        return;
      default:
        throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not a control channel message`);
    }
    throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not accepted from a ${roleName(client.role)}`);
  }

  private supportRequest(client: ConnectedClient, request: atlas.SupportRequest): void {
    if (client.sessionId !== undefined) {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `supportRequest while in session ${client.sessionId}; end the session first`);
    }
    this.deps.queue.enqueue(client.clientId, client.displayName, request.issue.slice(0, MAX_TEXT_FIELD_CHARS));
    client.logger.info({ waiting: this.deps.queue.entries().length }, 'customer queued');
    this.broadcastQueue();
  }

  private acceptRequest(representative: ConnectedClient, request: atlas.AcceptRequest): void {
    if (representative.sessionId !== undefined) {
      const reason = `representative is already in session ${representative.sessionId}; end it first`;
      representative.channel.send({ sessionEnded: { sessionId: '', reason } });
      return;
    }
    const entry = this.deps.queue.take(request.customerClientId);
    const customer = entry === undefined ? undefined : this.deps.registry.get(entry.clientId ?? '');
    if (customer === undefined) {
      const requested = request.customerClientId || 'the oldest customer';
      representative.channel.send({ sessionEnded: { sessionId: '', reason: `no waiting customer: ${requested} is not in the queue` } });
      return;
    }
    this.broadcastQueue();
    this.deps.broker.start(customer, representative);
  }

  private broadcastQueue(): void {
    const entries = this.deps.queue.entries();
    for (const representative of this.deps.registry.representatives()) {
      representative.channel.send({ queueUpdate: { entries } });
    }
  }

  /** Gives a client the session it took part in under the former primary, which this master took over. */
  private rejoinSession(client: ConnectedClient): void {
    if (client.sessionId !== undefined) return;
    const session = this.deps.broker.sessionOf(client.clientId);
    if (session === undefined) return;
    const expected = session.customerId === client.clientId ? Role.ROLE_CUSTOMER : Role.ROLE_REPRESENTATIVE;
    if (client.role !== expected) return;
    client.sessionId = session.id;
    client.logger.info({ session: session.id }, 'client rejoined its session after a master change');
  }

  private disconnected(client: ConnectedClient, close: ChannelClose): void {
    const cause = close.reason || `close code ${close.code}`;
    if (!this.deps.registry.isCurrent(client)) {
      client.logger.debug({ code: close.code }, 'replaced control channel closed');
      return;
    }
    this.deps.registry.remove(client);
    if (this.stopping) {
      client.logger.info({ code: close.code }, 'client dropped, master stopping; its session continues');
      return;
    }
    this.leave(client, cause);
    client.logger.info({ code: close.code, reason: close.reason, local: close.local }, 'client offline');
  }

  /** Takes a client out of the queue and ends its session. */
  private leave(client: ConnectedClient, cause: string): void {
    if (this.deps.queue.remove(client.clientId)) this.broadcastQueue();
    this.deps.broker.clientGone(client, cause);
  }
}
