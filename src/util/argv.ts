import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command-line value that starts with a minus sign followed by a digit or a decimal point, such as -5, -0.5 or -05:00. */
const NEGATIVE_VALUE = /^-\.?\d/;

/**
 * Parses a command line with Node's `util.parseArgs`, but also takes a value
 * that starts with a minus sign and a digit as the value of a string option:
 * `--delay -5` and `-d -5` read as `--delay=-5`. parseArgs itself rejects
 * such a value as ambiguous, so the option's own range check never ran.
 * Other values that start with a minus sign stay ambiguous, so that an option
 * whose value was forgotten (`--name --json`) is still an error.
 */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  if (config.args === undefined) throw new Error('parseCommandLine needs config.args');
  // The spread config has the same options as T, so the result type is the one parseArgs gives for T.
  return parseArgs({ ...config, args: joinNegativeValues(config.args, config.options ?? {}) }) as ReturnType<typeof parseArgs<T>>;
}

/** Rewrites `--name -5` and `-n -5` to `--name=-5` for every string option; leaves every other argument as it is. */
export function joinNegativeValues(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const result: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--') {
      result.push(...args.slice(i));
      break;
    }
    const name = stringOptionName(arg, options);
    const next = args[i + 1];
    if (name !== undefined && next !== undefined && NEGATIVE_VALUE.test(next)) {
      result.push(`--${name}=${next}`);
      i++;
    } else {
      result.push(arg);
    }
  }
  return result;
}

/** Returns the long name of the string option that `arg` names on its own (`--name` or `-n`, without a value), or undefined. */
function stringOptionName(arg: string, options: NonNullable<ParseArgsConfig['options']>): string | undefined {
  if (arg.startsWith('--') && !arg.includes('=')) {
    const name = arg.slice(2);
    return options[name]?.type === 'string' ? name : undefined;
  }
  if (/^-[^-]$/.test(arg)) {
    const entry = Object.entries(options).find(([, option]) => option.short === arg.slice(1));
    return entry?.[1].type === 'string' ? entry[0] : undefined;
  }
  return undefined;
}
