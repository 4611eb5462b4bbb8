import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MAX_FRAME_SIZE_BYTES, validateClientConfig, type ClientProcessConfig } from '../src/config/client-config.js';
import { parseClientArgs } from '../src/client/options.js';
import { ConfigError } from '../src/util/errors.js';

function validConfig(): ClientProcessConfig {
  return {
    role: 'customer',
    name: 'customer1',
    displayName: 'Customer One',
    address: '127.30.0.10',
    site: { host: 'support.example.test', port: 8443 },
    dns: { address: '127.30.0.2', port: 5353 },
    certsDir: '/tmp/certs',
    heartbeat: { intervalMs: 1000, timeoutMs: 4000 },
    frames: { count: 10, sizeBytes: 1024, intervalMs: 0 },
    auto: { requestSupport: true, issue: 'printer' },
  };
}

function withChange(change: (config: Record<string, unknown>) => void): unknown {
  const config = validConfig() as unknown as Record<string, unknown>;
  change(config);
  return config;
}

void t.test('config accepts valid customer', (t) => {
  t.same(validateClientConfig(validConfig(), 'test.json'), validConfig());
  t.end();
});

const invalidCases: { name: string; change: (config: Record<string, unknown>) => void; message: RegExp }[] = [
  { name: 'unknown role', change: (c) => (c.role = 'admin'), message: /test\.json: role is "admin"; expected "customer" or "representative"/ },
  { name: 'address outside loopback', change: (c) => (c.address = '10.0.0.5'), message: /address is "10\.0\.0\.5"; expected an IPv4 address in 127\.0\.0\.0\/8/ },
  { name: 'missing address', change: (c) => delete c.address, message: /address is missing/ },
  { name: 'site host as IP', change: (c) => (c.site = { host: '127.0.0.5', port: 443 }), message: /site\.host is "127\.0\.0\.5"; expected the site hostname/ },
  { name: 'site port out of range', change: (c) => (c.site = { host: 'support.example.test', port: 70000 }), message: /site\.port is 70000; expected a port number/ },
  { name: 'dns address not loopback', change: (c) => (c.dns = { address: '8.8.8.8', port: 53 }), message: /dns\.address is "8\.8\.8\.8"/ },
  { name: 'empty name', change: (c) => (c.name = ''), message: /name is ""; expected a non-empty string/ },
  { name: 'heartbeat timeout below interval', change: (c) => (c.heartbeat = { intervalMs: 1000, timeoutMs: 500 }), message: /heartbeat\.timeoutMs is 500; expected a value above heartbeat\.intervalMs/ },
  { name: 'negative frame count', change: (c) => (c.frames = { count: -1, sizeBytes: 10, intervalMs: 0 }), message: /frames\.count is -1; expected an integer of at least 0/ },
  { name: 'oversized frame', change: (c) => (c.frames = { count: 1, sizeBytes: MAX_FRAME_SIZE_BYTES + 1, intervalMs: 0 }), message: /frames\.sizeBytes is \d+; expected at most/ },
  { name: 'customer with auto accept', change: (c) => (c.auto = { accept: true }), message: /auto\.accept is true; expected false for a customer/ },
  { name: 'auto flag not boolean', change: (c) => (c.auto = { requestSupport: 'yes' }), message: /auto\.requestSupport is "yes"; expected true or false/ },
];

for (const testCase of invalidCases) {
  void t.test(`config rejects ${testCase.name}`, (t) => {
    t.throws(() => validateClientConfig(withChange(testCase.change), 'test.json'), testCase.message);
    t.end();
  });
}

void t.test('config rejects representative requesting support', (t) => {
  const config = { ...validConfig(), role: 'representative' };
  t.throws(() => validateClientConfig(config, 'test.json'), /auto\.requestSupport is true; expected false for a representative/);
  t.end();
});

void t.test('config error is ConfigError', (t) => {
  t.throws(() => validateClientConfig(null, 'test.json'), ConfigError);
  t.end();
});

void t.test('args read cluster.json from run dir', async (t) => {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-client-args-'));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  await writeFile(join(runDir, 'cluster.json'), JSON.stringify({
    site: { host: 'support.example.test', port: 9443 },
    dns: { address: '127.30.0.2', port: 5300 },
    certsDir: 'certs',
    heartbeat: { intervalMs: 500, timeoutMs: 2000 },
    frames: { count: 20, sizeBytes: 512, intervalMs: 10 },
  }));

  const parsed = await parseClientArgs(['rep', '--run-dir', runDir, '--address', '127.30.0.20', '--auto-accept', '--frames', '5']);
  t.equal(parsed.help, false);
  if (parsed.help) return;
  t.equal(parsed.config.role, 'representative');
  t.equal(parsed.config.name, 'rep-127.30.0.20');
  t.equal(parsed.config.certsDir, join(runDir, 'certs'));
  t.same(parsed.config.site, { host: 'support.example.test', port: 9443 });
  t.same(parsed.config.frames, { count: 5, sizeBytes: 512, intervalMs: 10 });
  t.equal(parsed.config.auto.accept, true);
});

void t.test('args derive seed from run dir', async (t) => {
  const runDir = await mkdtemp(join(tmpdir(), 'atlas-client-seed-'));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  await writeFile(join(runDir, 'cluster.json'), JSON.stringify({
    seed: 'cluster-seed',
    site: { host: 'support.example.test', port: 9443 },
    dns: { address: '127.30.0.2', port: 5300 },
    certsDir: 'certs',
    heartbeat: { intervalMs: 500, timeoutMs: 2000 },
    frames: { count: 20, sizeBytes: 512, intervalMs: 10 },
  }));

  const named = await parseClientArgs(['customer', '--run-dir', runDir, '--address', '127.30.0.21', '--name', 'customer-a']);
  t.equal(named.help ? undefined : named.config.seed, 'cluster-seed/customer-a', 'seed stream named after the client');
  const unnamed = await parseClientArgs(['customer', '--run-dir', runDir, '--address', '127.30.0.22']);
  t.equal(unnamed.help ? undefined : unnamed.config.seed, 'cluster-seed/customer-127.30.0.22', 'default name gives the stream');
});

void t.test('args issue enables support request', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-client-args-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'client.json');
  await writeFile(file, JSON.stringify({ ...validConfig(), auto: {} }));

  const parsed = await parseClientArgs(['customer', '--config', file, '--issue', 'no sound']);
  if (parsed.help) throw new Error('expected a configuration');
  t.equal(parsed.config.auto.requestSupport, true);
  t.equal(parsed.config.auto.issue, 'no sound');
});

void t.test('args reject missing address', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-client-args-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config: Record<string, unknown> = { ...validConfig() };
  delete config.address;
  delete config.role;
  const file = join(dir, 'client.json');
  await writeFile(file, JSON.stringify(config));
  await t.rejects(parseClientArgs(['customer', '--config', file]), /--address is missing/);
});

void t.test('args reject unknown role', async (t) => {
  await t.rejects(parseClientArgs(['admin']), /expected one role, "customer" or "rep", got "admin"/);
});

void t.test('args reject unknown flag', async (t) => {
  await t.rejects(parseClientArgs(['customer', '--colour']), /--colour.*atlas-sim client --help/);
});

void t.test('args reject non-numeric frame count', async (t) => {
  await t.rejects(parseClientArgs(['customer', '--address', '127.30.0.1', '--frames', 'ten']), /--frames is "ten"; expected a whole number/);
});

void t.test('args help', async (t) => {
  t.same(await parseClientArgs(['--help']), { help: true });
});

void t.test('args reject negative frame count', async (t) => {
  await t.rejects(parseClientArgs(['customer', '--address', '127.30.0.1', '--frames', '-3']), /--frames is "-3"; expected a whole number/);
});

void t.test('args reject node addresses', async (t) => {
  for (const address of ['127.100.0.1', '127.150.3.10', '127.199.255.255']) {
    await t.rejects(parseClientArgs(['customer', '--address', address]), { message: `--address "${address}" lies in 127.100.0.0-127.199.255.255, which the launcher gives cluster nodes; use an address such as 127.20.0.5` }, address);
  }
});

void t.test('config rejects a node address', (t) => {
  t.throws(() => validateClientConfig(withChange((c) => (c.address = '127.100.0.10')), 'client.json'), { message: /^client\.json: address "127\.100\.0\.10" lies in 127\.100\.0\.0-127\.199\.255\.255, which the launcher gives cluster nodes/ });
  t.end();
});
