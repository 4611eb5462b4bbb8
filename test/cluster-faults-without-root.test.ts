import { fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const DIST_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));
/** Deadline of the whole unprivileged run: a cluster start with fresh certificates on a loaded machine. */
const RUN_TIMEOUT_MS = 180_000;

/** Returns the uid and gid of the `nobody` account in /etc/passwd, or undefined when the system has none. */
function nobody(): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith('nobody:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  return uid === undefined || gid === undefined ? undefined : { uid: Number(uid), gid: Number(gid) };
}

/**
 * Runs as `nobody`: starts a cluster in its own folder, blackholes the
 * traffic node until the master marks it offline, heals it, and delays DNS
 * answers to the customer's address. Reports what it saw, then closes the
 * cluster. Losing the parent's IPC channel closes the cluster too.
 */
const SCRIPT = `
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { startCluster } from ${JSON.stringify(DIST_INDEX)};

const workDir = process.argv[2];
let cluster;
process.once('disconnect', () => { void (cluster?.close() ?? Promise.resolve()).finally(() => process.exit(0)); });
const report = { uid: process.getuid() };
try {
  cluster = await startCluster({
    runDir: join(workDir, 'run'),
    certsDir: join(workDir, 'certs'),
    seed: 'without-root',
    topology: {
      masters: [{ name: 'master1' }],
      trafficNodes: [{ name: 'traffic1', prefixes: ['127.20.0.0/16'], timezone: 'Europe/Berlin' }],
      clients: [{ name: 'customer', role: 'customer', address: '127.20.0.6', timezone: 'Europe/Berlin' }],
    },
  });
  report.sitePort = cluster.info.site.port;
  report.dnsPort = cluster.info.dns.port;
  report.fronted = [...new Set((await cluster.faults.proxies()).map((proxy) => proxy.server))].sort();

  await cluster.faults.link({ id: 'hole', a: 'traffic1', b: '*', kind: 'blackhole' });
  await cluster.waitForNode('traffic1', { online: false, timeoutMs: 30_000 });
  report.blackholeOffline = true;
  await cluster.faults.heal('hole');
  await cluster.waitForNode('traffic1', { online: true, timeoutMs: 60_000 });
  report.healedOnline = true;

  await cluster.faults.link({ id: 'slow-dns', a: 'dns', b: 'customer', kind: 'delay', delayMs: 400, jitterMs: 50, direction: 'a-to-b' });
  const resolver = new Resolver({ timeout: 5000, tries: 1 });
  resolver.setLocalAddress('127.20.0.6');
  resolver.setServers([cluster.info.dns.address + ':' + cluster.info.dns.port]);
  const start = Date.now();
  await resolver.resolve4('master1.support.example.test');
  report.delayedDnsMs = Date.now() - start;
  await cluster.faults.heal();
} catch (error) {
  report.error = error instanceof Error ? error.message : String(error);
}
await cluster?.close({ removeRunDir: true });
process.send(report, () => process.disconnect());
`;

interface Report {
  uid: number;
  sitePort?: number;
  dnsPort?: number;
  fronted?: string[];
  blackholeOffline?: boolean;
  healedOnline?: boolean;
  delayedDnsMs?: number;
  error?: string;
}

const account = nobody();
let skip: string | false = false;
if (process.getuid?.() !== 0) skip = 'this test process is not root, so every cluster test already runs without root';
else if (account === undefined) skip = 'no nobody account in /etc/passwd';

void t.test('faults work without root', { skip }, async (t) => {
  const user = account!;
  const workDir = await mkdtemp(join(tmpdir(), 'atlas-no-root-'));
  t.teardown(() => rm(workDir, { recursive: true, force: true }));
  // The child's own TMPDIR gives it an address block lock folder it may write.
  // NOTE: other launchers do not see that folder, so only the random first block keeps their /24 apart from the child's.
  const childTmp = join(workDir, 'tmp');
  await mkdir(childTmp);
  for (const path of [workDir, childTmp]) await chown(path, user.uid, user.gid);
  const script = join(workDir, 'run-cluster.mjs');
  await writeFile(script, SCRIPT, { mode: 0o644 });

  // tap's process tracking follows the child and writes .tap/ in the folder this variable names; the project folder is not writable for the nobody account.
  const env = { ...process.env, TMPDIR: childTmp, _TAPJS_PROCESSINFO_CWD_: workDir };
  const child = fork(script, [workDir], { cwd: workDir, uid: user.uid, gid: user.gid, env, execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  const report = await new Promise<Report>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the unprivileged cluster did not report within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as Report);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the unprivileged cluster script exited with ${String(code ?? signal)} before it reported`));
    });
  });
  await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));

  t.equal(report.error, undefined, 'the cluster ran and every step completed');
  t.equal(report.uid, user.uid, 'the launcher ran as nobody');
  t.ok((report.sitePort ?? 0) >= 1024, `site port ${report.sitePort} is unprivileged`);
  t.ok((report.dnsPort ?? 0) >= 1024, `DNS port ${report.dnsPort} is unprivileged`);
  t.same(report.fronted, ['dns', 'master1', 'traffic1'], 'the fault layer fronts every server');
  t.equal(report.blackholeOffline, true, 'a blackhole took the traffic node offline');
  t.equal(report.healedOnline, true, 'the heal brought it back');
  t.ok((report.delayedDnsMs ?? 0) >= 340, `a DNS answer took ${report.delayedDnsMs} ms under 400±50 ms of delay`);
  t.notOk(existsSync(join(workDir, 'run')), 'the run folder was removed');
});
