import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildDirectPlan, directNodeName, directSessionKey } from '../src/master/direct-plan.js';
import { ClusterConfig, ErrorCode, Role } from '../src/protocol/messages.js';
import { verifyTicket } from '../src/protocol/tickets.js';

const SESSION_KEY = randomBytes(32);
const CUSTOMER = { clientId: 'customer-1', role: Role.ROLE_CUSTOMER };
const REPRESENTATIVE = { clientId: 'rep-1', role: Role.ROLE_REPRESENTATIVE };

function config(fields: Partial<ClusterConfig>): ClusterConfig {
  return ClusterConfig.create({ version: 3, sessionKey: SESSION_KEY, ...fields });
}

void t.test('plan absent when peer to peer is off', (t) => {
  t.equal(buildDirectPlan(config({ p2pEnabled: false }), 'stun.support.example.test:3478', 's-1', CUSTOMER, REPRESENTATIVE), undefined);
  t.end();
});

void t.test('plan skips with force relay', (t) => {
  const plan = buildDirectPlan(config({ p2pEnabled: true, forceRelay: true, p2pTimeoutMs: 4000 }), 'stun.support.example.test:3478', 's-1', CUSTOMER, REPRESENTATIVE);
  t.match(plan?.skipReason, /force relay is set/, 'names force relay');
  t.equal(plan?.ticket, undefined, 'no ticket');
  t.equal(plan?.timeoutMs, 4000, 'keeps the timeout');
  t.end();
});

void t.test('plan skips without STUN server', (t) => {
  const master = buildDirectPlan(config({ p2pEnabled: true, stunRole: 'master' }), undefined, 's-1', CUSTOMER, REPRESENTATIVE);
  t.match(master?.skipReason, /the master has the STUN role but serves no STUN/, 'master role without a server');
  const publicRole = buildDirectPlan(config({ p2pEnabled: true, stunRole: 'public' }), '', 's-1', CUSTOMER, REPRESENTATIVE);
  t.match(publicRole?.skipReason, /names no public STUN server/, 'public role without a server');
  t.end();
});

void t.test('plan ticket verifies with direct key', (t) => {
  const plan = buildDirectPlan(config({ p2pEnabled: true, stunRole: 'public' }), 'stun.support.example.test:3478', 's-1', CUSTOMER, REPRESENTATIVE, 1_000_000);
  t.equal(plan?.skipReason, '', 'no skip reason');
  t.equal(plan?.stunServer, 'stun.support.example.test:3478', 'STUN server');
  t.equal(plan?.timeoutMs, 5000, 'default timeout');
  const key = directSessionKey(SESSION_KEY, 's-1');
  t.same(Buffer.from(plan?.directKey ?? []), key, 'direct key of the session');

  const claims = verifyTicket(key, plan?.ticket, directNodeName('rep-1'), 1_000_001);
  t.equal(claims.sessionId, 's-1', 'session claim');
  t.equal(claims.participantId, 'customer-1', 'participant claim');
  t.equal(claims.node, 'direct:rep-1', 'node claim names the peer listener');

  t.throws(() => verifyTicket(SESSION_KEY, plan?.ticket, directNodeName('rep-1'), 1_000_001), { code: ErrorCode.ERROR_TICKET_INVALID }, 'the cluster key does not verify it');
  t.throws(() => verifyTicket(directSessionKey(SESSION_KEY, 's-2'), plan?.ticket, directNodeName('rep-1'), 1_000_001), { code: ErrorCode.ERROR_TICKET_INVALID }, 'another session key does not verify it');
  t.throws(() => verifyTicket(key, plan?.ticket, directNodeName('customer-1'), 1_000_001), { code: ErrorCode.ERROR_TICKET_WRONG_NODE }, 'another listener rejects it');
  t.end();
});
