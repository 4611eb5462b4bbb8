import t from 'tap';

import type { ChildEvent } from '../src/launcher/child-process.js';
import type { StreamStats } from '../src/launcher/cluster-driver.js';
import { describeTerms, findStalledStreams, findTermConflicts, findTermRegressions, primaryClaimsFromEvents, streamDamage } from '../src/experiments/failover-invariants.js';

function event(name: string, kind: string, atMs: number, data: Record<string, unknown>): ChildEvent {
  return { name, event: kind, atMs, data };
}

function stream(verified: number, damage: Partial<StreamStats> = {}): StreamStats {
  return { stream: 'customer-screen', direction: 'subscribe', node: 'eu-traffic1', framesSent: null, received: verified, verified, lost: 0, reordered: 0, duplicated: 0, corrupted: 0, done: false, firstFrameMs: 5, maxLatencyMs: 9, meanLatencyMs: 3, ...damage };
}

void t.test('claims read from events', (t) => {
  const claims = primaryClaimsFromEvents([
    event('master1', 'became-primary', 10, { term: 1 }),
    event('dns', 'dns-claim-granted', 20, { term: 2, owner: 'master2' }),
    event('master1', 'claim-confirmed', 30, { term: 1 }),
    event('master2', 'backup', 40, { term: 2 }),
    event('master2', 'became-primary', 50, {}),
  ]);
  t.same(claims.map((claim) => [claim.master, claim.term, claim.source]), [
    ['master1', 1, 'became-primary event'],
    ['master2', 2, 'dns grant'],
    ['master1', 1, 'claim-confirmed event'],
  ], 'primary events and DNS grants with a term count; other events do not');
  t.equal(describeTerms(claims), 'term 1: master1; term 2: master2', 'terms described');
  t.end();
});

void t.test('split brain breaks one primary per term', (t) => {
  const healthy = [
    { master: 'master1', term: 1, atMs: 1, source: 'became-primary event' },
    { master: 'master2', term: 2, atMs: 2, source: 'became-primary event' },
    { master: 'master2', term: 2, atMs: 3, source: 'status reply' },
  ];
  t.same(findTermConflicts(healthy), [], 'a new primary under a higher term is no conflict');
  const splitBrain = [...healthy, { master: 'master1', term: 2, atMs: 4, source: 'status reply' }];
  t.same(findTermConflicts(splitBrain), ['term 2 claimed by master2 (became-primary event) and master1 (status reply)'], 'two primaries of term 2 named');
  t.end();
});

void t.test('lower term breaks the traffic node order', (t) => {
  const events = [
    event('us-traffic1', 'master-joined', 1, { master: 'master1', term: 1 }),
    event('us-traffic1', 'master-joined', 2, { master: 'master2', term: 2 }),
    event('eu-traffic1', 'master-joined', 3, { master: 'master1', term: 1 }),
  ];
  t.same(findTermRegressions(events), [], 'rising terms pass, per node');
  const stale = [...events, event('us-traffic1', 'master-joined', 4, { master: 'master1', term: 1 })];
  t.same(findTermRegressions(stale), ['us-traffic1 accepted master1 under term 1 after master2 under term 2'], 'stale master named');
  t.end();
});

void t.test('stalled and damaged streams', (t) => {
  const before = [{ client: 'rep-us', stats: stream(30) }, { client: 'customer-eu', stats: stream(30) }];
  t.same(findStalledStreams(before, [{ client: 'rep-us', stats: stream(80) }, { client: 'customer-eu', stats: stream(75) }]), [], 'growing streams flow');
  const stalled = findStalledStreams(before, [{ client: 'rep-us', stats: stream(30) }]);
  t.equal(stalled.length, 2, 'a stream without new frames and a vanished stream both count');
  t.match(stalled[0], /rep-us verified no frame of customer-screen between the fault and the recovery \(30 then 30\)/, 'stalled stream named');
  t.match(stalled[1], /customer-eu no longer receives customer-screen/, 'vanished stream named');
  t.equal(streamDamage(stream(10)), '', 'intact stream has no damage');
  t.equal(streamDamage(stream(10, { lost: 2, corrupted: 1, reordered: 3 })), '2 lost, 1 corrupted, 3 reordered', 'damage listed');
  t.end();
});
