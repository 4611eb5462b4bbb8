/**
 * Userspace network layer benchmark: plain TCP throughput of 64 KiB writes
 * through an idle TcpProxy (no fault, fast path) and through a proxy with a
 * 0 ms delay rule in force (every chunk goes through the fault queue). Each is
 * reported as a ratio to a direct connection measured in the same run.
 *
 * Rounds alternate the three paths so that machine load affects them alike, and
 * medians are reported. Client, proxy and sink share this process's event loop,
 * so a proxied byte costs this one thread two more socket operations than a
 * direct byte.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

import { silentLogger } from '../logging/logger.js';
import type { SocketAddress } from '../netfault/address.js';
import { FaultTable } from '../netfault/fault-table.js';
import { TcpProxy } from '../netfault/tcp-proxy.js';
import { formatNumber, summarise } from './stats.js';
import type { BenchResult } from './types.js';

export interface NetfaultBenchOptions {
  /** Bytes sent per measured transfer. */
  bytesPerTransfer?: number;
  /** Transfers per path; the median is reported. */
  rounds?: number;
}

export const DEFAULT_BENCH_BYTES_PER_TRANSFER = 256 * 1024 * 1024;
export const DEFAULT_BENCH_ROUNDS = 5;
const CHUNK_BYTES = 64 * 1024;
const MIB = 1024 * 1024;
const SINK_ADDRESS = '127.77.9.10';
const PROXY_ADDRESS = '127.77.9.1';
const SLOW_PROXY_ADDRESS = '127.77.9.2';
const CLIENT_ADDRESS = '127.77.9.20';

type PathName = 'direct' | 'proxy' | 'slowPath';

export async function benchNetfault(options: NetfaultBenchOptions = {}): Promise<BenchResult> {
  const bytesPerTransfer = options.bytesPerTransfer ?? DEFAULT_BENCH_BYTES_PER_TRANSFER;
  const rounds = options.rounds ?? DEFAULT_BENCH_ROUNDS;

  const sink = await startSink();
  const idleProxy = new TcpProxy({ logger: silentLogger() }, { listen: { address: PROXY_ADDRESS, port: 0 }, target: sink.address, preserveSource: true, faults: new FaultTable() });
  const slowFaults = new FaultTable();
  slowFaults.add({ from: CLIENT_ADDRESS, direction: 'both', kind: 'delay', params: { delayMs: 0 } });
  const slowProxy = new TcpProxy({ logger: silentLogger() }, { listen: { address: SLOW_PROXY_ADDRESS, port: 0 }, target: sink.address, preserveSource: true, faults: slowFaults });

  const rates: Record<PathName, number[]> = { direct: [], proxy: [], slowPath: [] };
  try {
    const endpoints: Record<PathName, SocketAddress> = { direct: sink.address, proxy: await idleProxy.listen(), slowPath: await slowProxy.listen() };
    for (let round = 0; round < rounds; round++) {
      for (const path of ['direct', 'proxy', 'slowPath'] as const) {
        rates[path].push(await measureTransfer(endpoints[path], sink, bytesPerTransfer));
      }
    }
  } finally {
    await idleProxy.close();
    await slowProxy.close();
    await sink.close();
  }

  const direct = summarise(rates.direct).p50;
  const proxy = summarise(rates.proxy).p50;
  const slowPath = summarise(rates.slowPath).p50;
  return {
    name: 'netfault',
    lines: [
      `TCP throughput, ${CHUNK_BYTES / 1024} KiB writes, ${formatNumber(bytesPerTransfer / MIB, 0)} MiB per transfer, median of ${rounds}:`,
      `direct connection: ${formatNumber(direct / MIB, 0)} MiB/s`,
      `idle TcpProxy (no fault): ${formatNumber(proxy / MIB, 0)} MiB/s, ratio to direct ${formatNumber(proxy / direct)}`,
      `TcpProxy with a 0 ms delay rule (slow path): ${formatNumber(slowPath / MIB, 0)} MiB/s, ratio to direct ${formatNumber(slowPath / direct)}`,
    ],
    metrics: {
      directMiBPerSecond: direct / MIB,
      proxyMiBPerSecond: proxy / MIB,
      proxyRatio: proxy / direct,
      slowPathMiBPerSecond: slowPath / MIB,
      slowPathRatio: slowPath / direct,
    },
  };
}

interface Sink {
  address: SocketAddress;
  /** Resolves once the next accepted connection has received `bytes` bytes. */
  nextTransfer(bytes: number): Promise<void>;
  close(): Promise<void>;
}

/** Server that counts the bytes of each connection and reports when a transfer is complete. */
async function startSink(): Promise<Sink> {
  const sockets = new Set<Socket>();
  let expect: { bytes: number; done: () => void } | undefined;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (expect !== undefined && received >= expect.bytes) {
        expect.done();
        expect = undefined;
      }
    });
  });
  server.listen(0, SINK_ADDRESS);
  await once(server, 'listening');
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('benchmark sink has no address');
  return {
    address: { address: bound.address, port: bound.port },
    nextTransfer: (bytes) => new Promise<void>((resolve) => (expect = { bytes, done: resolve })),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends `bytes` in 64 KiB writes, waiting for drain when the socket buffer is full; returns bytes per second until the sink has them all. */
async function measureTransfer(endpoint: SocketAddress, sink: Sink, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(CHUNK_BYTES, 0x5a);
  const received = sink.nextTransfer(bytes);
  const socket = connect({ host: endpoint.address, port: endpoint.port, localAddress: CLIENT_ADDRESS, noDelay: true });
  await once(socket, 'connect');
  const start = performance.now();
  for (let sent = 0; sent < bytes; sent += CHUNK_BYTES) {
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  await received;
  const seconds = (performance.now() - start) / 1000;
  socket.destroy();
  return bytes / seconds;
}
