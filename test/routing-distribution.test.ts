/**
 * Distribution tests for every random choice in routing. Each uses Pearson's
 * chi-square goodness-of-fit test at significance 0.001: a correct implementation
 * would exceed the critical value for about one seed in a thousand. The seeds are
 * fixed, so every run draws the same numbers and the result is deterministic.
 */
import t from 'tap';

import type { ChooserNode } from '../src/routing/node-chooser.js';
import { NodeChooser } from '../src/routing/node-chooser.js';
import { createRng } from '../src/routing/rng.js';
import type { SrvRecord } from '../src/routing/srv.js';
import { orderSrvTargets } from '../src/routing/srv.js';

/** Upper 0.001 critical values of the chi-square distribution, by degrees of freedom. */
const CRITICAL_AT_0_001: Record<number, number> = { 1: 10.828, 2: 13.816, 3: 16.266, 4: 18.467, 5: 20.515 };

function chiSquare(observed: readonly number[], probabilities: readonly number[]): number {
  const total = observed.reduce((sum, count) => sum + count, 0);
  return observed.reduce((sum, count, i) => {
    const expected = total * probabilities[i]!;
    return sum + (count - expected) ** 2 / expected;
  }, 0);
}

function criticalValue(categories: number): number {
  const value = CRITICAL_AT_0_001[categories - 1];
  if (value === undefined) {
    throw new Error(`no critical value for ${categories - 1} degrees of freedom in this test`);
  }
  return value;
}

function uniform(categories: number): number[] {
  return new Array<number>(categories).fill(1 / categories);
}

function countBy(values: readonly string[], categories: readonly string[]): number[] {
  return categories.map((category) => values.filter((value) => value === category).length);
}

function node(name: string, fields: Partial<ChooserNode> = {}): ChooserNode {
  return { name, online: true, accepting: true, configCurrent: true, prefixes: [], ...fields };
}

function chosenNodes(chooser: NodeChooser, draws: number, clientIp: string, utcOffsetMinutes = 0): string[] {
  const at = new Date('2026-01-15T12:00:00Z');
  return Array.from({ length: draws }, () => {
    const choice = chooser.choose({ clientIp, utcOffsetMinutes, at });
    return choice.kind === 'node' ? choice.node : choice.kind;
  });
}

void t.test('chi-square rejects a biased sample', (t) => {
  // 1100 against 900 of 2000 is 4.5 standard deviations from fair.
  t.ok(chiSquare([1100, 900], uniform(2)) > criticalValue(2));
  t.end();
});

void t.test('rng nextInt uniform', (t) => {
  const rng = createRng('distribution-int');
  const counts = new Array<number>(6).fill(0);
  for (let i = 0; i < 60_000; i++) {
    counts[rng.nextInt(6)]!++;
  }
  t.ok(chiSquare(counts, uniform(6)) < criticalValue(6), `counts ${counts.join(', ')}`);
  t.end();
});

void t.test('random method uniform', (t) => {
  const names = ['a', 'b', 'c', 'd'];
  const chooser = new NodeChooser({ rng: createRng('distribution-random') }, { method: 'random' });
  chooser.setNodes([...names.map((name) => node(name)), node('off', { online: false })]);
  const picks = chosenNodes(chooser, 40_000, '10.0.0.1');
  const counts = countBy(picks, names);
  t.ok(chiSquare(counts, uniform(4)) < criticalValue(4), `counts ${counts.join(', ')}`);
  t.equal(picks.filter((pick) => pick === 'off').length, 0, 'offline node never chosen');
  t.end();
});

void t.test('prefix tie uniform', (t) => {
  const names = ['x', 'y', 'z'];
  const chooser = new NodeChooser({ rng: createRng('distribution-prefix') }, { method: 'random' });
  chooser.setNodes([...names.map((name) => node(name, { prefixes: ['10.0.0.0/8'] })), node('other')]);
  const counts = countBy(chosenNodes(chooser, 30_000, '10.20.30.40'), names);
  t.ok(chiSquare(counts, uniform(3)) < criticalValue(3), `counts ${counts.join(', ')}`);
  t.end();
});

void t.test('timezone tie uniform', (t) => {
  const names = ['berlin', 'paris'];
  const chooser = new NodeChooser({ rng: createRng('distribution-timezone') }, { method: 'timezone' });
  chooser.setNodes([
    node('berlin', { timezone: 'Europe/Berlin' }),
    node('paris', { timezone: '+01:00' }),
    node('tokyo', { timezone: 'Asia/Tokyo' }),
  ]);
  const counts = countBy(chosenNodes(chooser, 20_000, '10.0.0.1', 60), names);
  t.ok(chiSquare(counts, uniform(2)) < criticalValue(2), `counts ${counts.join(', ')}`);
  t.end();
});

function srv(target: string, weight: number, priority = 10): SrvRecord {
  return { priority, weight, port: 443, target };
}

function firstTargets(records: readonly SrvRecord[], seed: string, draws: number): string[] {
  const rng = createRng(seed);
  return Array.from({ length: draws }, () => orderSrvTargets(records, rng)[0]!.target);
}

void t.test('srv weights with a zero weight', (t) => {
  // With sum S = 100 the draw is uniform over 0..100: the weight-0 record wins only
  // on 0 (1/101), and each other record on exactly its weight's share of 1..100.
  const records = [srv('w0', 0), srv('w10', 10), srv('w30', 30), srv('w60', 60)];
  const counts = countBy(firstTargets(records, 'distribution-srv-zero', 50_000), ['w0', 'w10', 'w30', 'w60']);
  const probabilities = [1 / 101, 10 / 101, 30 / 101, 60 / 101];
  t.ok(chiSquare(counts, probabilities) < criticalValue(4), `counts ${counts.join(', ')}`);
  t.end();
});

void t.test('srv weights all zero uniform', (t) => {
  const records = [srv('a', 0), srv('b', 0), srv('c', 0), srv('d', 0)];
  const counts = countBy(firstTargets(records, 'distribution-srv-all-zero', 40_000), ['a', 'b', 'c', 'd']);
  t.ok(chiSquare(counts, uniform(4)) < criticalValue(4), `counts ${counts.join(', ')}`);
  t.end();
});

void t.test('srv unequal weights', (t) => {
  // Without weight-0 records, the draw 0 goes to whichever record the random
  // arrangement put first, so record i is first with probability (w_i + 1/n) / (S + 1).
  const records = [srv('light', 1), srv('heavy', 3)];
  const counts = countBy(firstTargets(records, 'distribution-srv-unequal', 20_000), ['light', 'heavy']);
  t.ok(chiSquare(counts, [1.5 / 5, 3.5 / 5]) < criticalValue(2), `counts ${counts.join(', ')}`);
  t.end();
});

void t.test('srv full order distribution', (t) => {
  const weights: Record<string, number> = { a: 1, b: 2, c: 3 };
  const records = Object.entries(weights).map(([target, weight]) => srv(target, weight));
  const permutations = ['abc', 'acb', 'bac', 'bca', 'cab', 'cba'];

  // P(first = i) = (w_i + 1/3) / 7, then P(second = j | first) = (w_j + 1/2) / (w_j + w_k + 1).
  const probabilities = permutations.map((order) => {
    const [first, second, third] = [...order].map((target) => weights[target]!);
    return ((first! + 1 / 3) / 7) * ((second! + 1 / 2) / (second! + third! + 1));
  });
  t.equal(Number(probabilities.reduce((sum, p) => sum + p, 0).toFixed(12)), 1, 'expected probabilities sum to 1');

  const rng = createRng('distribution-srv-order');
  const orders = Array.from({ length: 30_000 }, () =>
    orderSrvTargets(records, rng)
      .map((record) => record.target)
      .join(''),
  );
  const counts = countBy(orders, permutations);
  t.ok(chiSquare(counts, probabilities) < criticalValue(6), `counts ${counts.join(', ')}`);
  t.end();
});

void t.test('srv lower priority always first', (t) => {
  const records = [srv('backup', 1000, 20), srv('primary', 1, 10)];
  const firsts = firstTargets(records, 'distribution-srv-priority', 2_000);
  t.equal(firsts.filter((target) => target === 'backup').length, 0, 'backup never first');
  t.end();
});

void t.test('same seed same choices', (t) => {
  const nodes = ['a', 'b', 'c', 'd', 'e'].map((name) => node(name, { timezone: '+00:00' }));
  const run = (seed: string): string[] => {
    const chooser = new NodeChooser({ rng: createRng(seed) }, { method: 'random' });
    chooser.setNodes(nodes);
    const random = chosenNodes(chooser, 200, '10.0.0.1');
    chooser.setMethod('timezone');
    return [...random, ...chosenNodes(chooser, 200, '10.0.0.1')];
  };
  t.same(run('replay'), run('replay'), 'identical sequences');
  t.not(run('replay').join(','), run('other').join(','), 'another seed differs');

  const records = [srv('a', 5), srv('b', 5), srv('c', 0), srv('d', 10, 20)];
  const orders = (seed: string): string[] => {
    const rng = createRng(seed);
    return Array.from({ length: 100 }, () => orderSrvTargets(records, rng).map((r) => r.target).join(''));
  };
  t.same(orders('srv-replay'), orders('srv-replay'), 'identical SRV orders');
  t.end();
});
