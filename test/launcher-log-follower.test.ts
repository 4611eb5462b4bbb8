import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LogFollower, MAX_READ_BYTES_PER_POLL } from '../src/launcher/log-follower.js';

function jsonLine(level: number, msg: string): string {
  return `${JSON.stringify({ level, time: '2026-12-04T20:00:00.000Z', node: 'us-traffic1', msg })}\n`;
}

async function tempLog(t: Test, initial = ''): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-follow-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'node.log');
  await writeFile(file, initial);
  return file;
}

void t.test('follower passes new warnings only', async (t) => {
  const file = await tempLog(t, jsonLine(40, 'old warning'));
  const seen: string[] = [];
  const follower = new LogFollower((line) => seen.push(line));
  await follower.add('us-traffic1', file);

  await appendFile(file, jsonLine(30, 'info line') + jsonLine(40, 'new warning') + jsonLine(50, 'new error'));
  await follower.stop();
  t.equal(seen.length, 2, 'two problem lines');
  t.match(seen[0], /new warning/, 'warning first');
  t.match(seen[1], /new error/, 'error second');
  t.notOk(seen.some((line) => line.includes('old warning')), 'lines before add() are skipped');
});

void t.test('follower keeps a line split across writes', async (t) => {
  const file = await tempLog(t);
  const seen: string[] = [];
  const follower = new LogFollower((line) => seen.push(line));
  await follower.add('us-traffic1', file);

  const line = jsonLine(40, 'split warning');
  await appendFile(file, line.slice(0, 20));
  await follower.stop();
  t.equal(seen.length, 0, 'half a line is held back');
  await appendFile(file, line.slice(20));
  await follower.stop();
  t.equal(seen.length, 1, 'completed line passed on');
  t.match(seen[0], /split warning/);
});

void t.test('follower reads a large burst in bounded steps', async (t) => {
  const file = await tempLog(t);
  const seen: string[] = [];
  const follower = new LogFollower((line) => seen.push(line));
  await follower.add('us-traffic1', file);

  const filler = jsonLine(30, 'x'.repeat(1000));
  const count = Math.ceil((MAX_READ_BYTES_PER_POLL * 2) / filler.length);
  await appendFile(file, filler.repeat(count) + jsonLine(40, 'after the burst'));
  for (let poll = 0; poll < 4; poll += 1) await follower.stop();
  t.equal(seen.length, 1, 'one problem line');
  t.match(seen[0], /after the burst/, 'reached the end over several polls');
});
