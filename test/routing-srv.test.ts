import t from 'tap';

import { createRng } from '../src/routing/rng.js';
import type { SrvRecord } from '../src/routing/srv.js';
import { isSrvServiceUnavailable, orderSrvTargets } from '../src/routing/srv.js';

function record(target: string, priority: number, weight: number, port = 443): SrvRecord {
  return { priority, weight, port, target };
}

void t.test('orderSrvTargets priorities out of order', (t) => {
  const records = [
    record('c.support.example.test', 30, 5),
    record('a1.support.example.test', 10, 60),
    record('b.support.example.test', 20, 0),
    record('a2.support.example.test', 10, 40),
    record('a3.support.example.test', 10, 0),
  ];
  for (const seed of ['srv-1', 'srv-2', 'srv-3', 'srv-4', 'srv-5']) {
    const ordered = orderSrvTargets(records, createRng(seed));
    t.same(
      ordered.map((r) => r.priority),
      [10, 10, 10, 20, 30],
      `seed ${seed}: priorities ascend`,
    );
    t.same(
      ordered.slice(0, 3).map((r) => r.target).sort(),
      ['a1.support.example.test', 'a2.support.example.test', 'a3.support.example.test'],
      `seed ${seed}: priority 10 holds all three of its records`,
    );
  }
  t.end();
});

void t.test('orderSrvTargets complete list', (t) => {
  const records = [record('x', 1, 1), record('y', 1, 1), record('z', 2, 1), record('w', 1, 0)];
  const ordered = orderSrvTargets(records, createRng('complete'));
  t.equal(ordered.length, 4, 'every record placed');
  t.same(ordered.map((r) => r.target).sort(), ['w', 'x', 'y', 'z'], 'each record once');
  t.end();
});

void t.test('orderSrvTargets leaves input unchanged', (t) => {
  const records = [record('x', 2, 1), record('y', 1, 1)];
  const copy = records.map((r) => ({ ...r }));
  orderSrvTargets(records, createRng('input'));
  t.same(records, copy);
  t.end();
});

void t.test('orderSrvTargets same seed same order', (t) => {
  const records = Array.from({ length: 8 }, (_, i) => record(`t${i}`, i % 3, i * 7));
  const first = orderSrvTargets(records, createRng('repeat')).map((r) => r.target);
  const second = orderSrvTargets(records, createRng('repeat')).map((r) => r.target);
  t.same(first, second);
  t.end();
});

void t.test('orderSrvTargets single dot target', (t) => {
  const unavailable = [record('.', 0, 0, 0)];
  t.same(orderSrvTargets(unavailable, createRng('dot')), [], 'no target to try');
  t.ok(isSrvServiceUnavailable(unavailable), 'service decidedly unavailable');
  t.ok(isSrvServiceUnavailable([record('', 0, 0, 0)]), 'root name decoded as empty');
  t.notOk(isSrvServiceUnavailable([]), 'empty answer is not the same');
  t.notOk(isSrvServiceUnavailable([record('x', 0, 0)]), 'a real target');
  const mixed = orderSrvTargets([record('.', 0, 0, 0), record('x', 1, 1)], createRng('dot'));
  t.same(mixed.map((r) => r.target), ['x'], 'a dot among real targets is dropped');
  t.end();
});

void t.test('orderSrvTargets rejects invalid records', (t) => {
  const rng = createRng('invalid');
  t.throws(() => orderSrvTargets([record('x', -1, 0)], rng), {
    name: 'RangeError',
    message: 'SRV record 1 (x) has priority -1; expected an integer 0-65535',
  });
  t.throws(() => orderSrvTargets([record('x', 0, 65536)], rng), RangeError, 'weight above 65535');
  t.throws(() => orderSrvTargets([record('x', 0, 0, 1.5)], rng), RangeError, 'fractional port');
  t.throws(() => orderSrvTargets([record('x', 0, Number.NaN)], rng), RangeError, 'NaN weight');
  t.end();
});
