import t from 'tap';

import { benchNetfault } from '../src/bench/netfault.js';

void t.test('benchNetfault small run', async (t) => {
  // A few MiB and one round: this checks the benchmark's wiring, not the speed of this machine.
  const result = await benchNetfault({ bytesPerTransfer: 4 * 1024 * 1024, rounds: 1 });
  t.equal(result.name, 'netfault');
  t.equal(result.lines.length, 4);
  t.ok((result.metrics.directMiBPerSecond ?? 0) > 0, 'direct rate measured');
  t.ok((result.metrics.proxyRatio ?? 0) > 0, 'proxy ratio measured');
  t.ok((result.metrics.slowPathRatio ?? 0) > 0, 'slow path ratio measured');
});
