// The example test of the README, as written there.
import t from 'tap';
import { startCluster } from 'atlas-sim';

void t.test('traffic node and master failures', async (t) => {
  // The default cluster: a failover pair of masters, two US and two EU
  // traffic nodes, DNS, a US representative (rep-us) and an EU customer
  // (customer-eu).
  const cluster = await startCluster({ seed: 'readme-example', removeRunDir: true });
  t.teardown(() => cluster.close());

  const online = await cluster.connectedClients();
  t.same(online.map((client) => client.address).sort(), ['127.20.0.5', '127.30.0.5'], 'both clients online');

  const session = await cluster.startSession({ customer: 'customer-eu', representative: 'rep-us' });
  const [customer] = (await cluster.connectedClients()).filter((client) => client.role === 'customer');
  const node = customer?.session?.connections.find((connection) => connection.kind === 'home')?.node ?? '';
  t.match(node, /^eu-traffic/, 'EU prefix picked an EU node');

  // Kill the customer's home node mid-session: the session ends for both
  // participants, and the master stops choosing the node.
  const killedAt = Date.now();
  await cluster.kill(node);
  const ended = await cluster.waitForEvent(
    { process: 'customer-eu', event: 'session-ended', where: (data) => data.sessionId === session.sessionId },
    { sinceMs: killedAt, timeoutMs: 10_000 },
  );
  t.match(String(ended.data?.reason), `traffic node ${node} went offline`, 'customer told why');
  await cluster.waitForNode(node, { online: false });

  // Slow the representative's link to every other process, then heal it.
  const fault = await cluster.faults.link({ a: 'rep-us', b: '*', kind: 'delay', delayMs: 100, jitterMs: 20 });
  t.equal(fault.id, 'fault-1', 'fault got an id');
  await cluster.faults.heal(fault.id);

  // Restart the node: same identity and data folder; the master takes it back.
  await cluster.restart(node);
  await cluster.waitForNode(node, { online: true, timeoutMs: 30_000 });
  t.pass('node rejoined');

  // Fail over the master: SIGKILL the primary, the backup takes over under a
  // higher term, and the clients reconnect through the site hostname.
  const primary = await cluster.primaryMaster();
  const failedAt = Date.now();
  await cluster.kill(primary);
  const promoted = await cluster.waitForEvent({ event: 'became-primary' }, { sinceMs: failedAt, timeoutMs: 30_000 });
  t.not(promoted.name, primary, 'the backup took over');
  await cluster.waitForEvent(
    { process: 'rep-us', event: 'connected', where: (data) => data.masterName === promoted.name },
    { sinceMs: failedAt, timeoutMs: 30_000 },
  );
  t.equal(await cluster.primaryMaster(), promoted.name, 'the new primary serves');

  // Read the timeline: every process reports its events to the launcher.
  for (const event of cluster.events.filter((entry) => entry.atMs >= failedAt)) {
    t.comment(`+${event.atMs - failedAt} ms ${event.name} ${event.event}`);
  }
});
