import t from 'tap';

import { benchRouting } from '../src/bench/routing.js';

void t.test('benchRouting small run', async (t) => {
  // Small sizes and a short duration: this checks the benchmark's wiring and its
  // cross-check against the linear scan, not the speed of this machine.
  const result = await benchRouting({ prefixCount: 500, nodeCount: 10, minDurationMs: 20, seed: 'bench-test' });
  t.equal(result.name, 'routing', 'name');
  t.equal(result.lines.length, 6, 'six lines');
  t.equal(result.metrics.mismatches, 0, 'index agrees with the linear scan');
  t.equal(result.metrics.prefixes, 500, 'prefix count');
  t.equal(result.metrics.offlineNodes, 1, 'one node of ten offline');
  t.ok((result.metrics.indexLookupsPerSecond ?? 0) > 0, 'index rate measured');
  t.ok((result.metrics.linearLookupsPerSecond ?? 0) > 0, 'linear rate measured');
  t.match(result.lines[3], /^index \/ linear scan: \d+\.\dx$/, 'ratio line');
  t.ok((result.metrics.chooserChoicesPerSecond ?? 0) > 0, 'full choice rate measured');
  t.match(result.lines[4], /^full choices \(NodeChooser\.choose/, 'full choice line');
});
