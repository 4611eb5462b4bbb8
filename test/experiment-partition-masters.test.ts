import t from 'tap';

import { PARTITION_MASTERS } from '../src/experiments/master-failover.js';
import { assertPassed, runOnce, timelineEvents } from './fixtures/experiment-harness.js';

const INVARIANTS = [
  'the DNS server keeps the site hostname with the primary',
  'streams keep flowing through the traffic nodes',
  'frames lost only on the failed path',
  'session survives the fault',
  'primary keeps its role through the partition',
  'masters converge after the heal',
  'nothing acknowledged lost',
  'one primary per term',
  'traffic nodes never accept a lower term',
];

void t.test('partition-masters experiment', async (t) => {
  const result = await runOnce(t, PARTITION_MASTERS);
  assertPassed(t, result, INVARIANTS, ['detection', 'claim-rejected', 'converged']);
  const events = timelineEvents(result);
  t.ok(events.includes('launcher fault-added'), 'timeline has the partition');
  t.ok(events.includes('master2 claim-rejected'), 'timeline has the DNS server rejecting the backup');
  t.ok(events.includes('launcher fault-healed'), 'timeline has the heal');
  t.notOk(events.includes('master2 became-primary'), 'the backup never became the primary');
});
