import t from 'tap';

import { createRng } from '../src/routing/rng.js';

function draw(seed: string | number, count: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => rng.nextUint32());
}

void t.test('createRng pinned stream', (t) => {
  // Pinned outputs: a change here changes every seeded choice, test and benchmark.
  t.same(draw('atlas', 5), [795404177, 3400591956, 3461146552, 2134528525, 1835346743], 'seed "atlas"');
  t.same(draw(0, 3), [2187164012, 3155734898, 3757440828], 'seed 0');
  t.end();
});

void t.test('createRng same seed same stream', (t) => {
  t.same(draw('replay', 100), draw('replay', 100), 'string seed');
  t.same(draw(42, 100), draw(42, 100), 'number seed');
  t.same(draw(42, 10), draw('42', 10), 'number and its string give one stream');
  t.end();
});

void t.test('createRng different seeds differ', (t) => {
  t.not(draw('a', 4).join(','), draw('b', 4).join(','), 'a and b');
  t.not(draw(1, 4).join(','), draw(2, 4).join(','), '1 and 2');
  t.not(draw('', 4).join(','), draw(' ', 4).join(','), 'empty and space');
  t.end();
});

void t.test('createRng rejects non-finite seed', (t) => {
  t.throws(() => createRng(Number.NaN), RangeError, 'NaN');
  t.throws(() => createRng(Number.POSITIVE_INFINITY), RangeError, 'Infinity');
  t.end();
});

void t.test('rng next range', (t) => {
  const rng = createRng('range');
  let outside = 0;
  for (let i = 0; i < 10_000; i++) {
    const value = rng.next();
    if (!(value >= 0 && value < 1)) {
      outside++;
    }
  }
  t.equal(outside, 0, 'every value in [0, 1)');
  t.end();
});

void t.test('rng nextInt bounds', (t) => {
  const rng = createRng('bounds');
  const seen = new Set<number>();
  for (let i = 0; i < 1_000; i++) {
    seen.add(rng.nextInt(7));
  }
  t.same([...seen].sort(), [0, 1, 2, 3, 4, 5, 6], 'all of 0-6 and nothing else');
  t.equal(rng.nextInt(1), 0, 'bound 1 gives 0');
  const wide = rng.nextInt(2 ** 32);
  t.ok(Number.isInteger(wide) && wide >= 0 && wide < 2 ** 32, 'bound 2^32');
  for (const bound of [0, -1, 1.5, 2 ** 32 + 1, Number.NaN]) {
    t.throws(() => rng.nextInt(bound), RangeError, `bound ${bound}`);
  }
  t.end();
});

void t.test('rng fork continues independently', (t) => {
  const rng = createRng('fork');
  rng.nextUint32();
  const fork = rng.fork();
  const fromFork = Array.from({ length: 5 }, () => fork.nextUint32());
  const fromOriginal = Array.from({ length: 5 }, () => rng.nextUint32());
  t.same(fromFork, fromOriginal, 'the fork yields the stream the original yields next');

  const untouched = createRng('fork');
  untouched.nextUint32();
  const forked = createRng('fork');
  forked.nextUint32();
  const side = forked.fork();
  for (let i = 0; i < 10; i++) side.nextUint32();
  t.equal(forked.nextUint32(), untouched.nextUint32(), 'draws from the fork leave the original unchanged');
  t.end();
});
