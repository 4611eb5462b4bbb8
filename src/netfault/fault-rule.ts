/**
 * The fault model of the userspace network layer. A rule names the clients it
 * applies to by source IP (every client when `from` is absent), the direction
 * (`up` is client to server, `down` is server to client) and one fault kind:
 *
 * - `delay`: each chunk or datagram waits `delayMs` plus a uniform draw from
 *   [-jitterMs, +jitterMs] (never below zero). Order is kept, so a chunk never
 *   leaves before the one received before it.
 * - `bandwidth`: at most `bytesPerSecond` bytes per second (token bucket). TCP only.
 * - `blackhole`: bytes and datagrams are dropped silently; sockets stay open.
 * - `reset`: matching TCP connections are closed with RST at once, and new ones
 *   are reset as soon as they are accepted. TCP only; direction must be `both`.
 * - `loss`: each datagram is dropped with `probability`. UDP only, because a TCP
 *   byte stream cannot lose bytes without breaking the stream.
 */
import { isIP } from 'node:net';

import { ConfigError } from '../util/errors.js';
import { normalizeIp } from './address.js';

export type FaultDirection = 'both' | 'up' | 'down';
/** One direction of a connection: `up` is client to server, `down` is server to client. */
export type FlowDirection = 'up' | 'down';
export type FaultKind = 'delay' | 'bandwidth' | 'blackhole' | 'reset' | 'loss';

export const FAULT_DIRECTIONS: readonly FaultDirection[] = ['both', 'up', 'down'];
export const FAULT_KINDS: readonly FaultKind[] = ['delay', 'bandwidth', 'blackhole', 'reset', 'loss'];

/** Maximum delay and maximum jitter of a delay rule, in milliseconds (10 minutes). */
export const MAX_FAULT_DELAY_MS = 600_000;
/** Minimum bandwidth cap in bytes per second. */
export const MIN_BANDWIDTH_BYTES_PER_SECOND = 1;
/** Maximum bandwidth cap in bytes per second (1 TiB/s). */
export const MAX_BANDWIDTH_BYTES_PER_SECOND = 2 ** 40;

export interface DelayParams {
  delayMs: number;
  jitterMs: number;
}
export interface BandwidthParams {
  bytesPerSecond: number;
}
export interface LossParams {
  /** Probability in [0, 1] that one datagram is dropped. */
  probability: number;
}
export type EmptyParams = Record<string, never>;

interface RuleBase<K extends FaultKind, P> {
  /** Identifier used to remove the rule. */
  id: string;
  /** Normalised client source IPs the rule applies to, or undefined for every client. */
  from?: ReadonlySet<string>;
  direction: FaultDirection;
  kind: K;
  params: P;
}

export type FaultRule =
  | RuleBase<'delay', DelayParams>
  | RuleBase<'bandwidth', BandwidthParams>
  | RuleBase<'blackhole', EmptyParams>
  | RuleBase<'reset', EmptyParams>
  | RuleBase<'loss', LossParams>;

/** Rule as a caller writes it, for example parsed from JSON. `from` is one IP or a list. */
export interface FaultRuleInput {
  id?: string;
  from?: string | readonly string[];
  direction: FaultDirection;
  kind: FaultKind;
  params?: Record<string, unknown>;
}

/** Error for an invalid fault rule; the message names the field, the value and the allowed values. */
export class FaultRuleError extends ConfigError {
  override name = 'FaultRuleError';
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, expected: string) {
    const subject = field === '' ? 'fault rule' : `fault rule ${field}`;
    super(`${subject} is ${formatValue(value)}; expected ${expected}`);
    this.field = field;
    this.value = value;
  }
}

/**
 * Validates a rule and returns it in normalised form (IPv4-mapped addresses
 * unwrapped, params defaults filled in). `id` is used when the input has none.
 * Throws FaultRuleError naming the first invalid field.
 */
export function parseFaultRule(input: unknown, id: string): FaultRule {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new FaultRuleError('', input, 'an object { from?, direction, kind, params }');
  }
  const record = input as Record<string, unknown>;
  rejectUnknownFields(record, ['id', 'from', 'direction', 'kind', 'params'], '');

  const ruleId = parseId(record.id, id);
  const from = parseFrom(record.from);
  const direction = parseChoice(record.direction, 'direction', FAULT_DIRECTIONS);
  const kind = parseChoice(record.kind, 'kind', FAULT_KINDS);
  const params = record.params ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new FaultRuleError('params', params, `an object with the parameters of a ${kind} rule`);
  }
  const base = { id: ruleId, ...(from === undefined ? {} : { from }), direction };
  return { ...base, ...parseParams(kind, direction, params as Record<string, unknown>) } as FaultRule;
}

function parseParams(kind: FaultKind, direction: FaultDirection, params: Record<string, unknown>): Pick<FaultRule, 'kind' | 'params'> {
  switch (kind) {
    case 'delay': {
      rejectUnknownFields(params, ['delayMs', 'jitterMs'], 'params.');
      const delayMs = parseNumber(params.delayMs, 'params.delayMs', 0, MAX_FAULT_DELAY_MS, 'milliseconds');
      const jitterMs = params.jitterMs === undefined ? 0 : parseNumber(params.jitterMs, 'params.jitterMs', 0, MAX_FAULT_DELAY_MS, 'milliseconds');
      return { kind, params: { delayMs, jitterMs } };
    }
    case 'bandwidth': {
      rejectUnknownFields(params, ['bytesPerSecond'], 'params.');
      const bytesPerSecond = parseNumber(params.bytesPerSecond, 'params.bytesPerSecond', MIN_BANDWIDTH_BYTES_PER_SECOND, MAX_BANDWIDTH_BYTES_PER_SECOND, 'bytes per second');
      return { kind, params: { bytesPerSecond } };
    }
    case 'loss': {
      rejectUnknownFields(params, ['probability'], 'params.');
      const probability = parseNumber(params.probability, 'params.probability', 0, 1, 'the share of datagrams dropped');
      return { kind, params: { probability } };
    }
    case 'reset':
      if (direction !== 'both') {
        throw new FaultRuleError('direction', direction, '"both" for a reset rule, because a reset closes both directions of a connection');
      }
      rejectUnknownFields(params, [], 'params.');
      return { kind, params: {} };
    case 'blackhole':
      rejectUnknownFields(params, [], 'params.');
      return { kind, params: {} };
  }
}

function parseId(value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.trim() === '') {
    throw new FaultRuleError('id', value, 'a non-empty string, or no id to have one assigned');
  }
  return value;
}

function parseFrom(value: unknown): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (list.length === 0) {
    throw new FaultRuleError('from', value, 'a client IP address or a non-empty list of them; leave "from" out to match every client');
  }
  const addresses = new Set<string>();
  list.forEach((entry, index) => {
    const field = Array.isArray(value) ? `from[${index}]` : 'from';
    if (typeof entry !== 'string' || isIP(entry) === 0) {
      throw new FaultRuleError(field, entry, 'an IPv4 or IPv6 address such as 127.20.0.5');
    }
    addresses.add(normalizeIp(entry));
  });
  return addresses;
}

function parseChoice<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new FaultRuleError(field, value, `one of ${allowed.map((choice) => `"${choice}"`).join(', ')}`);
  }
  return value as T;
}

function parseNumber(value: unknown, field: string, min: number, max: number, unit: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new FaultRuleError(field, value, `a number from ${min} to ${max} (${unit})`);
  }
  return value;
}

function rejectUnknownFields(record: Record<string, unknown>, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) {
      const expected = known.length === 0 ? 'no such field, because this kind takes no parameters' : `only the fields ${known.join(', ')}`;
      throw new FaultRuleError(`${prefix}${key}`, record[key], expected);
    }
  }
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? `a ${typeof value}`;
  } catch {
    return `a ${typeof value} that cannot be shown as JSON`;
  }
}
