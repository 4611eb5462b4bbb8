import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';

import type { ChildMessage, ParentMessage } from '../src/util/ipc.js';

const MAIN_MODULE = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'anycast', 'main.js');
const ANYCAST_ADDRESS = '127.77.5.1';
const EU_NODE_ADDRESS = '127.77.5.10';
const US_NODE_ADDRESS = '127.77.5.11';
const EU_CLIENT = '127.77.5.100';
const US_CLIENT = '127.77.5.200';
/** Generous wait for process start and exit on a loaded machine. */
const PROCESS_WAIT_MS = 20_000;

async function makeTempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'atlas-anycast-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `node -e "import(main.js).then(m => m.main(...))" -- --config FILE` with an IPC channel. */
function spawnRouter(t: Test, configFile: string): ChildProcess {
  const script = `import(${JSON.stringify(MAIN_MODULE)}).then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; })`;
  const child = spawn(process.execPath, ['-e', script, '--', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ATLAS_LOG_LEVEL: 'debug' },
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  return child;
}

async function waitForMessage<T extends ChildMessage>(child: ChildProcess, accept: (message: ChildMessage) => message is T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no matching IPC message within ${PROCESS_WAIT_MS} ms`)), PROCESS_WAIT_MS);
    const onMessage = (message: ChildMessage): void => {
      if (accept(message)) finish(undefined, message);
    };
    const onExit = (code: number | null): void => finish(new Error(`router exited with code ${code} before the message`));
    function finish(error: Error | undefined, message?: T): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error !== undefined) reject(error);
      else resolve(message as T);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Resolves with the exit code, or the text "timed out" when the process is still running after PROCESS_WAIT_MS. */
async function waitForExit(child: ChildProcess): Promise<number | string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('timed out'), PROCESS_WAIT_MS);
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const result = await Promise.race([exited, timeout]);
  clearTimeout(timer);
  return result;
}

async function startNode(t: Test, name: string, address: string): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.end(`${name} ${socket.remoteAddress}`);
  });
  server.listen(0, address);
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('node has no address');
  return bound.port;
}

async function askThroughRouter(port: number, localAddress: string): Promise<string> {
  const socket = connect({ host: ANYCAST_ADDRESS, port, localAddress });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  socket.destroy();
  return Buffer.concat(chunks).toString();
}

async function collectOutput(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (stream === null) return '';
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

void t.test('anycast process needs a build', (t) => {
  t.ok(existsSync(MAIN_MODULE), `${MAIN_MODULE} exists; run npm run build first`);
  t.end();
});

void t.test('anycast process routes and reports', { skip: !existsSync(MAIN_MODULE) && 'dist/anycast/main.js is missing' }, async (t) => {
  const dir = await makeTempDir(t);
  const euPort = await startNode(t, 'eu', EU_NODE_ADDRESS);
  const usPort = await startNode(t, 'us', US_NODE_ADDRESS);
  const logFile = join(dir, 'anycast.log');
  const configFile = join(dir, 'anycast.json');
  const config = {
    name: 'anycast-test',
    address: ANYCAST_ADDRESS,
    port: 0,
    routes: [{ prefix: '127.77.5.0/25', target: { address: EU_NODE_ADDRESS, port: euPort }, node: 'eu' }],
    default: { address: US_NODE_ADDRESS, port: usPort, node: 'us' },
    logFile,
  };
  await writeFile(configFile, JSON.stringify(config));

  const child = spawnRouter(t, configFile);
  const ready = await waitForMessage(child, (message): message is Extract<ChildMessage, { type: 'ready' }> => message.type === 'ready');
  t.equal(ready.role, 'anycast');
  t.equal(ready.name, 'anycast-test');
  t.equal(ready.pid, child.pid);
  t.equal(ready.info.address, ANYCAST_ADDRESS);
  const port = ready.info.port as number;
  t.ok(Number.isInteger(port) && port > 0, `ready reports port ${port}`);

  t.equal(await askThroughRouter(port, EU_CLIENT), `eu ${EU_CLIENT}`);
  t.equal(await askThroughRouter(port, US_CLIENT), `us ${US_CLIENT}`);

  const request: ParentMessage = { type: 'request', requestId: 1, command: 'status' };
  child.send(request);
  const reply = await waitForMessage(child, (message): message is Extract<ChildMessage, { type: 'reply' }> => message.type === 'reply' && message.requestId === 1);
  t.equal(reply.ok, true);
  const status = reply.ok ? (reply.result as { connectionsByNode: Record<string, number>; counters: { connections: number } }) : undefined;
  t.same(status?.connectionsByNode, { eu: 1, us: 1 });
  t.equal(status?.counters.connections, 2);

  const exited = waitForExit(child);
  child.disconnect();
  t.equal(await exited, 0, 'router exits with 0 when the IPC channel closes');

  const log = await readFile(logFile, 'utf8');
  t.match(log, /"trafficNode":"eu".*"reason":"prefix","prefix":"127\.77\.5\.0\/25".*routed connection: prefix 127\.77\.5\.0\/25 matched/);
  t.match(log, /"trafficNode":"us".*"reason":"default".*routed connection: no prefix matched, default node/);
});

void t.test('anycast process rejects a faulty table', { skip: !existsSync(MAIN_MODULE) && 'dist/anycast/main.js is missing' }, async (t) => {
  const dir = await makeTempDir(t);
  const configFile = join(dir, 'anycast.json');
  const config = {
    name: 'anycast-test',
    address: ANYCAST_ADDRESS,
    port: 0,
    routes: [
      { prefix: '127.77.5.0/25', target: { address: EU_NODE_ADDRESS, port: 1000 }, node: 'eu' },
      { prefix: '127.77.5.300/25', target: { address: US_NODE_ADDRESS, port: 1001 }, node: 'us' },
    ],
    default: { address: US_NODE_ADDRESS, port: 1001, node: 'us' },
  };
  await writeFile(configFile, JSON.stringify(config));

  const child = spawnRouter(t, configFile);
  const stderr = collectOutput(child.stderr);
  t.equal(await waitForExit(child), 2);
  t.match(await stderr, /routes line 2 \(routes\[1\]\)\.prefix is "127\.77\.5\.300\/25"; not a valid prefix: address octet 300 is out of range 0-255/);
});
