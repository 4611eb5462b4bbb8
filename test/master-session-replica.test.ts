import t from 'tap';

import { silentLogger } from '../src/logging/logger.js';
import type { SessionRecord } from '../src/master/session-broker.js';
import { fromReplicatedSession, toReplicatedSession } from '../src/master/session-replica.js';
import { atlas } from '../src/protocol/messages.js';

function delegatedSession(): SessionRecord {
  return {
    id: 's-0123456789abcdef',
    customerId: 'customer-1',
    representativeId: 'rep-1',
    customerNode: 'eu-traffic1',
    representativeNode: '',
    representativeReason: { method: 'anycast', candidates: 3, tied: 0, text: 'anycast: delegated to anycast routing in the network, 3 candidates' },
    customerReason: { method: 'anycast', prefix: '127.30.0.0/16', prefixLength: 16, candidates: 0, tied: 0, text: 'anycast route 127.30.0.0/16' },
    startedAtMs: 1_700_000_000_000,
    connections: new Map([
      ['customer-1', [{ kind: 'home', node: 'eu-traffic1', stream: 'customer-screen', direction: 'publish', reason: 'anycast route 127.30.0.0/16', connected: true, connectedAtMs: 1_700_000_000_500, path: '' }]],
      ['rep-1', [{ kind: 'home', node: '', stream: 'rep-screen', direction: 'publish', reason: 'anycast: delegated', connected: false, path: '' }]],
    ]),
    logger: silentLogger(),
    delegatedMethod: 'anycast',
    waiting: { representativeCross: false, screenShare: true },
  };
}

void t.test('delegated session survives replication', (t) => {
  const original = delegatedSession();
  const wire = atlas.ReplicatedSession.decode(atlas.ReplicatedSession.encode(toReplicatedSession(original)).finish());
  const restored = fromReplicatedSession(wire, silentLogger());
  t.equal(restored.delegatedMethod, 'anycast', 'delegated method');
  t.same(restored.customerReason, original.customerReason, 'customer reason');
  t.same(restored.waiting, { representativeCross: false, screenShare: true }, 'waiting connections');
  t.equal(restored.representativeNode, '', 'representative node still unknown');
  t.same(restored.connections.get('rep-1')?.map((connection) => connection.node), [''], 'node-less home connection kept');
  t.end();
});

void t.test('session without delegation stays plain', (t) => {
  const original: SessionRecord = { ...delegatedSession(), delegatedMethod: undefined, customerReason: undefined, waiting: undefined };
  delete original.delegatedMethod;
  const restored = fromReplicatedSession(toReplicatedSession(original), silentLogger());
  t.equal(restored.delegatedMethod, undefined, 'no delegated method');
  t.same(restored.waiting, { representativeCross: false, screenShare: false }, 'nothing waits');
  t.equal(fromReplicatedSession({ ...toReplicatedSession(original), delegatedMethod: 'random' }, silentLogger()).delegatedMethod, undefined, 'a method the master chooses is not delegated');
  t.end();
});
