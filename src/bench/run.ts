// `npm run bench`: runs every benchmark in this process, one after another,
// and prints each result with the machine it ran on. Each benchmark measures
// its own baseline in the same run, so the ratios compare like with like.
import { cpus, loadavg, totalmem } from 'node:os';
import { benchColdStart } from './cold-start.js';
import { benchMasterTakeover } from './master-takeover.js';
import { benchFaultLayerOverhead } from './fault-layer-overhead.js';
import { benchNetfault } from './netfault.js';
import { benchPeerToPeer } from './peer-to-peer.js';
import { benchRelayThroughput } from './relay-throughput.js';
import { benchRouting } from './routing.js';
import { benchSessionSetup } from './session-setup.js';
import { benchSyncNow } from './sync-now.js';
import { benchTrafficNodeDetection } from './traffic-node-detection.js';
import type { BenchResult } from './types.js';

type Benchmark = { name: string; run: () => Promise<BenchResult> };

const BENCHMARKS: Benchmark[] = [
  { name: 'relay', run: () => benchRelayThroughput() },
  { name: 'session', run: () => benchSessionSetup() },
  { name: 'cold-start', run: () => benchColdStart() },
  { name: 'routing', run: () => benchRouting() },
  { name: 'takeover', run: () => benchMasterTakeover() },
  { name: 'sync', run: () => benchSyncNow() },
  { name: 'netfault', run: () => benchNetfault() },
  { name: 'fault-layer', run: () => benchFaultLayerOverhead() },
  { name: 'detection', run: () => benchTrafficNodeDetection() },
  { name: 'p2p', run: () => benchPeerToPeer() },
];

function describeMachine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node.js ${process.version}, load average ${loadavg().map((value) => value.toFixed(2)).join(' ')}`;
}

async function main(argv: string[]): Promise<number> {
  const selected = argv.length === 0 ? BENCHMARKS : BENCHMARKS.filter((bench) => argv.includes(bench.name));
  if (selected.length === 0) {
    console.error(`unknown benchmark; choose from: ${BENCHMARKS.map((bench) => bench.name).join(', ')}`);
    return 2;
  }
  console.log(`machine: ${describeMachine()}`);
  let failed = 0;
  for (const bench of selected) {
    try {
      const result = await bench.run();
      console.log(`\n## ${result.name}`);
      for (const line of result.lines) console.log(`  ${line}`);
    } catch (error) {
      failed += 1;
      console.error(`\n## ${bench.name} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
