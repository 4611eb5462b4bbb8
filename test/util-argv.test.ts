import t from 'tap';
import { parseChaosArgs } from '../src/cli/chaos-command.js';
import { joinNegativeValues, parseCommandLine } from '../src/util/argv.js';
import { ConfigError } from '../src/util/errors.js';

const OPTIONS = {
  delay: { type: 'string' },
  timeout: { type: 'string', short: 't' },
  name: { type: 'string' },
  json: { type: 'boolean' },
} as const;

void t.test('negative values join their option', (t) => {
  const cases: { args: string[]; expected: string[] }[] = [
    { args: ['--delay', '-5'], expected: ['--delay=-5'] },
    { args: ['--delay', '-0.5'], expected: ['--delay=-0.5'] },
    { args: ['--delay', '-.5'], expected: ['--delay=-.5'] },
    { args: ['--name', '-05:00'], expected: ['--name=-05:00'] },
    { args: ['-t', '-1'], expected: ['--timeout=-1'] },
    { args: ['--delay=-5'], expected: ['--delay=-5'] },
    { args: ['--json', '-5'], expected: ['--json', '-5'] },
    { args: ['--name', '--json'], expected: ['--name', '--json'] },
    { args: ['--name', '-x'], expected: ['--name', '-x'] },
    { args: ['--', '--delay', '-5'], expected: ['--', '--delay', '-5'] },
  ];
  for (const entry of cases) t.same(joinNegativeValues(entry.args, OPTIONS), entry.expected, entry.args.join(' '));
  t.end();
});

void t.test('parseCommandLine takes a negative value', (t) => {
  const { values } = parseCommandLine({ args: ['--delay', '-5', '-t', '-2'], options: OPTIONS, strict: true });
  t.equal(values.delay, '-5', 'long option');
  t.equal(values.timeout, '-2', 'short option');
  t.end();
});

void t.test('parseCommandLine keeps a forgotten value an error', (t) => {
  t.throws(() => parseCommandLine({ args: ['--name', '--json'], options: OPTIONS, strict: true }), { message: /--name.*argument is ambiguous/ });
  t.end();
});

void t.test('chaos rejects invalid fault settings', (t) => {
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['link', 'a', 'b', 'delay', '--delay', '-5'], message: /^--delay is -5; expected a number from 0 to 600000 \(milliseconds\)/ },
    { args: ['link', 'a', 'b', 'loss', '--loss', '1.5'], message: /^--loss is 1\.5; expected a number from 0 to 1/ },
    { args: ['link', 'a', 'b', 'loss'], message: /^--loss is missing/ },
    { args: ['link', 'a', 'b', 'blackhole', '--delay', '5'], message: /^--delay does not apply to a blackhole fault, which takes no parameters/ },
    { args: ['link', 'a', 'b', 'delay', '--delay', '5', '--rate', '10'], message: /^--rate does not apply to a delay fault, which takes --delay and --jitter/ },
    { args: ['link', 'a', 'b', 'drop'], message: /^KIND is "drop"; expected one of delay, bandwidth, blackhole, reset, loss/ },
    { args: ['link', 'a', 'b', 'reset', '--direction', 'a-to-b'], message: /^--direction is "a-to-b" for a reset/ },
    { args: ['link', 'a', 'b', 'blackhole', '--id', 'a b'], message: /^--id is "a b"/ },
  ];
  for (const entry of cases) {
    t.throws(() => parseChaosArgs(entry.args), ConfigError, `${entry.args.join(' ')}: ConfigError`);
    t.throws(() => parseChaosArgs(entry.args), { message: entry.message }, `${entry.args.join(' ')}: message`);
  }
  t.end();
});

void t.test('chaos accepts a valid link fault', (t) => {
  const parsed = parseChaosArgs(['link', 'us-traffic1', '*', 'delay', '--delay', '200', '--jitter', '50']);
  t.not(parsed, 'help');
  if (parsed === 'help') return t.end();
  t.same(parsed.request, { command: 'link', args: { fault: { a: 'us-traffic1', b: '*', kind: 'delay', delayMs: 200, jitterMs: 50 } } });
  t.end();
});
