// Session keys survive a master takeover: a key generated on the primary is
// replicated to the backup, which admits its customer after the primary dies.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { startCluster, type Cluster } from '../src/index.js';
import { CommandApiClient } from '../src/launcher/command-api-client.js';
import { cliEntry } from '../src/launcher/project-root.js';
import { runFolderPaths } from '../src/launcher/run-folder.js';
import type { SessionKeyView } from '../src/master/command-api/session-key-action.js';
import { REPLICATED_SESSION_KEYS_FILE } from '../src/master/replica-store.js';

const TOPOLOGY = {
  clusterName: 'session-key-failover',
  method: 'timezone',
  masters: [
    { name: 'master1', model: 'B400' },
    { name: 'master2', model: 'B400' },
  ],
  trafficNodes: [
    { name: 'ap-traffic1', timezone: 'Asia/Tokyo' },
    { name: 'eu-traffic1', timezone: 'Europe/Berlin' },
  ],
  clients: [{ name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'America/New_York' }],
};

let cluster: Cluster;
let runDir: string | undefined;

t.before(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'atlas-session-key-failover-'));
  cluster = await startCluster({ topology: TOPOLOGY, runDir, seed: 'session-key-failover', removeRunDir: true });
});

t.teardown(async () => {
  await cluster?.close();
  if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
});

void t.test('session key after takeover', async (t) => {
  const api = await CommandApiClient.open(cluster.info, runFolderPaths(cluster.runDir).apiAccountFile);
  const key = await api.commandJson<SessionKeyView>('generate_session_key', { type: 'support', queue_id: 'general', external_key: 'after takeover' });
  const replicated = (await cluster.request('master1', 'replicate')) as { replicated: boolean };
  t.equal(replicated.replicated, true, 'the backup stored the state with the key');
  const keysFile = join(cluster.runDir, 'data', 'master2', REPLICATED_SESSION_KEYS_FILE);
  t.equal((await stat(keysFile)).mode & 0o777, 0o600, 'the backup keeps the keys readable by its owner only');

  const since = Date.now();
  await cluster.kill('master1');
  await cluster.waitForEvent({ process: 'master2', event: 'became-primary' }, { sinceMs: since, timeoutMs: 30_000 });

  const child = spawn(
    process.execPath,
    [cliEntry(), 'client', 'customer', '--run-dir', cluster.runDir, '--address', '127.40.0.5', '--name', 'customer-jp', '--session-key', key.keyUrl, '--log-file', join(cluster.runDir, 'logs', 'customer-jp.log')],
    { stdio: 'ignore', env: { ...process.env, TZ: 'Asia/Tokyo' } },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  });

  const entry = await cluster.waitFor(
    async () => {
      const queue = (await cluster.request('rep', 'queue')) as { entries: { displayName: string; issue: string }[] };
      return queue.entries.find((candidate) => candidate.displayName === 'customer-jp');
    },
    { timeoutMs: 60_000, description: 'customer-jp in the queue of the new primary' },
  );
  t.equal(entry.issue, 'after takeover', 'queued with the external key as its issue');
  t.equal(child.exitCode, null, 'the customer was admitted and still runs');
});
