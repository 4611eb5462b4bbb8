import t from 'tap';

import { KILL_PRIMARY_MASTER } from '../src/experiments/master-failover.js';
import { assertPassed, runOnce, timelineEvents } from './fixtures/experiment-harness.js';

const INVARIANTS = [
  'backup takes over under a higher term',
  'streams keep flowing through the traffic nodes',
  'frames lost only on the failed path',
  'session survives the fault',
  'nothing acknowledged lost',
  'former primary rejoins as the backup',
  'one primary per term',
  'traffic nodes never accept a lower term',
];

void t.test('kill-primary-master experiment', async (t) => {
  const result = await runOnce(t, KILL_PRIMARY_MASTER);
  assertPassed(t, result, INVARIANTS, ['detection', 'takeover', 'nodes-follow', 'recovery', 'rejoin']);
  const events = timelineEvents(result);
  t.ok(events.includes('launcher kill'), 'timeline has the SIGKILL');
  t.ok(events.includes('master2 became-primary'), 'timeline has the backup taking over');
  t.ok(events.includes('dns dns-claim-granted'), 'timeline has the DNS server moving the site hostname');
  t.ok(events.includes('master1 primary-linked'), 'timeline has the restarted master linked as the backup');
});
