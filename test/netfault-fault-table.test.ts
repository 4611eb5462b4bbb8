import t from 'tap';

import { FaultRuleError, FaultTable, MAX_FAULT_DELAY_MS } from '../src/netfault/fault-table.js';

void t.test('fault table empty returns undefined', (t) => {
  const table = new FaultTable();
  t.equal(table.faultsFor('127.0.0.1', 'up'), undefined);
  t.end();
});

void t.test('fault table matches client and direction', (t) => {
  const table = new FaultTable();
  table.add({ from: '127.9.0.1', direction: 'up', kind: 'delay', params: { delayMs: 50 } });
  t.equal(table.faultsFor('127.9.0.1', 'up')?.delayMs, 50);
  t.equal(table.faultsFor('127.9.0.1', 'down'), undefined);
  t.equal(table.faultsFor('127.9.0.2', 'up'), undefined);
  t.end();
});

void t.test('fault table rule without from matches all', (t) => {
  const table = new FaultTable();
  table.add({ direction: 'both', kind: 'blackhole' });
  t.equal(table.faultsFor('127.9.0.1', 'up')?.blackhole, true);
  t.equal(table.faultsFor('::1', 'down')?.blackhole, true);
  t.end();
});

void t.test('fault table combines rules', (t) => {
  const table = new FaultTable();
  const from = ['127.9.0.1', '127.9.0.2'];
  table.add({ from, direction: 'both', kind: 'delay', params: { delayMs: 10, jitterMs: 2 } });
  table.add({ from, direction: 'up', kind: 'delay', params: { delayMs: 5 } });
  table.add({ from, direction: 'up', kind: 'bandwidth', params: { bytesPerSecond: 1000 } });
  table.add({ from, direction: 'up', kind: 'bandwidth', params: { bytesPerSecond: 500 } });
  table.add({ from, direction: 'up', kind: 'loss', params: { probability: 0.5 } });
  table.add({ from, direction: 'up', kind: 'loss', params: { probability: 0.5 } });
  const faults = table.faultsFor('127.9.0.2', 'up');
  t.equal(faults?.delayMs, 15);
  t.equal(faults?.jitterMs, 2);
  t.equal(faults?.bytesPerSecond, 500);
  t.equal(faults?.lossProbability, 0.75);
  t.equal(faults?.blackhole, false);
  t.equal(faults?.reset, false);
  t.end();
});

void t.test('fault table normalises mapped from', (t) => {
  const table = new FaultTable();
  const rule = table.add({ from: '::ffff:127.9.0.3', direction: 'both', kind: 'blackhole' });
  t.same([...(rule.from ?? [])], ['127.9.0.3']);
  t.equal(table.faultsFor('127.9.0.3', 'up')?.blackhole, true);
  t.end();
});

void t.test('fault table remove and healAll', (t) => {
  const table = new FaultTable();
  let changes = 0;
  const unsubscribe = table.onChange(() => changes++);
  const rule = table.add({ direction: 'both', kind: 'blackhole' });
  table.add({ direction: 'both', kind: 'delay', params: { delayMs: 1 } });
  t.equal(table.remove(rule.id), true);
  t.equal(table.remove(rule.id), false);
  t.equal(table.faultsFor('127.9.0.1', 'up')?.blackhole, false);
  t.equal(table.healAll(), 1);
  t.equal(table.faultsFor('127.9.0.1', 'up'), undefined);
  t.equal(changes, 4);
  unsubscribe();
  table.add({ direction: 'both', kind: 'blackhole' });
  t.equal(changes, 4);
  t.end();
});

void t.test('fault table ids', (t) => {
  const table = new FaultTable();
  t.equal(table.add({ id: 'cut-eu', direction: 'both', kind: 'blackhole' }).id, 'cut-eu');
  t.match(table.add({ direction: 'both', kind: 'blackhole' }).id, /^fault-\d+$/);
  t.throws(() => table.add({ id: 'cut-eu', direction: 'both', kind: 'blackhole' }), { name: 'FaultRuleError', message: /id is "cut-eu"/ });
  t.equal(table.size, 2);
  t.end();
});

const invalidRules: { name: string; rule: unknown; message: RegExp }[] = [
  { name: 'not an object', rule: 'delay', message: /^fault rule is "delay"; expected an object/ },
  { name: 'unknown kind', rule: { direction: 'both', kind: 'lag' }, message: /kind is "lag"; expected one of "delay", "bandwidth"/ },
  { name: 'missing direction', rule: { kind: 'blackhole' }, message: /direction is missing; expected one of "both", "up", "down"/ },
  { name: 'negative delay', rule: { direction: 'up', kind: 'delay', params: { delayMs: -5 } }, message: new RegExp(`params.delayMs is -5; expected a number from 0 to ${MAX_FAULT_DELAY_MS} \\(milliseconds\\)`) },
  { name: 'missing delay', rule: { direction: 'up', kind: 'delay', params: {} }, message: /params.delayMs is missing/ },
  { name: 'string jitter', rule: { direction: 'up', kind: 'delay', params: { delayMs: 5, jitterMs: '3' } }, message: /params.jitterMs is "3"/ },
  { name: 'zero bandwidth', rule: { direction: 'up', kind: 'bandwidth', params: { bytesPerSecond: 0 } }, message: /params.bytesPerSecond is 0; expected a number from 1 to/ },
  { name: 'loss above one', rule: { direction: 'up', kind: 'loss', params: { probability: 1.5 } }, message: /params.probability is 1.5; expected a number from 0 to 1/ },
  { name: 'unknown param', rule: { direction: 'up', kind: 'loss', params: { probability: 0.1, seed: 3 } }, message: /params.seed is 3; expected only the fields probability/ },
  { name: 'params on blackhole', rule: { direction: 'up', kind: 'blackhole', params: { delayMs: 3 } }, message: /params.delayMs is 3; expected no such field/ },
  { name: 'one-way reset', rule: { direction: 'up', kind: 'reset' }, message: /direction is "up"; expected "both" for a reset rule/ },
  { name: 'bad from', rule: { from: 'eu-client', direction: 'both', kind: 'blackhole' }, message: /from is "eu-client"; expected an IPv4 or IPv6 address/ },
  { name: 'bad from entry', rule: { from: ['127.0.0.1', 7], direction: 'both', kind: 'blackhole' }, message: /from\[1\] is 7/ },
  { name: 'empty from', rule: { from: [], direction: 'both', kind: 'blackhole' }, message: /from is \[\]; expected a client IP address or a non-empty list/ },
  { name: 'unknown field', rule: { direction: 'both', kind: 'blackhole', to: '127.0.0.1' }, message: /fault rule to is "127.0.0.1"; expected only the fields/ },
];

for (const { name, rule, message } of invalidRules) {
  void t.test(`fault rule rejects ${name}`, (t) => {
    const table = new FaultTable();
    t.throws(() => table.add(rule), FaultRuleError);
    t.throws(() => table.add(rule), { message });
    t.equal(table.size, 0);
    t.end();
  });
}
