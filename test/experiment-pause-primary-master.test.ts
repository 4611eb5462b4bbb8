import t from 'tap';

import { PAUSE_PRIMARY_MASTER } from '../src/experiments/master-failover.js';
import { assertPassed, runOnce, timelineEvents } from './fixtures/experiment-harness.js';

const INVARIANTS = [
  'backup takes over under a higher term',
  'streams keep flowing through the traffic nodes',
  'frames lost only on the failed path',
  'session survives the fault',
  'woken primary becomes the backup',
  'nothing acknowledged lost',
  'one primary per term',
  'traffic nodes never accept a lower term',
];

void t.test('pause-primary-master experiment', async (t) => {
  const result = await runOnce(t, PAUSE_PRIMARY_MASTER);
  assertPassed(t, result, INVARIANTS, ['detection', 'takeover', 'nodes-follow', 'recovery', 'step-down', 'rejoin']);
  const events = timelineEvents(result);
  t.ok(events.includes('launcher pause'), 'timeline has the SIGSTOP');
  t.ok(events.includes('launcher resume'), 'timeline has the SIGCONT');
  t.ok(events.includes('master1 paused'), 'timeline has the woken master noticing its pause');
  t.ok(events.includes('master1 stepped-down'), 'timeline has the woken master stepping down');
  t.notOk(events.includes('master1 claim-confirmed'), 'the DNS server never confirmed the woken master');
});
