import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

import { allocateAddressBlock, blockNetwork, BLOCK_COUNT, MAX_TRAFFIC_NODES } from '../src/launcher/address-block.js';

const distModule = fileURLToPath(new URL('../dist/launcher/address-block.js', import.meta.url));

async function tempLockDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-blocks-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Returns the PID of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid;
  await new Promise((resolve) => child.once('exit', resolve));
  if (pid === undefined) throw new Error('spawn returned no PID');
  return pid;
}

void t.test('block network covers range', (t) => {
  t.equal(blockNetwork(0), '127.100.0', 'first block');
  t.equal(blockNetwork(257), '127.101.1', 'second octet rolls over');
  t.equal(blockNetwork(BLOCK_COUNT - 1), '127.199.255', 'last block');
  t.end();
});

void t.test('addresses inside a block', async (t) => {
  const lockDir = await tempLockDir(t);
  const block = await allocateAddressBlock({ lockDir, firstIndex: 5 });
  t.teardown(() => block.release());
  t.equal(block.address(1), '127.100.5.1', 'master');
  t.equal(block.trafficNodeAddress(0), '127.100.5.10', 'first traffic node');
  t.equal(block.trafficNodeAddress(42), '127.100.5.52', 'traffic node before DNS');
  t.equal(block.trafficNodeAddress(43), '127.100.5.54', 'traffic node skips .53');
  t.equal(block.trafficNodeAddress(MAX_TRAFFIC_NODES - 1), '127.100.5.254', 'last traffic node');
  t.throws(() => block.trafficNodeAddress(MAX_TRAFFIC_NODES), RangeError, 'past the block');
});

void t.test('parallel allocation in one process', async (t) => {
  const lockDir = await tempLockDir(t);
  const blocks = await Promise.all(Array.from({ length: 20 }, () => allocateAddressBlock({ lockDir, firstIndex: 0 })));
  const indexes = new Set(blocks.map((block) => block.index));
  t.equal(indexes.size, 20, 'every block distinct');
  const content = await readFile(blocks[0]!.lockFile, 'utf8');
  t.equal(content.trim(), String(process.pid), 'lock holds the PID');

  await Promise.all(blocks.map((block) => block.release()));
  t.same(await readdir(lockDir), [], 'release removes every lock');
});

void t.test('parallel allocation across processes', async (t) => {
  t.ok(existsSync(distModule), 'compiled module exists (npm run build)');
  const lockDir = await tempLockDir(t);
  const script = `
    const { allocateAddressBlock } = await import(${JSON.stringify(distModule)});
    const block = await allocateAddressBlock({ lockDir: ${JSON.stringify(lockDir)}, firstIndex: 7 });
    process.stdout.write(block.network + '\\n');
    process.stdin.resume();
    process.stdin.on('end', async () => { await block.release(); process.exit(0); });
  `;
  const children = Array.from({ length: 6 }, () => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
  t.teardown(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  const networks = await Promise.all(
    children.map(
      (child) =>
        new Promise<string>((resolve, reject) => {
          let output = '';
          child.stdout.on('data', (chunk: Buffer) => {
            output += chunk.toString();
            if (output.includes('\n')) resolve(output.trim());
          });
          child.once('exit', (code) => reject(new Error(`allocator exited with code ${String(code)} before printing its block`)));
        }),
    ),
  );
  t.equal(new Set(networks).size, children.length, 'every process got its own block');
  t.equal((await readdir(lockDir)).length, children.length, 'one lock file per process');

  await Promise.all(
    children.map((child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      return exited;
    }),
  );
  t.same(await readdir(lockDir), [], 'locks removed at release');
});

void t.test('stale lock reclaimed', async (t) => {
  const lockDir = await tempLockDir(t);
  const lockFile = join(lockDir, `${blockNetwork(3)}.0.lock`);
  await writeFile(lockFile, `${await deadPid()}\n`);

  const block = await allocateAddressBlock({ lockDir, firstIndex: 3 });
  t.teardown(() => block.release());
  t.equal(block.index, 3, 'takes the stale block');
  t.equal((await readFile(lockFile, 'utf8')).trim(), String(process.pid), 'lock now holds this PID');
});

void t.test('live lock skipped', async (t) => {
  const lockDir = await tempLockDir(t);
  await writeFile(join(lockDir, `${blockNetwork(3)}.0.lock`), `${process.pid}\n`);

  const block = await allocateAddressBlock({ lockDir, firstIndex: 3 });
  t.teardown(() => block.release());
  t.equal(block.index, 4, 'takes the next block');
});

void t.test('empty lock skipped until old', async (t) => {
  const lockDir = await tempLockDir(t);
  const lockFile = join(lockDir, `${blockNetwork(9)}.0.lock`);
  await writeFile(lockFile, '');

  const first = await allocateAddressBlock({ lockDir, firstIndex: 9 });
  t.equal(first.index, 10, 'fresh empty lock counts as live');
  await first.release();

  const oneMinuteAgo = new Date(Date.now() - 60_000);
  await utimes(lockFile, oneMinuteAgo, oneMinuteAgo);
  const second = await allocateAddressBlock({ lockDir, firstIndex: 9 });
  t.teardown(() => second.release());
  t.equal(second.index, 9, 'old empty lock reclaimed');
});

void t.test('release twice is harmless', async (t) => {
  const lockDir = await tempLockDir(t);
  const block = await allocateAddressBlock({ lockDir });
  await block.release();
  await t.resolves(block.release(), 'second release resolves');
});
