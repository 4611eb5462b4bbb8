import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Resolver } from 'node:dns/promises';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { DnsProcessConfig } from '../src/dns/dns-config.js';
import { exampleZone, TEST_DNS_ADDRESS } from './fixtures/dns-zone-example.js';

const CHILD = new URL('./fixtures/dns-main-child.ts', import.meta.url);

interface Started {
  child: ChildProcess;
  ready: Record<string, unknown>;
  logFile: string;
  messages: Record<string, unknown>[];
}

async function tempFolder(t: Test): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'atlas-dns-main-test-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  return folder;
}

/** Forks the DNS process with a fresh config and waits for its ready message. */
async function startDnsProcess(t: Test): Promise<Started> {
  const folder = await tempFolder(t);
  const logFile = join(folder, 'dns.log');
  const config: DnsProcessConfig = { name: 'dns-test', address: TEST_DNS_ADDRESS, port: 0, zone: exampleZone(), logFile };
  const configFile = join(folder, 'dns.json');
  await writeFile(configFile, JSON.stringify(config));

  const child = fork(CHILD, ['--config', configFile], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const messages: Record<string, unknown>[] = [];
  child.on('message', (message: Record<string, unknown>) => messages.push(message));
  const started: Started = { child, ready: {}, logFile, messages };
  started.ready = await nextMessage(started, (message) => message.type === 'ready');
  return started;
}

function resolverFor(ready: Record<string, unknown>): Resolver {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([`${String(ready.address)}:${Number(ready.port)}`]);
  return resolver;
}

async function nextMessage(started: Started, predicate: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const found = started.messages.find(predicate);
    if (found !== undefined) return found;
    await once(started.child, 'message');
  }
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

void t.test('dns process ready and answers', async (t) => {
  const started = await startDnsProcess(t);
  t.match(started.ready, { type: 'ready', role: 'dns', name: 'dns-test', address: TEST_DNS_ADDRESS, port: Number, pid: started.child.pid }, 'ready message');
  t.same(started.ready.info, { address: TEST_DNS_ADDRESS, port: started.ready.port }, 'ready info for the launcher');
  t.same(await resolverFor(started.ready).resolve4('us-traffic1.support.example.test'), ['127.20.0.10'], 'A record');

  started.child.kill('SIGTERM');
  t.equal(await exitCode(started.child), 0, 'SIGTERM exits with 0');
  const log = await readFile(started.logFile, 'utf8');
  for (const line of ['DNS process starting', 'DNS server listening', 'DNS process stopping', 'DNS process stopped']) {
    t.match(log, `"msg":"${line}"`, `log has "${line}"`);
  }
});

void t.test('dns process IPC commands', async (t) => {
  const started = await startDnsProcess(t);
  const resolver = resolverFor(started.ready);

  started.child.send({ type: 'set-record', hostname: 'support.example.test', addresses: ['127.11.0.1'], requestId: 'move-1' });
  t.same(await nextMessage(started, (message) => message.requestId === 'move-1'), { type: 'ack', requestId: 'move-1', ok: true }, 'set-record acknowledged');
  t.same(await resolver.resolve4('support.example.test'), ['127.11.0.1'], 'record moved');

  started.child.send({ type: 'set-zone', zone: { a: { 'x.example.com': ['127.0.0.1'] } }, requestId: 7 });
  const rejected = await nextMessage(started, (message) => message.requestId === 7);
  t.equal(rejected.ok, false, 'invalid zone rejected');
  t.match(rejected.error, /not inside the zone support\.example\.test/, 'rejection says why');

  started.child.send({ type: 'set-zone', zone: { a: { 'only.support.example.test': ['127.12.0.1'] } } });
  started.child.send({ type: 'request', requestId: 8, command: 'set-record', args: { hostname: 'only.support.example.test', addresses: ['127.12.0.2'] } });
  t.same(await nextMessage(started, (message) => message.requestId === 8), { type: 'reply', requestId: 8, ok: true, result: null }, 'generic request answered');
  t.same(await resolver.resolve4('only.support.example.test'), ['127.12.0.2'], 'zone replaced, then record changed');

  started.child.send({ type: 'request', requestId: 9, command: 'reboot', args: {} });
  t.match(await nextMessage(started, (message) => message.requestId === 9), { ok: false, error: /unknown command "reboot"/ }, 'unknown command rejected');

  started.child.disconnect();
  t.equal(await exitCode(started.child), 0, 'exits when the IPC channel closes');
});

void t.test('dns process configuration errors', async (t) => {
  const folder = await tempFolder(t);
  const configFile = join(folder, 'bad.json');
  await writeFile(configFile, JSON.stringify({ name: 'dns-bad', address: '10.0.0.53', port: 53, zone: exampleZone() }));

  const run = async (args: string[]): Promise<{ code: number | null; stderr: string }> => {
    const child = fork(CHILD, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await exitCode(child);
    return { code, stderr };
  };

  const bad = await run(['--config', configFile]);
  t.equal(bad.code, 2, 'invalid config exits with 2');
  t.match(bad.stderr, /address: expected a loopback IP address \(127\.0\.0\.0\/8 or ::1\), got "10\.0\.0\.53"/, 'invalid config message');
  const missing = await run([]);
  t.equal(missing.code, 2, 'missing --config exits with 2');
  t.match(missing.stderr, /missing --config FILE\nusage: atlas-sim dns --config FILE/, 'usage printed');
  const absent = await run([`--config=${join(folder, 'absent.json')}`]);
  t.match(absent.stderr, /cannot read the DNS configuration file .*absent\.json/, 'unreadable file named');
});
