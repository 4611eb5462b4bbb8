import { randomBytes } from 'node:crypto';
import type { Logger } from '../logging/logger.js';
import { ProtocolError } from '../protocol/envelope.js';
import { ErrorCode, StreamDirection, type ClusterConfig, type IAssignment, type atlas } from '../protocol/messages.js';
import { DEFAULT_TICKET_TTL_MS, issueTicket } from '../protocol/tickets.js';
import type { DelegationConfig } from '../config/delegation-config.js';
import type { Choice, ChoiceReason, DelegatedMethod } from '../routing/index.js';
import { roleName, type ClientRegistry, type ConnectedClient } from './client-registry.js';
import { delegatedTarget, learnedReason, type DelegatedTarget } from './delegated-assignment.js';
import { buildDirectPlan } from './direct-plan.js';
import { toWireReason, type NodeSelection } from './node-selection.js';

export const CUSTOMER_SCREEN_STREAM = 'customer-screen';
export const REP_SCREEN_STREAM = 'rep-screen';
/** Maximum length of a path reason kept from a client's PathReport, in characters. */
export const MAX_PATH_REASON_CHARS = 300;

/** One connection a participant must open, as the connected-clients report lists it. */
export interface SessionConnection {
  kind: 'home' | 'cross';
  node: string;
  stream: string;
  direction: 'publish' | 'subscribe';
  reason: string;
  /** True while the traffic node reports the connection open. */
  connected: boolean;
  /** Time the traffic node last reported the connection open; absent while it is closed. */
  connectedAtMs?: number;
  /** Path the client reported for the stream ("direct" or "relay"); empty until it reports one. */
  path: string;
  /** Reason the client gave for `path`; empty until it reports one. */
  pathReason?: string;
}

export interface SessionRecord {
  id: string;
  customerId: string;
  representativeId: string;
  /** Customer's home node; empty until the node reports the customer, under the SRV, A record and anycast methods. */
  customerNode: string;
  /** Representative's home node; empty until learned, like customerNode. */
  representativeNode: string;
  /** Reason for the representative's home node, which the customer's Show My Screen connection also uses. */
  representativeReason: ChoiceReason;
  startedAtMs: number;
  connections: Map<string, SessionConnection[]>;
  logger: Logger;
  /** Method that left a home node to the client, when one did; its home connections start with an empty node. */
  delegatedMethod?: DelegatedMethod;
  /** Reason for the customer's home node, which the representative's cross connection uses. */
  customerReason?: ChoiceReason;
  /** Connections that wait for a home node to be learned: the representative's cross connection, the customer's screen share. */
  waiting?: { representativeCross: boolean; screenShare: boolean };
}

export interface SessionBrokerDeps {
  logger: Logger;
  registry: ClientRegistry;
  selection: NodeSelection;
  /** Last synced configuration: node public addresses and the session key. */
  config: () => ClusterConfig;
  /** Sends a timeline event to the launcher (session started or ended). */
  report?: (event: string, data: Record<string, unknown>) => void;
  /** Names and addresses of the SRV, A record and anycast methods; those methods cannot start sessions without them. */
  delegation?: DelegationConfig;
  /** `host:port` of the STUN server clients query for a direct attempt; undefined when none serves. */
  stunServer?: () => string | undefined;
}

export interface SessionBrokerOptions {
  ticketTtlMs?: number;
}

/**
 * Starts, changes and ends support sessions: chooses both home traffic
 * nodes, issues a ticket for every connection a participant must open, and
 * sends both participants their assignments. Stream bytes never pass through the master.
 */
export class SessionBroker {
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly ticketTtlMs: number;
  private changes = 0;

  constructor(private readonly deps: SessionBrokerDeps, options: SessionBrokerOptions = {}) {
    this.ticketTtlMs = options.ticketTtlMs ?? DEFAULT_TICKET_TTL_MS;
  }

  get(sessionId: string): SessionRecord | undefined {
    return this.sessions.get(sessionId);
  }

  list(): SessionRecord[] {
    return [...this.sessions.values()];
  }

  /** Counter that rises with every change to a session, so replication can tell when to send them again. */
  get revision(): number {
    return this.changes;
  }

  /** Returns the session that `clientId` takes part in, if any. */
  sessionOf(clientId: string): SessionRecord | undefined {
    return this.list().find((session) => session.customerId === clientId || session.representativeId === clientId);
  }

  /** Adds sessions that another master brokered (after a takeover); their participants join as they reconnect. */
  restore(records: readonly SessionRecord[]): void {
    for (const record of records) this.sessions.set(record.id, record);
    if (records.length > 0) this.changes++;
  }

  /**
   * Starts a session between a waiting customer and a representative. When
   * no traffic node can be chosen for either participant, both get
   * SessionEnded with the reason and their control channels stay open.
   */
  start(customer: ConnectedClient, representative: ConnectedClient): SessionRecord | undefined {
    const id = `s-${randomBytes(8).toString('hex')}`;
    const logger = this.deps.logger.child({ session: id });
    const customerChoice = this.chooseFor(customer, id);
    const representativeChoice = this.chooseFor(representative, id);

    const failure = this.startFailureReason(customerChoice, 'customer') ?? this.startFailureReason(representativeChoice, 'representative');
    if (failure !== undefined) {
      logger.warn({ customer: customer.clientId, representative: representative.clientId, reason: failure }, 'session not started');
      for (const client of [customer, representative]) client.channel.send({ sessionEnded: { sessionId: id, reason: failure } });
      return undefined;
    }

    const delegatedMethod = [customerChoice, representativeChoice].find((choice) => choice.kind === 'delegated')?.method;
    const session: SessionRecord = {
      id,
      customerId: customer.clientId,
      representativeId: representative.clientId,
      customerNode: choiceNode(customerChoice),
      representativeNode: choiceNode(representativeChoice),
      representativeReason: representativeChoice.reason,
      customerReason: customerChoice.reason,
      startedAtMs: Date.now(),
      connections: new Map(),
      logger,
      ...(delegatedMethod === undefined ? {} : { delegatedMethod }),
      waiting: { representativeCross: false, screenShare: false },
    };
    this.sessions.set(id, session);
    this.changes++;
    customer.sessionId = id;
    representative.sessionId = id;

    const customerAssignments = [this.assign(session, customer, 'home', session.customerNode, CUSTOMER_SCREEN_STREAM, 'publish', customerChoice.reason)];
    const representativeAssignments = [this.assign(session, representative, 'home', session.representativeNode, REP_SCREEN_STREAM, 'publish', representativeChoice.reason)];
    // Under a delegated method the customer's home node is known only once its node reports it.
    if (session.customerNode === '') session.waiting!.representativeCross = true;
    else representativeAssignments.push(this.assign(session, representative, 'cross', session.customerNode, CUSTOMER_SCREEN_STREAM, 'subscribe', customerChoice.reason));

    // With peer to peer on, both get a direct plan; the assignments are then the fallback path.
    const config = this.deps.config();
    const stunServer = this.deps.stunServer?.();
    const customerDirect = buildDirectPlan(config, stunServer, id, customer, representative);
    const representativeDirect = buildDirectPlan(config, stunServer, id, representative, customer);
    customer.channel.send({
      sessionStart: { sessionId: id, peerClientId: representative.clientId, peerDisplayName: representative.displayName, assignments: customerAssignments, direct: customerDirect },
    });
    representative.channel.send({
      sessionStart: { sessionId: id, peerClientId: customer.clientId, peerDisplayName: customer.displayName, assignments: representativeAssignments, direct: representativeDirect },
    });
    const direct = customerDirect === undefined ? 'off' : customerDirect.skipReason || `attempt through STUN server ${customerDirect.stunServer}`;
    logger.info({ customer: customer.clientId, customerNode: session.customerNode, representative: representative.clientId, representativeNode: session.representativeNode, delegatedMethod, direct }, 'session started');
    this.deps.report?.('session-started', { sessionId: id, customer: customer.clientId, customerNode: session.customerNode, representative: representative.clientId, representativeNode: session.representativeNode });
    return session;
  }

  /** Sends the customer where to receive the representative's screen. */
  showMyScreen(representative: ConnectedClient, sessionId: string): void {
    const session = this.requireParticipant(representative, sessionId);
    if (session === undefined) return;
    if (session.representativeId !== representative.clientId) {
      throw new ProtocolError(ErrorCode.ERROR_UNEXPECTED_MESSAGE, `ShowMyScreen must come from the representative of session ${sessionId}`);
    }
    if (session.representativeNode === '') {
      session.waiting = { representativeCross: session.waiting?.representativeCross ?? false, screenShare: true };
      session.logger.info('screen share waits until the representative\'s home node reports the representative');
      return;
    }
    this.sendScreenShare(session);
  }

  private sendScreenShare(session: SessionRecord): void {
    const customer = this.deps.registry.get(session.customerId);
    if (customer === undefined) return;
    const assignment = this.assign(session, customer, 'cross', session.representativeNode, REP_SCREEN_STREAM, 'subscribe', session.representativeReason);
    customer.channel.send({ screenShareStart: { sessionId: session.id, assignment } });
    session.logger.info({ customer: customer.clientId, trafficNode: session.representativeNode }, 'screen share started');
  }

  /** Ends a session at a participant's request. */
  endByParticipant(client: ConnectedClient, request: atlas.IEndSession): void {
    const sessionId = request.sessionId ?? '';
    const session = this.requireParticipant(client, sessionId);
    if (session === undefined) return;
    const detail = request.reason ? `: ${request.reason}` : '';
    this.end(session, `ended by the ${roleName(client.role)} ${client.displayName || client.clientId}${detail}`);
  }

  /** Ends the session of a client whose control channel closed. */
  clientGone(client: ConnectedClient, cause: string): void {
    const session = client.sessionId === undefined ? undefined : this.sessions.get(client.sessionId);
    if (session === undefined) return;
    this.end(session, `the ${roleName(client.role)} ${client.displayName || client.clientId} disconnected (${cause})`);
  }

  /**
   * Ends every session with a connection through `node`, because a traffic
   * node that went offline took their streams with it; they must be
   * restarted. Returns the ids of the sessions ended.
   */
  endSessionsThrough(node: string, reason: string): string[] {
    const affected = this.list().filter((session) => sessionNodes(session).has(node));
    for (const session of affected) this.end(session, reason);
    return affected.map((session) => session.id);
  }

  /**
   * Replies to a participant's TicketRequest with the same assignment and a
   * fresh ticket, so it can reconnect to the same traffic node. A session that
   * ended gets SessionEnded; a connection the session does not have gets an
   * Error envelope, and the control channel stays open either way.
   */
  renewTicket(client: ConnectedClient, request: atlas.ITicketRequest): void {
    const sessionId = request.sessionId ?? '';
    const session = this.requireParticipant(client, sessionId);
    if (session === undefined) return;
    const direction = request.direction === StreamDirection.DIRECTION_PUBLISH ? 'publish' : 'subscribe';
    const connection = (session.connections.get(client.clientId) ?? []).find((candidate) => candidate.stream === request.stream && candidate.direction === direction);
    const config = this.deps.config();
    if (connection !== undefined && connection.node === '' && session.delegatedMethod !== undefined) {
      // The node has not reported the client yet, so the client may try any node again.
      const reason = { method: session.delegatedMethod, candidates: 0, tied: 0, text: connection.reason };
      const assignment = this.assign(session, client, connection.kind, '', connection.stream, connection.direction, reason);
      client.channel.send({ ticketGrant: { sessionId, assignment } });
      session.logger.info({ peer: client.clientId, stream: connection.stream, method: session.delegatedMethod }, 'fresh ticket issued for a reconnect under a delegated method');
      return;
    }
    const member = connection === undefined ? undefined : config.members.find((candidate) => candidate.name === connection.node);
    if (connection === undefined || member === undefined) {
      const message = `session ${sessionId} has no ${request.stream ?? ''} ${direction} connection on a configured traffic node for this client; nothing to renew`;
      client.logger.warn({ session: sessionId, stream: request.stream, direction, node: connection?.node }, 'ticket request for an unknown connection');
      client.channel.send({ error: { code: ErrorCode.ERROR_NOT_FOUND, message } });
      return;
    }

    const wireDirection = direction === 'publish' ? StreamDirection.DIRECTION_PUBLISH : StreamDirection.DIRECTION_SUBSCRIBE;
    const ticket = issueTicket(
      config.sessionKey,
      { sessionId, participantId: client.clientId, role: client.role, stream: connection.stream, direction: wireDirection, node: connection.node, reason: connection.reason },
      Date.now(),
      this.ticketTtlMs,
    );
    // The connection keeps the reason of the first choice; its method is not stored, so only the text goes back.
    const assignment: IAssignment = {
      kind: connection.kind,
      node: connection.node,
      host: member.publicHost,
      port: member.publicPort,
      stream: connection.stream,
      direction: wireDirection,
      ticket,
      reason: { method: '', prefix: '', prefixLength: 0, candidates: 0, tied: 0, text: connection.reason },
      srvName: '',
      tlsName: member.publicHost,
    };
    client.channel.send({ ticketGrant: { sessionId, assignment } });
    session.logger.info({ peer: client.clientId, stream: connection.stream, node: connection.node }, 'fresh ticket issued for a reconnect');
  }

  /** Sends SessionEnded to both participants and removes the session. */
  end(session: SessionRecord, reason: string): void {
    if (!this.sessions.delete(session.id)) return;
    this.changes++;
    for (const clientId of [session.customerId, session.representativeId]) {
      const client = this.deps.registry.get(clientId);
      if (client?.sessionId !== session.id) continue;
      client.sessionId = undefined;
      client.channel.send({ sessionEnded: { sessionId: session.id, reason } });
    }
    session.logger.info({ reason, durationMs: Date.now() - session.startedAtMs }, 'session ended');
    this.deps.report?.('session-ended', { sessionId: session.id, reason, nodes: [...sessionNodes(session)] });
  }

  /** Relays peer-to-peer signalling to the other participant, stamping the sender. */
  relayPeerSignal(client: ConnectedClient, signal: atlas.IPeerSignal): void {
    const session = this.requireParticipant(client, signal.sessionId ?? '');
    if (session === undefined) return;
    const peerId = client.clientId === session.customerId ? session.representativeId : session.customerId;
    this.deps.registry.get(peerId)?.channel.send({ peerSignal: { ...signal, fromClientId: client.clientId, toClientId: peerId } });
  }

  /**
   * Records the path a client reported for one of its streams, or for every
   * stream of the session when the report names none. A connection added
   * later (Show My Screen) takes the path of the client's other connections.
   */
  recordPath(client: ConnectedClient, report: atlas.IPathReport): void {
    const session = this.requireParticipant(client, report.sessionId ?? '');
    if (session === undefined) return;
    const path = report.path ?? '';
    if (path !== 'direct' && path !== 'relay') {
      throw new ProtocolError(ErrorCode.ERROR_MALFORMED, `PathReport.path is ${JSON.stringify(path.slice(0, 40))}; expected "direct" or "relay"`);
    }
    const stream = report.stream ?? '';
    for (const connection of session.connections.get(client.clientId) ?? []) {
      if (stream !== '' && connection.stream !== stream) continue;
      connection.path = path;
      connection.pathReason = (report.reason ?? '').slice(0, MAX_PATH_REASON_CHARS);
    }
    this.changes++;
    session.logger.info({ peer: client.clientId, stream: stream || '(every stream)', path, trafficNode: report.node, reason: report.reason }, 'stream path reported');
  }

  /** Marks a connection open or closed as the traffic node reports it. */
  recordClientReport(node: string, report: atlas.SessionClientReport): void {
    const session = this.sessions.get(report.sessionId);
    if (session === undefined) return;
    const direction = report.direction === StreamDirection.DIRECTION_PUBLISH ? 'publish' : 'subscribe';
    for (const connection of session.connections.get(report.participantId) ?? []) {
      if (connection.stream !== report.stream || connection.direction !== direction) continue;
      if (connection.node === '' && report.connected) this.learnNode(session, report, connection, node);
      if (connection.node === node) {
        connection.connected = report.connected;
        connection.connectedAtMs = report.connected ? Date.now() : undefined;
      }
    }
    this.changes++;
    session.logger.info({ trafficNode: node, peer: report.participantId, stream: report.stream, direction, clientIp: report.clientIp, connected: report.connected }, 'traffic node reported a session connection');
  }

  /**
   * Records the node a client reached under a delegated method, with the
   * network rule that explains it. Then sends the connections that waited for
   * that node: the representative's cross connection to the customer's home
   * node, or the customer's screen share from the representative's.
   */
  private learnNode(session: SessionRecord, report: atlas.SessionClientReport, connection: SessionConnection, node: string): void {
    const method = session.delegatedMethod;
    const delegation = this.deps.delegation;
    if (method === undefined || delegation === undefined) return;
    const member = this.deps.config().members.find((candidate) => candidate.name === node);
    const reason = learnedReason(method, delegation, member ?? undefined, report.clientIp);
    connection.node = node;
    connection.reason = reason.text;
    session.logger.info({ peer: report.participantId, trafficNode: node, clientIp: report.clientIp, method, reason: reason.text }, 'home node learned from the traffic node');
    this.deps.report?.('home-node-learned', { sessionId: session.id, participant: report.participantId, node, reason: reason.text });
    if (connection.kind !== 'home') return;

    if (report.participantId === session.customerId) {
      session.customerNode = node;
      session.customerReason = reason;
      if (session.waiting?.representativeCross === true) {
        session.waiting.representativeCross = false;
        const representative = this.deps.registry.get(session.representativeId);
        if (representative !== undefined) {
          const assignment = this.assign(session, representative, 'cross', node, CUSTOMER_SCREEN_STREAM, 'subscribe', reason);
          representative.channel.send({ sessionAssignment: { sessionId: session.id, assignment } });
          session.logger.info({ representative: representative.clientId, trafficNode: node }, 'cross connection sent to the representative');
        }
      }
    } else if (report.participantId === session.representativeId) {
      session.representativeNode = node;
      session.representativeReason = reason;
      if (session.waiting?.screenShare === true) {
        session.waiting.screenShare = false;
        this.sendScreenShare(session);
      }
    }
  }

  private chooseFor(client: ConnectedClient, sessionId: string): Choice {
    const choice = this.deps.selection.choose(client.address, client.utcOffsetMinutes);
    const logger = client.logger.child({ session: sessionId });
    const node = choice.kind === 'node' ? choice.node : undefined;
    logger.info({ kind: choice.kind, trafficNode: node, reason: choice.reason.text, method: choice.reason.method, clientIp: client.address, utcOffsetMinutes: client.utcOffsetMinutes }, 'traffic node choice');
    return choice;
  }

  private assign(
    session: SessionRecord,
    client: ConnectedClient,
    kind: 'home' | 'cross',
    node: string,
    stream: string,
    direction: 'publish' | 'subscribe',
    reason: ChoiceReason,
  ): IAssignment {
    const config = this.deps.config();
    const target = this.targetOf(session, node, config);
    const wireDirection = direction === 'publish' ? StreamDirection.DIRECTION_PUBLISH : StreamDirection.DIRECTION_SUBSCRIBE;
    const ticket = issueTicket(
      config.sessionKey,
      { sessionId: session.id, participantId: client.clientId, role: client.role, stream, direction: wireDirection, node, reason: reason.text },
      Date.now(),
      this.ticketTtlMs,
    );

    const connections = session.connections.get(client.clientId) ?? [];
    const others = connections.filter((connection) => !(connection.stream === stream && connection.direction === direction));
    const reported = connections.find((connection) => connection.path !== '');
    others.push({ kind, node, stream, direction, reason: reason.text, connected: false, path: reported?.path ?? '', ...(reported?.pathReason === undefined ? {} : { pathReason: reported.pathReason }) });
    session.connections.set(client.clientId, others);
    this.changes++;

    const assignment: IAssignment = { kind, node, stream, direction: wireDirection, ticket, reason: toWireReason(reason), ...target };
    return assignment;
  }

  /** Returns where a connection goes: the node's own hostname, or under a delegated method (empty node) the name or address of that method. */
  private targetOf(session: SessionRecord, node: string, config: ClusterConfig): DelegatedTarget {
    if (node === '') {
      if (session.delegatedMethod === undefined || this.deps.delegation === undefined) throw new Error(`session ${session.id} has a connection without a node but no delegated method`);
      return delegatedTarget(session.delegatedMethod, this.deps.delegation);
    }
    const member = config.members.find((candidate) => candidate.name === node);
    if (member === undefined) throw new Error(`traffic node ${node} is not in configuration version ${config.version}`);
    return { host: member.publicHost, port: member.publicPort, srvName: '', tlsName: member.publicHost };
  }

  /** Returns the reason a choice cannot start a session, or undefined when it can. */
  private startFailureReason(choice: Choice, participant: string): string | undefined {
    if (choice.kind === 'none') return `no traffic node available for the ${participant}: ${choice.reason.text}`;
    if (choice.kind !== 'delegated') return undefined;
    const delegation = this.deps.delegation;
    if (delegation === undefined) return `traffic node method ${choice.method} needs the names and addresses of the delegated methods (node config "delegation"), and this master has none`;
    if (choice.method === 'anycast' && delegation.anycast === undefined) return 'traffic node method anycast needs an anycast address, and this master has none; add an "anycast" routing table to the topology';
    return undefined;
  }

  /**
   * Returns the session if `client` takes part in it. A session that ended
   * in the meantime is an expected race, so the client gets SessionEnded
   * and its control channel stays open.
   */
  private requireParticipant(client: ConnectedClient, sessionId: string): SessionRecord | undefined {
    const session = this.sessions.get(sessionId);
    if (session !== undefined && (session.customerId === client.clientId || session.representativeId === client.clientId)) return session;
    client.channel.send({ sessionEnded: { sessionId, reason: `session ${sessionId || '(empty id)'} is not active for this client` } });
    return undefined;
  }
}

/** Traffic nodes that carry any connection of a session. */
function sessionNodes(session: SessionRecord): Set<string> {
  const nodes = new Set([session.customerNode, session.representativeNode]);
  for (const connections of session.connections.values()) {
    for (const connection of connections) nodes.add(connection.node);
  }
  nodes.delete('');
  return nodes;
}

/** Returns the node a choice names, or an empty string when the client finds its node itself. */
function choiceNode(choice: Choice): string {
  return choice.kind === 'node' ? choice.node : '';
}
