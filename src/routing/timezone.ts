/**
 * UTC offsets for the timezone method of choosing a traffic node.
 *
 * Sign convention, used for every offset in routing: minutes EAST of Greenwich are
 * positive. Asia/Tokyo (UTC+09:00) is +540 and America/New_York in winter
 * (UTC-05:00) is -300. JavaScript's Date.prototype.getTimezoneOffset() has the
 * opposite sign (-540 in Tokyo), so a client reports -new Date().getTimezoneOffset().
 */
import { ConfigError } from '../util/errors.js';

export const MINUTES_PER_DAY = 1440;
/** Lowest UTC offset in use (UTC-12:00), in minutes. */
export const MIN_UTC_OFFSET_MINUTES = -720;
/** Highest UTC offset in use (UTC+14:00), in minutes. */
export const MAX_UTC_OFFSET_MINUTES = 840;

export const TIMEZONE_FIELD = 'timezone';

/** A node's timezone: a fixed offset, or an IANA zone whose offset follows daylight saving time. */
export type NodeTimezone =
  | { kind: 'fixed'; text: string; offsetMinutes: number }
  | { kind: 'zone'; zone: string; formatter: Intl.DateTimeFormat };

const FIXED_OFFSET_FORM = 'a fixed offset is ±HH:MM from -12:00 to +14:00 with minutes 00, 15, 30 or 45, such as +05:30';

/** Error for an invalid node timezone; the message names node, field, value and reason. */
export class TimezoneError extends ConfigError {
  override name = 'TimezoneError';
  readonly nodeName: string;
  readonly field = TIMEZONE_FIELD;
  readonly value: unknown;
  readonly reason: string;

  constructor(nodeName: string, value: unknown, reason: string) {
    const quotedValue = typeof value === 'string' ? JSON.stringify(value) : String(value);
    super(`trafficNodes[${nodeName}].${TIMEZONE_FIELD}: ${quotedValue} is not a valid timezone; ${reason}`);
    this.nodeName = nodeName;
    this.value = value;
    this.reason = reason;
  }
}

/**
 * Parses a node's timezone: a fixed offset (`+05:30`, `-03:00`, `+00:00`) or an IANA
 * zone name (`Europe/Berlin`). Throws TimezoneError naming the node when it is neither.
 */
export function parseNodeTimezone(value: unknown, nodeName: string): NodeTimezone {
  if (typeof value !== 'string' || value === '') {
    throw new TimezoneError(nodeName, value, 'expected an IANA zone name such as Europe/Berlin or a fixed offset such as +05:30');
  }
  if (value.startsWith('+') || value.startsWith('-')) {
    const offset = parseFixedOffset(value);
    if (typeof offset === 'string') {
      throw new TimezoneError(nodeName, value, offset);
    }
    return { kind: 'fixed', text: value, offsetMinutes: offset };
  }

  let formatter: Intl.DateTimeFormat;
  try {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone: value, timeZoneName: 'longOffset' });
  } catch (error) {
    if (!(error instanceof RangeError)) {
      throw error;
    }
    throw new TimezoneError(
      nodeName,
      value,
      `it is not an IANA zone name known to this Node.js (such as Europe/Berlin), and ${FIXED_OFFSET_FORM}`,
    );
  }
  return { kind: 'zone', zone: formatter.resolvedOptions().timeZone, formatter };
}

/** Parses `±HH:MM` into minutes east of Greenwich, or returns the reason it is invalid. */
export function parseFixedOffset(text: string): number | string {
  const match = /^([+-])(\d{2}):(\d{2})$/.exec(text);
  if (match === null) {
    return FIXED_OFFSET_FORM;
  }
  const [, sign, hoursText, minutesText] = match;
  const minutes = Number(minutesText);
  if (minutes !== 0 && minutes !== 15 && minutes !== 30 && minutes !== 45) {
    return `the minutes of a fixed offset must be 00, 15, 30 or 45, not ${minutesText}`;
  }
  const magnitude = Number(hoursText) * 60 + minutes;
  const offset = sign === '-' ? -magnitude : magnitude;
  if (offset < MIN_UTC_OFFSET_MINUTES || offset > MAX_UTC_OFFSET_MINUTES) {
    return `a fixed offset must be from -12:00 to +14:00`;
  }
  // -00:00 would give -0, which prints as 0 but is a different number to Object.is.
  return offset === 0 ? 0 : offset;
}

/** Returns a node's UTC offset in minutes at the given moment, with daylight saving time applied for zones. */
export function offsetAt(timezone: NodeTimezone, at: Date): number {
  if (timezone.kind === 'fixed') {
    return timezone.offsetMinutes;
  }
  const name = timezone.formatter.formatToParts(at).find((part) => part.type === 'timeZoneName')?.value;
  // With timeZoneName 'longOffset', ICU writes "GMT" for UTC itself and "GMT+05:30" otherwise.
  // Offsets from before 1900 may carry seconds ("GMT-04:56:02"), which are rounded to minutes.
  const match = name === undefined ? null : /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(name);
  if (match === null) {
    throw new Error(`Intl returned the offset name ${String(name)} for zone ${timezone.zone}; expected GMT or GMT±HH:MM`);
  }
  const [, sign, hours = '0', minutes = '0', seconds = '0'] = match;
  const magnitude = Math.round(Number(hours) * 60 + Number(minutes) + Number(seconds) / 60);
  return sign === '-' ? -magnitude : magnitude;
}

/** Distance in minutes between two offsets on the 24-hour circle: min(|a-b|, 1440-|a-b|). */
export function circularDistanceMinutes(a: number, b: number): number {
  const difference = Math.abs(a - b) % MINUTES_PER_DAY;
  return Math.min(difference, MINUTES_PER_DAY - difference);
}

/** Formats an offset in minutes with its sign, such as +60, -330 or +0. */
export function formatOffsetMinutes(minutes: number): string {
  return minutes < 0 ? String(minutes) : `+${minutes}`;
}

/** Throws RangeError unless a client's reported offset is an integer from -720 to +840 minutes. */
export function validateClientOffset(minutes: number): void {
  if (!Number.isInteger(minutes) || minutes < MIN_UTC_OFFSET_MINUTES || minutes > MAX_UTC_OFFSET_MINUTES) {
    throw new RangeError(
      `client utcOffsetMinutes ${minutes} is invalid; expected an integer from ${MIN_UTC_OFFSET_MINUTES} ` +
        `to +${MAX_UTC_OFFSET_MINUTES}, positive east of Greenwich (Asia/Tokyo is +540)`,
    );
  }
}
