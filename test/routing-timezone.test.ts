import t from 'tap';

import {
  TimezoneError,
  circularDistanceMinutes,
  formatOffsetMinutes,
  offsetAt,
  parseFixedOffset,
  parseNodeTimezone,
  validateClientOffset,
} from '../src/routing/timezone.js';

const FIXED_FORM = 'a fixed offset is ±HH:MM from -12:00 to +14:00 with minutes 00, 15, 30 or 45, such as +05:30';

void t.test('parseFixedOffset valid', (t) => {
  const cases: [string, number][] = [
    ['+05:30', 330],
    ['+05:45', 345],
    ['-09:30', -570],
    ['+12:45', 765],
    ['+14:00', 840],
    ['-12:00', -720],
    ['-03:00', -180],
    ['+09:00', 540],
    ['+00:00', 0],
    ['-00:00', 0],
  ];
  for (const [text, minutes] of cases) {
    t.equal(parseFixedOffset(text), minutes, text);
  }
  t.ok(Object.is(parseFixedOffset('-00:00'), 0), '-00:00 is +0, not -0');
  t.end();
});

void t.test('parseFixedOffset invalid', (t) => {
  const cases: [string, string][] = [
    ['+14:15', 'a fixed offset must be from -12:00 to +14:00'],
    ['+15:00', 'a fixed offset must be from -12:00 to +14:00'],
    ['-12:15', 'a fixed offset must be from -12:00 to +14:00'],
    ['-13:00', 'a fixed offset must be from -12:00 to +14:00'],
    ['+05:20', 'the minutes of a fixed offset must be 00, 15, 30 or 45, not 20'],
    ['+05:60', 'the minutes of a fixed offset must be 00, 15, 30 or 45, not 60'],
    ['+5:30', FIXED_FORM],
    ['+0530', FIXED_FORM],
    ['+05', FIXED_FORM],
    ['+05:30:00', FIXED_FORM],
    ['05:30', FIXED_FORM],
  ];
  for (const [text, reason] of cases) {
    t.equal(parseFixedOffset(text), reason, text);
  }
  t.end();
});

void t.test('parseNodeTimezone', (t) => {
  t.same(parseNodeTimezone('+05:30', 'in-traffic1'), { kind: 'fixed', text: '+05:30', offsetMinutes: 330 }, 'fixed');
  const zone = parseNodeTimezone('Europe/Berlin', 'eu-traffic1');
  t.equal(zone.kind, 'zone', 'zone kind');
  t.equal(zone.kind === 'zone' ? zone.zone : '', 'Europe/Berlin', 'zone name');
  const lowerCase = parseNodeTimezone('europe/berlin', 'eu-traffic1');
  t.equal(lowerCase.kind === 'zone' ? lowerCase.zone : '', 'Europe/Berlin', 'zone name canonicalised');

  t.throws(() => parseNodeTimezone('+05:20', 'in-traffic1'), {
    name: 'TimezoneError',
    message: 'trafficNodes[in-traffic1].timezone: "+05:20" is not a valid timezone; the minutes of a fixed offset must be 00, 15, 30 or 45, not 20',
  });
  t.throws(() => parseNodeTimezone('Mars/Olympus', 'mars-traffic1'), {
    name: 'TimezoneError',
    message:
      'trafficNodes[mars-traffic1].timezone: "Mars/Olympus" is not a valid timezone; it is not an IANA zone name ' +
      `known to this Node.js (such as Europe/Berlin), and ${FIXED_FORM}`,
  });
  t.throws(() => parseNodeTimezone('05:30', 'n'), TimezoneError, 'offset without sign');
  t.throws(() => parseNodeTimezone('', 'n'), TimezoneError, 'empty');
  t.throws(() => parseNodeTimezone(540, 'n'), TimezoneError, 'number');

  let caught: unknown;
  try {
    parseNodeTimezone('+15:00', 'far-traffic1');
  } catch (error) {
    caught = error;
  }
  t.ok(caught instanceof TimezoneError, 'TimezoneError instance');
  t.equal((caught as TimezoneError).nodeName, 'far-traffic1', 'error names the node');
  t.equal((caught as TimezoneError).field, 'timezone', 'error names the field');
  t.equal((caught as TimezoneError).value, '+15:00', 'error carries the value');
  t.end();
});

void t.test('offsetAt daylight saving 2026', (t) => {
  // 2026 transitions: Europe/Berlin at 01:00 UTC on 29 March and 25 October;
  // America/New_York at 07:00 UTC on 8 March and 06:00 UTC on 1 November.
  const cases: { zone: string; at: string; offset: number }[] = [
    { zone: 'Europe/Berlin', at: '2026-03-29T00:59:59Z', offset: 60 },
    { zone: 'Europe/Berlin', at: '2026-03-29T01:00:00Z', offset: 120 },
    { zone: 'Europe/Berlin', at: '2026-10-25T00:59:59Z', offset: 120 },
    { zone: 'Europe/Berlin', at: '2026-10-25T01:00:00Z', offset: 60 },
    { zone: 'America/New_York', at: '2026-03-08T06:59:59Z', offset: -300 },
    { zone: 'America/New_York', at: '2026-03-08T07:00:00Z', offset: -240 },
    { zone: 'America/New_York', at: '2026-11-01T05:59:59Z', offset: -240 },
    { zone: 'America/New_York', at: '2026-11-01T06:00:00Z', offset: -300 },
    { zone: 'Asia/Tokyo', at: '2026-07-01T00:00:00Z', offset: 540 },
    { zone: 'Asia/Kolkata', at: '2026-01-15T00:00:00Z', offset: 330 },
    { zone: 'Asia/Kathmandu', at: '2026-01-15T00:00:00Z', offset: 345 },
    { zone: 'Australia/Eucla', at: '2026-01-15T00:00:00Z', offset: 525 },
    { zone: 'Pacific/Marquesas', at: '2026-01-15T00:00:00Z', offset: -570 },
    { zone: 'America/St_Johns', at: '2026-01-15T00:00:00Z', offset: -210 },
    { zone: 'Pacific/Chatham', at: '2026-01-15T00:00:00Z', offset: 825 },
    { zone: 'Pacific/Chatham', at: '2026-07-15T00:00:00Z', offset: 765 },
    { zone: 'Pacific/Kiritimati', at: '2026-01-15T00:00:00Z', offset: 840 },
    { zone: 'Etc/GMT+12', at: '2026-01-15T00:00:00Z', offset: -720 },
    { zone: 'UTC', at: '2026-01-15T00:00:00Z', offset: 0 },
  ];
  for (const { zone, at, offset } of cases) {
    t.equal(offsetAt(parseNodeTimezone(zone, 'n'), new Date(at)), offset, `${zone} at ${at}`);
  }
  t.equal(offsetAt(parseNodeTimezone('-09:30', 'n'), new Date('2026-07-01T00:00:00Z')), -570, 'fixed offset ignores date');
  t.end();
});

void t.test('circularDistanceMinutes', (t) => {
  const cases: [number, number, number][] = [
    [720, -660, 60],
    [-660, 720, 60],
    [0, 0, 0],
    [0, 720, 720],
    [-720, 840, 120],
    [840, -720, 120],
    [330, 345, 15],
    [-570, 765, 105],
    [60, 120, 60],
    [540, -300, 600],
  ];
  for (const [a, b, distance] of cases) {
    t.equal(circularDistanceMinutes(a, b), distance, `${a} to ${b}`);
  }
  t.end();
});

void t.test('formatOffsetMinutes', (t) => {
  t.equal(formatOffsetMinutes(60), '+60', 'positive');
  t.equal(formatOffsetMinutes(-330), '-330', 'negative');
  t.equal(formatOffsetMinutes(0), '+0', 'zero');
  t.end();
});

void t.test('validateClientOffset', (t) => {
  for (const minutes of [-720, 0, 345, 840]) {
    t.doesNotThrow(() => validateClientOffset(minutes), `accepts ${minutes}`);
  }
  for (const minutes of [-721, 841, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => validateClientOffset(minutes), RangeError, `rejects ${minutes}`);
  }
  t.throws(() => validateClientOffset(900), {
    message: 'client utcOffsetMinutes 900 is invalid; expected an integer from -720 to +840, positive east of Greenwich (Asia/Tokyo is +540)',
  });
  t.end();
});
