/**
 * Cost of an idle fault layer: the same cluster with its listeners behind
 * the fault layer's proxies (the default) and without them. The clusters
 * start one after the other, timed, and then run side by side, measured in
 * alternating rounds so that machine load affects both alike. Per round:
 * relay throughput as fast as the sockets take frames (see
 * relay-throughput.ts), and the frame latency of a real session between
 * client processes at the default stream rate (16 KiB frames every 5 ms).
 */
import { performance } from 'node:perf_hooks';

import { streamStats, waitFor } from '../launcher/cluster-driver.js';
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { benchRelayThroughput } from './relay-throughput.js';
import { formatNumber, summarise } from './stats.js';
import type { BenchResult } from './types.js';

/** Measurement rounds per cluster; the median is reported. */
export const OVERHEAD_ROUNDS = 3;
/** Frames per throughput transfer: 32 MiB of 64 KiB frames. */
const THROUGHPUT_FRAMES = 512;
const SESSION_TIMEOUT_MS = 60_000;

function overheadTopology(name: string): Record<string, unknown> {
  return {
    clusterName: name,
    masters: [{ name: 'master1' }],
    trafficNodes: [{ name: 'bench-traffic1', prefixes: ['127.20.0.0/16'], timezone: 'UTC' }],
    clients: [
      { name: 'rep', role: 'representative', address: '127.20.0.5', timezone: 'UTC' },
      { name: 'customer', role: 'customer', address: '127.20.0.6', timezone: 'UTC' },
    ],
    frames: { count: 300, sizeBytes: 16384, intervalMs: 5 },
  };
}

interface Round {
  relayMiBps: number;
  meanLatencyMs: number;
  maxLatencyMs: number;
}

export async function benchFaultLayerOverhead(options: { rounds?: number } = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? OVERHEAD_ROUNDS;
  const layerStart = performance.now();
  const withLayer = await startCluster({ topology: overheadTopology('bench-fault-layer'), faultLayer: true });
  const layerStartMs = performance.now() - layerStart;
  const directStart = performance.now();
  const without = await startCluster({ topology: overheadTopology('bench-no-fault-layer'), faultLayer: false }).catch(async (error: unknown) => {
    await withLayer.close({ removeRunDir: true });
    throw error;
  });
  const directStartMs = performance.now() - directStart;
  const results: Record<'layer' | 'direct', Round[]> = { layer: [], direct: [] };
  try {
    for (let round = 0; round < rounds; round += 1) {
      results.layer.push(await measureRound(withLayer));
      results.direct.push(await measureRound(without));
    }
  } finally {
    await Promise.all([withLayer.close({ removeRunDir: true }), without.close({ removeRunDir: true })]);
  }

  const median = (name: 'layer' | 'direct', field: keyof Round): number => summarise(results[name].map((round) => round[field])).p50;
  const throughputRatio = median('layer', 'relayMiBps') / median('direct', 'relayMiBps');
  return {
    name: 'idle fault layer overhead',
    lines: [
      `cluster start (one run each, with clients): behind the fault layer ${formatNumber(layerStartMs, 0)} ms, without ${formatNumber(directStartMs, 0)} ms`,
      `median of ${rounds} rounds per cluster; both clusters run at once`,
      `relay throughput (${THROUGHPUT_FRAMES} frames of 64 KiB): behind the fault layer ${formatNumber(median('layer', 'relayMiBps'), 1)} MiB/s, without ${formatNumber(median('direct', 'relayMiBps'), 1)} MiB/s, ratio ${formatNumber(throughputRatio)}`,
      `frame latency at 16 KiB every 5 ms (mean / max): behind the fault layer ${formatNumber(median('layer', 'meanLatencyMs'), 1)} / ${formatNumber(median('layer', 'maxLatencyMs'), 0)} ms, without ${formatNumber(median('direct', 'meanLatencyMs'), 1)} / ${formatNumber(median('direct', 'maxLatencyMs'), 0)} ms`,
    ],
    metrics: {
      layerStartMs,
      directStartMs,
      layerRelayMiBps: median('layer', 'relayMiBps'),
      directRelayMiBps: median('direct', 'relayMiBps'),
      throughputRatio,
      layerMeanLatencyMs: median('layer', 'meanLatencyMs'),
      directMeanLatencyMs: median('direct', 'meanLatencyMs'),
      layerMaxLatencyMs: median('layer', 'maxLatencyMs'),
      directMaxLatencyMs: median('direct', 'maxLatencyMs'),
    },
  };
}

async function measureRound(cluster: Cluster): Promise<Round> {
  const relay = await benchRelayThroughput({ cluster, frames: THROUGHPUT_FRAMES });
  const session = await cluster.startSession({ customer: 'customer', representative: 'rep', timeoutMs: SESSION_TIMEOUT_MS });
  const stream = await waitFor(async () => {
    const received = (await streamStats(cluster, 'rep')).find((entry) => entry.direction === 'subscribe');
    return received?.done === true ? received : undefined;
  }, { timeoutMs: SESSION_TIMEOUT_MS, description: `stream of session ${session.sessionId} to finish` });
  await cluster.request('rep', 'end-session', { reason: 'benchmark round finished' });
  await cluster.waitFor(async () => ((await cluster.request('customer', 'status')) as { sessionId?: string }).sessionId === undefined, { description: 'session to end' });
  return { relayMiBps: relay.metrics.relayMiBps ?? Number.NaN, meanLatencyMs: stream.meanLatencyMs ?? Number.NaN, maxLatencyMs: stream.maxLatencyMs ?? Number.NaN };
}
