import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { DEFAULT_STUN_PORT } from '../src/stun-protocol/constants.js';
import { StunServer } from '../src/stun-protocol/server.js';
import { main, parseStunArgs } from '../src/stun/main.js';

const SERVER_ADDRESS = '127.31.2.2';
const CLIENT_ADDRESS = '127.31.2.3';
/** Maximum wait for a spawned process to report ready or exit; generous for a loaded 2-core machine. */
const PROCESS_WAIT_MS = 20_000;
/** turnutils_stunclient waits forever without a response, so it is killed after this long. */
const STUNCLIENT_TIMEOUT_MS = 20_000;

const DIST_MAIN = fileURLToPath(new URL('../dist/stun/main.js', import.meta.url));
const STUNCLIENT = findOnPath('turnutils_stunclient');
const NO_STUNCLIENT = STUNCLIENT === undefined ? 'turnutils_stunclient is not installed (Debian package coturn)' : false;
const NO_DIST = existsSync(DIST_MAIN) ? false : `${DIST_MAIN} does not exist; run npm run build first`;

function findOnPath(binary: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((folder) => join(folder, binary))
    .find((candidate) => existsSync(candidate));
}

interface StunClientOutput {
  address: string;
  port: number;
}

/**
 * Runs coturn's turnutils_stunclient from CLIENT_ADDRESS (-L) and parses its line
 * "0: : IPv4. UDP reflexive addr: 127.31.2.3:41234" (coturn 4.6).
 */
async function runStunClient(serverAddress: string, serverPort: number): Promise<StunClientOutput> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      STUNCLIENT!,
      ['-p', String(serverPort), '-L', CLIENT_ADDRESS, serverAddress],
      { timeout: STUNCLIENT_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (error, output, errorOutput) => {
        if (error === null) {
          resolve(output);
        } else {
          reject(new Error(`turnutils_stunclient failed: ${error.message}; stdout: ${output}; stderr: ${errorOutput}`, { cause: error }));
        }
      },
    );
  });
  const match = /UDP reflexive addr: ([\d.]+):(\d+)/.exec(stdout);
  if (match === null) {
    throw new Error(`turnutils_stunclient printed no reflexive address: ${stdout}`);
  }
  return { address: match[1]!, port: Number(match[2]) };
}

/** Returns the peer ports of the Binding responses in pino JSON lines. */
function respondedPeerPorts(logLines: string): number[] {
  return logLines
    .split('\n')
    .filter((line) => line.includes('sent a Binding response'))
    .map((line) => (JSON.parse(line) as { peer: string }).peer)
    .filter((peer) => peer.startsWith(`${CLIENT_ADDRESS}:`))
    .map((peer) => Number(peer.slice(CLIENT_ADDRESS.length + 1)));
}

interface ReadyMessage {
  type: string;
  role: string;
  address: string;
  port: number;
  pid: number;
}

/** Spawns the compiled STUN entry with an IPC channel, as the launcher does, and kills it in teardown if it still runs. */
function spawnStunProcess(t: Test, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const code = `import(${JSON.stringify(DIST_MAIN)}).then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; })`;
  const child = spawn(process.execPath, ['-e', code, '--', ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  });
  return child;
}

async function waitForReady(child: ChildProcess): Promise<ReadyMessage> {
  return new Promise<ReadyMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`STUN process sent no ready message within ${PROCESS_WAIT_MS} ms`)), PROCESS_WAIT_MS);
    child.once('message', (message: ReadyMessage) => {
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`STUN process exited with code ${code} before it was ready`));
    });
  });
}

async function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) {
    return child.exitCode;
  }
  return new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`STUN process did not exit within ${PROCESS_WAIT_MS} ms`)), PROCESS_WAIT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

async function makeTempFolder(t: Test): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'atlas-stun-test-'));
  t.teardown(() => rm(folder, { recursive: true, force: true }));
  return folder;
}

void t.test('stun args accept loopback', (t) => {
  t.same(parseStunArgs(['--address', '127.31.2.9', '--port', '0']), { address: '127.31.2.9', port: 0, logFile: undefined, name: 'stun', help: false });
  t.equal(parseStunArgs(['--address', '::1']).port, DEFAULT_STUN_PORT, 'default port');
  t.equal(parseStunArgs(['--address', '127.0.0.1', '--name', 'stun-eu', '--log-file', '/tmp/x.log']).name, 'stun-eu');
  t.equal(parseStunArgs(['--help']).help, true);
  t.end();
});

void t.test('stun args reject invalid values', (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    ['missing address', ['--port', '3478'], /missing --address/],
    ['hostname', ['--address', 'localhost'], /"localhost" is not an IP address/],
    ['public IPv4', ['--address', '192.0.2.10'], /192\.0\.2\.10 is not a loopback address/],
    ['unspecified IPv4', ['--address', '0.0.0.0'], /not a loopback address/],
    ['IPv6 other than ::1', ['--address', '::2'], /not a loopback address/],
    ['port text', ['--address', '127.0.0.1', '--port', 'abc'], /--port "abc" is invalid/],
    ['port too large', ['--address', '127.0.0.1', '--port', '65536'], /--port "65536" is invalid/],
    ['port negative', ['--address', '127.0.0.1', '--port', '-1'], /invalid|argument/],
    ['unknown flag', ['--address', '127.0.0.1', '--verbose'], /--verbose/],
    ['positional', ['127.0.0.1'], /127\.0\.0\.1/],
    ['empty name', ['--address', '127.0.0.1', '--name', ''], /--name is empty/],
  ];
  for (const [name, argv, message] of cases) {
    t.throws(() => parseStunArgs(argv), { name: 'ConfigError', message }, name);
  }
  t.end();
});

void t.test('stun main exits 2 on bad flags', async (t) => {
  const written: string[] = [];
  const originalWrite = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk: string | Uint8Array): boolean => written.push(String(chunk)) > 0;
  try {
    t.equal(await main(['--address', '10.1.2.3']), 2);
  } finally {
    process.stderr.write = originalWrite;
  }
  t.match(written.join(''), /10\.1\.2\.3 is not a loopback address/);
});

void t.test('turnutils_stunclient against server', { skip: NO_STUNCLIENT }, async (t) => {
  let logLines = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logLines += chunk.toString();
      callback();
    },
  });
  const server = new StunServer({ logger: pino({ level: 'debug' }, sink) }, { address: SERVER_ADDRESS, port: 0 });
  const { port } = await server.listen();
  t.teardown(() => server.close());

  const reported = await runStunClient(SERVER_ADDRESS, port);
  t.equal(reported.address, CLIENT_ADDRESS, 'reflexive address is the -L address');
  t.ok(respondedPeerPorts(logLines).includes(reported.port), 'reflexive port is the port the server saw');
  t.equal(server.counters.malformed, 0);
});

void t.test('stun process serves turnutils_stunclient', { skip: NO_STUNCLIENT || NO_DIST }, async (t) => {
  const folder = await makeTempFolder(t);
  const logFile = join(folder, 'stun.log');
  const child = spawnStunProcess(t, ['--address', SERVER_ADDRESS, '--port', '0', '--log-file', logFile, '--name', 'stun-test'], { ATLAS_LOG_LEVEL: 'debug' });
  const ready = await waitForReady(child);
  t.match(ready, { type: 'ready', role: 'stun', address: SERVER_ADDRESS, pid: child.pid });
  t.ok(ready.port > 0, 'ready reports the bound port');

  const reported = await runStunClient(SERVER_ADDRESS, ready.port);
  t.equal(reported.address, CLIENT_ADDRESS, 'reflexive address is the -L address');
  t.ok(respondedPeerPorts(await readFile(logFile, 'utf8')).includes(reported.port), 'reflexive port is the port the server saw');

  child.disconnect();
  t.equal(await waitForExit(child), 0, 'exits 0 when the IPC channel closes');
  const log = await readFile(logFile, 'utf8');
  t.match(log, '"msg":"STUN server listening"');
  t.match(log, '"reason":"parent process gone"');
  t.match(log, '"msg":"STUN process stopped"');
});

void t.test('stun process stops on SIGTERM', { skip: NO_DIST }, async (t) => {
  const child = spawnStunProcess(t, ['--address', SERVER_ADDRESS, '--port', '0']);
  let stdout = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  await waitForReady(child);
  child.kill('SIGTERM');
  t.equal(await waitForExit(child), 0);
  t.match(stdout, '"reason":"SIGTERM"', 'logs the stop reason to stdout');
});

void t.test('stun process rejects public address', { skip: NO_DIST }, async (t) => {
  const child = spawnStunProcess(t, ['--address', '192.0.2.10', '--port', '3478']);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  t.equal(await waitForExit(child), 2);
  t.match(stderr, '192.0.2.10 is not a loopback address');
});
