import type { WebSocket } from 'ws';
import type { Logger } from '../logging/logger.js';
import { Channel, type ChannelOptions } from '../net/channel.js';
import { CLOSE_NORMAL, ProtocolError, type DecodedEnvelope } from '../protocol/envelope.js';
import { ErrorCode, StreamDirection, type TicketClaims } from '../protocol/messages.js';
import { TicketReplayGuard, verifyTicket } from '../protocol/tickets.js';
import type { ClientRegistry, ConnectedClient } from './client-registry.js';
import type { RelayHub, StreamRelay } from './session-relay.js';
import type { StateStore } from './state-store.js';

/** Time a new session-channel connection has to send SessionJoin. */
export const DEFAULT_JOIN_TIMEOUT_MS = 10_000;

export interface SessionEndpointDeps {
  logger: Logger;
  store: StateStore;
  hub: RelayHub;
  clients: ClientRegistry;
  /** Called when a client completes SessionJoin (true) and when it leaves (false). */
  onClientChange: (client: ConnectedClient, connected: boolean) => void;
}

export interface SessionEndpointOptions {
  nodeName: string;
  channel: ChannelOptions;
  joinTimeoutMs?: number;
}

/** A client that completed SessionJoin. */
interface JoinedConnection {
  channel: Channel;
  claims: TicketClaims;
  client: ConnectedClient;
  relay: StreamRelay;
}

/**
 * The session channel (`/session`): verifies each client's ticket, then joins
 * it to the relay of its session and stream. Publishers send StreamFrame and
 * StreamEnd; subscribers only receive.
 */
export class SessionEndpoint {
  private readonly replayGuard = new TicketReplayGuard();
  private readonly channels = new Set<Channel>();

  constructor(private readonly deps: SessionEndpointDeps, private readonly options: SessionEndpointOptions) {}

  /** Takes over a WebSocket upgraded on `/session`. */
  accept(ws: WebSocket): void {
    const channel = new Channel(ws, { logger: this.deps.logger }, this.options.channel);
    const logger = this.deps.logger.child({ peer: channel.remoteAddress });
    this.channels.add(channel);
    logger.debug('session channel connection opened');

    const timeoutMs = this.options.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_MS;
    const joinTimer = setTimeout(() => {
      channel.fail(ErrorCode.ERROR_TIMEOUT, `no SessionJoin received within ${timeoutMs} ms of connecting`);
    }, timeoutMs);
    joinTimer.unref();

    let joined: JoinedConnection | undefined;
    channel.onMessage((envelope, raw) => {
      if (joined !== undefined) {
        this.handleJoined(joined, envelope, raw);
        return;
      }
      clearTimeout(joinTimer);
      joined = this.join(channel, envelope, logger);
    });
    channel.on('close', (close) => {
      clearTimeout(joinTimer);
      this.channels.delete(channel);
      if (joined !== undefined) this.leave(joined, close.code, close.reason);
    });
  }

  /** Closes every session-channel connection (the node is stopping). */
  closeAll(reason: string): void {
    for (const channel of this.channels) channel.close(CLOSE_NORMAL, reason);
  }

  private join(channel: Channel, envelope: DecodedEnvelope, logger: Logger): JoinedConnection {
    if (envelope.body !== 'sessionJoin' || envelope.sessionJoin == null) {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `expected SessionJoin as the first message on the session channel, got ${envelope.body}`);
    }
    const { store, hub, clients } = this.deps;
    const config = store.config;
    if (config === undefined) {
      throw new ProtocolError(
        ErrorCode.ERROR_TICKET_INVALID,
        'this traffic node has no cluster configuration applied yet, so it has no session key to verify tickets; retry after the master syncs the configuration',
      );
    }

    const claims = verifyTicket(config.sessionKey, envelope.sessionJoin.ticket, this.options.nodeName);
    checkClaims(claims);
    // A node that is not accepting new connections still lets participants of
    // sessions it already carries join, so a session in progress can add a stream.
    if (!store.accepting && !hub.hasSession(claims.sessionId)) {
      throw new ProtocolError(ErrorCode.ERROR_NOT_ACCEPTING, `traffic node ${this.options.nodeName} is not accepting new client connections; ask the master for another node`);
    }
    this.replayGuard.consume(claims);

    const clientId = envelope.sessionJoin.clientId ?? '';
    const client = clients.add(claims, clientId, channel.remoteAddress);
    const sessionLogger = logger.child({ session: claims.sessionId, client: clientId, stream: claims.stream, direction: client.direction });
    const relay = hub.relay(claims.sessionId, claims.stream, sessionLogger);
    channel.send({ sessionJoined: { nodeName: this.options.nodeName, sessionId: claims.sessionId, stream: claims.stream } });

    if (claims.direction === StreamDirection.DIRECTION_PUBLISH) {
      const previous = relay.setPublisher(channel);
      if (previous !== undefined) {
        sessionLogger.info('publisher replaced by a newer connection');
        previous.close(CLOSE_NORMAL, 'replaced by a newer publisher connection for this stream');
      }
    } else {
      relay.addSubscriber(channel);
    }
    sessionLogger.info({ participant: claims.participantId, role: client.role, reason: claims.reason }, 'session client joined');
    this.deps.onClientChange(client, true);
    return { channel, claims, client, relay };
  }

  private handleJoined(joined: JoinedConnection, envelope: DecodedEnvelope, raw: Buffer): void {
    const { claims } = joined;
    let stream: string | null | undefined;
    if (envelope.body === 'streamFrame') stream = envelope.streamFrame?.stream;
    else if (envelope.body === 'streamEnd') stream = envelope.streamEnd?.stream;
    else throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is not expected after SessionJoin; only a publisher's StreamFrame and StreamEnd are`);

    if (claims.direction !== StreamDirection.DIRECTION_PUBLISH) {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `this connection subscribes to stream ${claims.stream}; only the publisher may send ${envelope.body}`);
    }
    if (stream !== claims.stream) {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `${envelope.body} is for stream ${JSON.stringify(stream)}, but the ticket allows only stream ${JSON.stringify(claims.stream)}`);
    }
    joined.relay.forward(raw);
  }

  private leave(joined: JoinedConnection, code: number, reason: string): void {
    const { client } = joined;
    this.deps.clients.remove(client);
    this.deps.logger.info({ session: client.sessionId, peer: client.sourceIp, client: client.clientId, stream: client.stream, code, reason }, 'session client left');
    this.deps.hub.leave(joined.relay, joined.channel);
    this.deps.onClientChange(client, false);
  }
}

function checkClaims(claims: TicketClaims): void {
  if (claims.sessionId === '' || claims.stream === '') {
    throw new ProtocolError(ErrorCode.ERROR_TICKET_INVALID, 'session ticket has an empty session id or stream name');
  }
  if (claims.direction !== StreamDirection.DIRECTION_PUBLISH && claims.direction !== StreamDirection.DIRECTION_SUBSCRIBE) {
    throw new ProtocolError(ErrorCode.ERROR_TICKET_INVALID, `session ticket direction is ${claims.direction}; expected publish (1) or subscribe (2)`);
  }
}
