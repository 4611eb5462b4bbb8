/**
 * Target ordering for SRV records (RFC 2782), as a client applies it to the
 * answer from its own resolver before trying targets one after another.
 */
import type { Rng } from './rng.js';

/** One SRV resource record. */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

const UINT16_MAX = 65535;

/**
 * Whether the answer states that the service is decidedly not available: RFC 2782
 * gives this meaning to a single record whose target is "." (the root name, which
 * some decoders return as "").
 */
export function isSrvServiceUnavailable(records: readonly SrvRecord[]): boolean {
  return records.length === 1 && isRootTarget(records[0]!.target);
}

/**
 * Orders SRV records into the sequence a client tries. Priorities ascend (lower
 * first). Within one priority the RFC 2782 weighted selection repeats until every
 * record is placed:
 *
 * 1. arrange the remaining records at random, then move those of weight 0 to the front;
 * 2. draw an integer uniformly from 0 to the sum of their weights, inclusive;
 * 3. take the first record whose running sum of weights is at least that number.
 *
 * A weight-0 record is picked only when the draw is 0, so with sum S > 0 each one is
 * first with probability 1/(z(S+1)) for z such records. When all weights are 0,
 * the random arrangement makes the pick uniform. Records with target "." are left
 * out, so the single-"." answer yields an empty list: check isSrvServiceUnavailable
 * to tell it apart from an empty answer. Throws RangeError for a priority, weight or
 * port outside 0-65535.
 */
export function orderSrvTargets(records: readonly SrvRecord[], rng: Rng): SrvRecord[] {
  records.forEach(validateRecord);
  const byPriority = new Map<number, SrvRecord[]>();
  for (const record of records) {
    if (isRootTarget(record.target)) {
      continue;
    }
    const group = byPriority.get(record.priority) ?? [];
    group.push(record);
    byPriority.set(record.priority, group);
  }

  const ordered: SrvRecord[] = [];
  const priorities = [...byPriority.keys()].sort((a, b) => a - b);
  for (const priority of priorities) {
    ordered.push(...orderByWeight(byPriority.get(priority)!, rng));
  }
  return ordered;
}

/** Applies the weighted selection to records of one priority until none are left. */
function orderByWeight(group: readonly SrvRecord[], rng: Rng): SrvRecord[] {
  const remaining = [...group];
  const ordered: SrvRecord[] = [];
  while (remaining.length > 0) {
    shuffle(remaining, rng);
    const arranged = [...remaining.filter((r) => r.weight === 0), ...remaining.filter((r) => r.weight > 0)];
    const totalWeight = arranged.reduce((sum, r) => sum + r.weight, 0);
    const draw = rng.nextInt(totalWeight + 1);

    let runningSum = 0;
    let chosen = arranged[arranged.length - 1]!;
    for (const record of arranged) {
      runningSum += record.weight;
      if (runningSum >= draw) {
        chosen = record;
        break;
      }
    }
    ordered.push(chosen);
    remaining.splice(remaining.indexOf(chosen), 1);
  }
  return ordered;
}

/** Fisher-Yates shuffle in place. */
function shuffle<T>(items: T[], rng: Rng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const item = items[i]!;
    items[i] = items[j]!;
    items[j] = item;
  }
}

function isRootTarget(target: string): boolean {
  return target === '.' || target === '';
}

function validateRecord(record: SrvRecord, index: number): void {
  for (const field of ['priority', 'weight', 'port'] as const) {
    const value = record[field];
    if (!Number.isInteger(value) || value < 0 || value > UINT16_MAX) {
      throw new RangeError(`SRV record ${index + 1} (${record.target}) has ${field} ${value}; expected an integer 0-65535`);
    }
  }
  if (typeof record.target !== 'string') {
    throw new RangeError(`SRV record ${index + 1} has target ${String(record.target)}; expected a host name or "."`);
  }
}
