// A master that stops on purpose, or whose backup stops on purpose, logs the
// end of the replication link at info. Only an unexpected close is a warning.
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { startFailoverCluster, waitForPrimary, waitUntil, WAIT_MS } from './fixtures/failover-harness.js';

const TOPOLOGY = {
  clusterName: 'stop-logs',
  heartbeat: { intervalMs: 500, timeoutMs: 2000 },
  masters: [
    { name: 'master1', model: 'B400' },
    { name: 'master2', model: 'B400' },
  ],
  trafficNodes: [{ name: 'us-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'America/New_York' }],
  clients: [],
};

/** Level number of pino warn lines. Error and fatal lines have higher numbers. */
const WARN_LEVEL = 40;

interface LogLine {
  level: number;
  /** ISO 8601 time of the line, as the project's loggers write it. */
  time: string;
  msg: string;
}

async function readLog(file: string): Promise<LogLine[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogLine);
}

const { cluster } = await startFailoverCluster(t, TOPOLOGY);
const logFiles = new Map(cluster.info.nodes.filter((node) => node.role === 'master').map((node) => [node.name, node.logFile]));

/** Returns the lines `name` logged at or after `sinceMs`. */
async function linesSince(name: string, sinceMs: number): Promise<LogLine[]> {
  return (await readLog(logFiles.get(name) ?? '')).filter((line) => Date.parse(line.time) >= sinceMs);
}

function warnings(lines: LogLine[]): string[] {
  return lines.filter((line) => line.level >= WARN_LEVEL).map((line) => line.msg);
}

void t.test('backup stop logs no warning', async (t) => {
  await waitForPrimary(cluster, 'master1', 1);
  await cluster.waitForEvent({ process: 'master2', event: 'primary-linked' }, { sinceMs: 0, timeoutMs: WAIT_MS });

  const stopMs = Date.now();
  await cluster.stop('master2');
  const primary = await waitUntil('master1 to log the closed replication link', async () => {
    const lines = await linesSince('master1', stopMs);
    return lines.some((line) => line.msg.startsWith('replication link closed')) ? lines : undefined;
  });

  t.ok(primary.some((line) => line.msg === 'replication link closed, the backup master is stopping' && line.level < WARN_LEVEL), 'master1 logs the close at info');
  t.notOk(warnings(primary).includes('replication link closed'), 'master1 logs no replication warning');
  const backup = await linesSince('master2', stopMs);
  t.ok(backup.some((line) => line.msg === 'stopped'), 'master2 stopped cleanly');
  t.same(warnings(backup), [], 'master2 logs no warning while it stops');
});

void t.test('primary stop logs no replication warning', async (t) => {
  const restartMs = Date.now();
  await cluster.restart('master2');
  await cluster.waitForEvent({ process: 'master2', event: 'primary-linked' }, { sinceMs: restartMs, timeoutMs: WAIT_MS });

  const stopMs = Date.now();
  await cluster.stop('master1');
  const primary = await linesSince('master1', stopMs);
  t.ok(primary.some((line) => line.msg === 'replication link closed, this master is stopping' && line.level < WARN_LEVEL), 'master1 logs the close at info');
  t.same(warnings(primary), [], 'master1 logs no warning while it stops');

  // The backup takes over, because the primary is gone, but the close itself is no surprise.
  await waitForPrimary(cluster, 'master2', 2);
  const backup = await linesSince('master2', stopMs);
  t.ok(backup.some((line) => line.msg === 'replication link from the primary closed by the primary on purpose' && line.level < WARN_LEVEL), 'master2 logs the close at info');
  t.ok(backup.some((line) => line.msg === 'primary master closed the replication link on purpose' && line.level < WARN_LEVEL), 'master2 logs the lost primary at info');
  // As the new primary, master2 then retries its link to the stopped master1 at warn, which is expected.
  t.same(warnings(backup).filter((message) => /from the primary closed|primary master silent/.test(message)), [], 'master2 logs no warning about the close');
});
