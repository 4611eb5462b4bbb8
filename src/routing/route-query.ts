/**
 * Validation of route explanation input, shared by `atlas-sim route` and the
 * master's `GET /api/route`, so both reject the same values with the same reasons.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../util/errors.js';
import { parseClientAddress } from './prefix.js';
import { MAX_UTC_OFFSET_MINUTES, MIN_UTC_OFFSET_MINUTES, offsetAt, parseFixedOffset, parseNodeTimezone, TimezoneError } from './timezone.js';

/** An invalid route query value; `field` is the query parameter or flag. */
export class RouteQueryError extends ConfigError {
  override name = 'RouteQueryError';

  constructor(readonly field: string, readonly value: unknown, readonly reason: string) {
    super(`${field} ${JSON.stringify(value)} ${reason}`);
  }
}

const OFFSET_FORMS = 'give ±HH:MM (such as +05:30), whole minutes east of UTC (such as +540 or -300) or an IANA zone name (such as Asia/Tokyo)';

/**
 * Checks a client address: an IPv4 address, or an IPv4-mapped IPv6 address
 * such as ::ffff:127.30.0.5, which routing unwraps as the master does for a
 * socket's peer address. Any other IPv6 address (such as ::1) is rejected,
 * because every prefix rule is IPv4 and no cluster client binds IPv6. Throws
 * RouteQueryError.
 */
export function parseRouteIp(value: string | null | undefined, field: string): string {
  if (value === null || value === undefined || value === '') {
    throw new RouteQueryError(field, value ?? '', 'is missing; give the client address, such as 127.30.0.5');
  }
  if (isIP(value) === 0) {
    throw new RouteQueryError(field, value, 'is not an IP address; give the client address in dotted form, such as 127.30.0.5');
  }
  if (parseClientAddress(value) === null) {
    throw new RouteQueryError(field, value, 'is an IPv6 address, but routing rules match IPv4 only; give the client address in dotted form, such as 127.30.0.5');
  }
  return value;
}

/**
 * Parses a client UTC offset as a person gives it: `±HH:MM`, signed whole
 * minutes, or an IANA zone name evaluated at `at` (daylight saving applied).
 * Returns minutes east of Greenwich. Throws RouteQueryError naming `field`.
 */
export function parseOffsetOption(value: string, field: string, at: Date): number {
  if (/^[+-]?\d{1,3}$/.test(value)) return checkOffsetRange(Number(value), value, field);
  if (/^[+-]\d{2}:\d{2}$/.test(value)) {
    const minutes = parseFixedOffset(value);
    if (typeof minutes === 'string') throw new RouteQueryError(field, value, `is invalid: ${minutes}`);
    return minutes;
  }
  if (/^[+-]/.test(value) || value === '') throw new RouteQueryError(field, value, `is not a UTC offset; ${OFFSET_FORMS}`);
  try {
    return offsetAt(parseNodeTimezone(value, 'client'), at);
  } catch (error) {
    if (!(error instanceof TimezoneError)) throw error;
    throw new RouteQueryError(field, value, `is neither a UTC offset nor an IANA zone name known to this Node.js; ${OFFSET_FORMS}`);
  }
}

/** Parses the API form of a client offset: signed whole minutes from -720 to +840. Throws RouteQueryError. */
export function parseOffsetMinutes(value: string | null, field: string): number {
  if (value === null || !/^[+-]?\d{1,3}$/.test(value)) {
    throw new RouteQueryError(field, value ?? '', `is not a whole number of minutes; give the client's UTC offset in minutes east of Greenwich, such as 540 for Asia/Tokyo`);
  }
  return checkOffsetRange(Number(value), value, field);
}

function checkOffsetRange(minutes: number, text: string, field: string): number {
  if (minutes < MIN_UTC_OFFSET_MINUTES || minutes > MAX_UTC_OFFSET_MINUTES) {
    throw new RouteQueryError(field, text, `is outside the UTC offsets in use; expected ${MIN_UTC_OFFSET_MINUTES} to +${MAX_UTC_OFFSET_MINUTES} minutes (-12:00 to +14:00)`);
  }
  return minutes === 0 ? 0 : minutes;
}

/** Checks a resolver name against the resolver views a cluster defines. Throws RouteQueryError naming the known views. */
export function checkResolver(value: string | undefined, known: readonly string[], field: string): string | undefined {
  if (value === undefined) return undefined;
  if (known.includes(value)) return value;
  const views = known.length === 0 ? 'this cluster defines no resolver views' : `known resolver views: ${known.join(', ')}`;
  throw new RouteQueryError(field, value, `is not a resolver view of this cluster; ${views}`);
}
