import { randomBytes } from 'node:crypto';
import t from 'tap';
import {
  CLOSE_INVALID_PAYLOAD,
  CLOSE_MESSAGE_TOO_BIG,
  CLOSE_POLICY_VIOLATION,
  CLOSE_PROTOCOL_ERROR,
  CLOSE_UNSUPPORTED_DATA,
  PROTOCOL_VERSION,
} from '../src/protocol/envelope.js';
import { Envelope, ErrorCode, Role, StreamDirection } from '../src/protocol/messages.js';
import { issueTicket } from '../src/protocol/tickets.js';
import {
  closeOf,
  clusterConfig,
  connectTo,
  joinAsMaster,
  joinSession,
  joinWithTicket,
  pushConfig,
  randomLoopbackAddress,
  startTrafficNode,
  ticketFields,
  type Inbox,
} from './fixtures/traffic-harness.js';

interface ConnectedClient {
  clientId: string;
  participantId: string;
  role: string;
  sessionId: string;
  stream: string;
  direction: string;
  sourceIp: string;
  reason: string;
  connectedSinceMs: number;
}

/** Waits for the Error envelope and the close that follows it. */
async function refusal(inbox: Inbox): Promise<{ code: number | null | undefined; message: string; closeCode: number }> {
  const error = await inbox.next('error');
  const close = await closeOf(inbox);
  return { code: error.error?.code, message: error.error?.message ?? '', closeCode: close.code };
}

void t.test('session channel', async (t) => {
  const node = await startTrafficNode(t);

  await t.test('join before any configuration is rejected', async (t) => {
    const inbox = await joinSession(node, issueTicket(randomBytes(32), ticketFields(node)));
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_TICKET_INVALID, 'error code');
    t.match(result.message, /no cluster configuration/, 'message says no configuration is applied');
    t.equal(result.closeCode, CLOSE_POLICY_VIOLATION, 'close code');
  });

  const master = await joinAsMaster(node);
  const sessionKey = randomBytes(32);
  await pushConfig(master, clusterConfig(node, 1, sessionKey));

  await t.test('text frame is rejected', async (t) => {
    const inbox = await connectTo(node, '/session');
    inbox.channel.ws.send('hello');
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_TEXT_FRAME, 'error code');
    t.equal(result.closeCode, CLOSE_UNSUPPORTED_DATA, 'close code');
  });

  await t.test('malformed protobuf is rejected', async (t) => {
    const inbox = await connectTo(node, '/session');
    inbox.channel.ws.send(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_MALFORMED, 'error code');
    t.equal(result.closeCode, CLOSE_INVALID_PAYLOAD, 'close code');
  });

  await t.test('envelope without a body is rejected', async (t) => {
    const inbox = await connectTo(node, '/session');
    inbox.channel.sendRaw(Envelope.encode({ protocolVersion: PROTOCOL_VERSION }).finish());
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_UNKNOWN_BODY, 'error code');
    t.equal(result.closeCode, CLOSE_PROTOCOL_ERROR, 'close code');
  });

  await t.test('frame before join is out of order', async (t) => {
    const inbox = await connectTo(node, '/session');
    inbox.channel.send({ streamFrame: { stream: 'customer-screen', seq: 0, payload: Buffer.alloc(16) } });
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_UNEXPECTED_MESSAGE, 'error code');
    t.equal(result.closeCode, CLOSE_PROTOCOL_ERROR, 'close code');
  });

  await t.test('oversized message is rejected', async (t) => {
    const inbox = await connectTo(node, '/session');
    inbox.channel.send({ streamFrame: { stream: 'customer-screen', seq: 0, payload: Buffer.alloc(2 * 1024 * 1024) } });
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_MESSAGE_TOO_LARGE, 'error code');
    t.equal(result.closeCode, CLOSE_MESSAGE_TOO_BIG, 'close code');
  });

  await t.test('forged ticket is rejected', async (t) => {
    const inbox = await joinSession(node, issueTicket(randomBytes(32), ticketFields(node)));
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_TICKET_INVALID, 'error code');
    t.equal(result.closeCode, CLOSE_POLICY_VIOLATION, 'close code');
  });

  await t.test('tampered ticket claims are rejected', async (t) => {
    const ticket = issueTicket(sessionKey, ticketFields(node));
    const claims = Buffer.from(ticket.claims ?? []);
    const last = claims.length - 1;
    claims.writeUInt8(claims.readUInt8(last) ^ 0x01, last);
    const inbox = await joinSession(node, { claims, mac: ticket.mac });
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_TICKET_INVALID, 'error code');
  });

  await t.test('expired ticket is rejected', async (t) => {
    const inbox = await joinSession(node, issueTicket(sessionKey, ticketFields(node), Date.now() - 120_000, 60_000));
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_TICKET_EXPIRED, 'error code');
    t.equal(result.closeCode, CLOSE_POLICY_VIOLATION, 'close code');
  });

  await t.test('ticket for another node is rejected', async (t) => {
    const inbox = await joinSession(node, issueTicket(sessionKey, ticketFields(node, { node: 'other-traffic' })));
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_TICKET_WRONG_NODE, 'error code');
    t.match(result.message, /other-traffic/, 'message names the ticket node');
  });

  await t.test('replayed ticket is rejected', async (t) => {
    const ticket = issueTicket(sessionKey, ticketFields(node));
    const first = await joinSession(node, ticket);
    await first.next('sessionJoined');
    const second = await joinSession(node, ticket);
    const result = await refusal(second);
    t.equal(result.code, ErrorCode.ERROR_TICKET_REPLAYED, 'error code');
    t.equal(result.closeCode, CLOSE_POLICY_VIOLATION, 'close code');
    t.ok(first.channel.isOpen, 'first connection keeps its place');
    first.channel.close();
    await closeOf(first);
  });

  await t.test('node not accepting rejects new sessions', async (t) => {
    master.inbox.channel.send({ setAccepting: { accepting: false, term: 1 } });
    let report = await master.inbox.next('nodeStatus');
    while (report.nodeStatus?.accepting !== false) report = await master.inbox.next('nodeStatus');

    const inbox = await joinSession(node, issueTicket(sessionKey, ticketFields(node)));
    const result = await refusal(inbox);
    t.equal(result.code, ErrorCode.ERROR_NOT_ACCEPTING, 'error code');
    t.equal(result.closeCode, CLOSE_POLICY_VIOLATION, 'close code');

    master.inbox.channel.send({ setAccepting: { accepting: true, term: 1 } });
    report = await master.inbox.next('nodeStatus');
    while (report.nodeStatus?.accepting !== true) report = await master.inbox.next('nodeStatus');
  });

  await t.test('good join after bad input succeeds and is reported', async (t) => {
    const sourceIp = randomLoopbackAddress();
    const fields = ticketFields(node, { participantId: 'rep-7', role: Role.ROLE_REPRESENTATIVE, stream: 'rep-screen' });
    const inbox = await joinSession(node, issueTicket(sessionKey, fields), 'console-7', sourceIp);
    const joined = await inbox.next('sessionJoined');
    t.equal(joined.sessionJoined?.nodeName, node.name, 'SessionJoined names the node');
    t.equal(joined.sessionJoined?.sessionId, fields.sessionId, 'SessionJoined names the session');
    t.equal(joined.sessionJoined?.stream, 'rep-screen', 'SessionJoined names the stream');

    let report = await master.inbox.next('sessionClientReport');
    while (report.sessionClientReport?.sessionId !== fields.sessionId) report = await master.inbox.next('sessionClientReport');
    t.equal(report.sessionClientReport.connected, true, 'master told the client connected');
    t.equal(report.sessionClientReport.clientIp, sourceIp, 'report carries the source address');
    t.equal(report.sessionClientReport.direction, StreamDirection.DIRECTION_PUBLISH, 'report carries the direction');

    const clients = (await node.request('connected-clients')) as ConnectedClient[];
    const entry = clients.find((client) => client.sessionId === fields.sessionId);
    t.equal(entry?.clientId, 'console-7', 'connected-clients lists the client id');
    t.equal(entry?.role, 'representative', 'connected-clients lists the role');
    t.equal(entry?.sourceIp, sourceIp, 'connected-clients lists the source IP');
    t.equal(entry?.reason, fields.reason, 'connected-clients lists the reason');
    t.equal(entry?.direction, 'publish', 'connected-clients lists the direction');

    const status = (await node.request('status')) as { activeSessions: number; connectedClients: number };
    t.equal(status.activeSessions, 1, 'one active session');
    t.equal(status.connectedClients, 1, 'one connected client');

    inbox.channel.close();
    await closeOf(inbox);
    report = await master.inbox.next('sessionClientReport');
    t.equal(report.sessionClientReport?.connected, false, 'master told the client left');
    const after = (await node.request('status')) as { activeSessions: number; connectedClients: number };
    t.equal(after.activeSessions, 0, 'session state freed after the last participant left');
  });

  await t.test('master joining later learns connected clients', async (t) => {
    master.inbox.channel.close();
    await closeOf(master.inbox);
    const fields = ticketFields(node, { direction: StreamDirection.DIRECTION_SUBSCRIBE });
    const inbox = await joinWithTicket(node, sessionKey, fields);

    const later = await joinAsMaster(node);
    const report = await later.inbox.next('sessionClientReport');
    t.equal(report.sessionClientReport?.sessionId, fields.sessionId, 'report names the session');
    t.equal(report.sessionClientReport?.connected, true, 'report says connected');
    inbox.channel.close();
    later.inbox.channel.close();
    await closeOf(inbox);
    await closeOf(later.inbox);
  });
});
