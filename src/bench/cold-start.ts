import { startCluster } from '../launcher/cluster.js';
import { formatNumber, summarise } from './stats.js';
import type { BenchResult } from './types.js';

/** Cold starts measured; the first also pays for loading modules from disk. */
export const COLD_START_RUNS = 3;

/**
 * Measures the time from startCluster() to a formed default cluster (DNS,
 * master and four traffic nodes as separate processes, the cluster built
 * through the master's admin API, every node connected and synced), without
 * clients. Certificates already exist, as after the
 * first run on a machine.
 */
export async function benchColdStart(options: { runs?: number } = {}): Promise<BenchResult> {
  const runs = options.runs ?? COLD_START_RUNS;
  const timings: number[] = [];
  const adminBuilds: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    const cluster = await startCluster({ startClients: false });
    timings.push(performance.now() - started);
    adminBuilds.push(cluster.adminBuildMs ?? Number.NaN);
    await cluster.close({ removeRunDir: true });
  }
  const summary = summarise(timings);
  return {
    name: 'cold start',
    lines: [
      `default cluster to all nodes connected, ${runs} runs: ${timings.map((ms) => formatNumber(ms, 0)).join(', ')} ms`,
      `median ${formatNumber(summary.p50, 0)} ms (target < 1500)`,
      `of which building the cluster through the admin API (create, add nodes, method, first sync): ${adminBuilds.map((ms) => formatNumber(ms, 0)).join(', ')} ms`,
    ],
    metrics: { runs, medianMs: summary.p50, maxMs: summary.max, medianAdminBuildMs: summarise(adminBuilds).p50 },
  };
}
