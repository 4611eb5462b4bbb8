import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

import { forkChild, startChild, stopChildren, type ChildSpec } from '../src/launcher/child-process.js';
import { silentLogger } from '../src/logging/logger.js';

/**
 * A stand-in for dist/cli.js that behaves as its first argument selects, so the
 * handle can be tested without starting a real role.
 */
const FAKE_CHILD = `
const mode = process.argv[2];
console.log('fake child starting in mode ' + mode);
if (mode === 'crash') { console.error('Error: cannot open the data folder'); process.exit(3); }
if (mode === 'ignore-term') process.on('SIGTERM', () => console.log('SIGTERM ignored'));
else process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
process.on('message', (message) => {
  if (message.type !== 'request') return;
  if (message.command === 'echo') process.send({ type: 'reply', requestId: message.requestId, ok: true, result: message.args });
  if (message.command === 'fail') process.send({ type: 'reply', requestId: message.requestId, ok: false, error: 'no such session' });
  if (message.command === 'event') process.send({ type: 'event', name: 'fake', event: 'tick', atMs: 1 });
});
if (mode !== 'silent') process.send({ type: 'ready', role: 'traffic', name: 'fake', pid: process.pid, info: { port: 4443 } });
setInterval(() => undefined, 1000);
`;

async function setUp(t: { teardown(fn: () => Promise<void>): void }): Promise<(mode: string) => ChildSpec> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-child-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'fake-child.mjs');
  await writeFile(script, FAKE_CHILD);
  return (mode) => ({ name: `fake-${mode}`, role: 'traffic', cliPath: script, args: [mode], logFile: join(dir, `${mode}.log`), readyTimeoutMs: 20_000 });
}

void t.test('child ready and requests', async (t) => {
  const spec = await setUp(t);
  const child = await startChild(spec('normal'));
  t.teardown(() => stopChildren([child], 1000, silentLogger()));

  t.same(child.readyInfo, { port: 4443 }, 'ready info kept');
  t.same(await child.request('echo', { value: 7 }), { value: 7 }, 'reply result');
  await t.rejects(child.request('fail'), /fake-normal: request "fail" failed: no such session/, 'error reply rejects');
  await t.rejects(child.request('unknown', {}, 200), /fake-normal: request "unknown" timed out after 200 ms/, 'unanswered request times out');

  const event = new Promise((resolve) => child.once('event', resolve));
  void child.request('event', {}, 200).catch(() => undefined);
  t.same(await event, { name: 'fake', event: 'tick', atMs: 1, data: undefined }, 'events forwarded');
});

void t.test('child crash before ready', async (t) => {
  const spec = await setUp(t);
  await t.rejects(startChild(spec('crash')), /fake-crash \(traffic, pid \d+\) exited \(code 3\) before it was ready; last lines of .*crash\.log:\n.*fake child starting in mode crash\nError: cannot open the data folder/, 'error quotes the log');
});

void t.test('child ready timeout', async (t) => {
  const spec = await setUp(t);
  const started = forkChild(spec('silent'));
  await t.rejects(started.waitForReady(300), /fake-silent \(traffic, pid \d+\) was not ready within 300 ms/, 'timeout names the process');
  t.ok(started.running, 'a timed-out child keeps running until stopped');
  await stopChildren([started], 1000, silentLogger());
  t.notOk(started.running, 'stopped');
});

void t.test('child ignoring SIGTERM killed', async (t) => {
  const spec = await setUp(t);
  const child = await startChild(spec('ignore-term'));
  const startedMs = Date.now();
  await stopChildren([child], 500, silentLogger());
  t.equal(child.exitStatus?.signal, 'SIGKILL', 'killed with SIGKILL');
  t.ok(Date.now() - startedMs >= 500, 'after the grace period');
  await t.rejects(child.request('echo'), /fake-ignore-term: cannot send request "echo" because the process is not running/, 'no request after exit');
});
