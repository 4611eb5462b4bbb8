import { readFile } from 'node:fs/promises';
import { parseCommandLine } from '../util/argv.js';
import { ADMIN_PATHS, type SecurityView } from '../admin/api-types.js';
import { formatTable } from '../launcher/text-table.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, describeAdminError, formatUtc, openAdminTarget, printJson, reportFailure } from './admin-target.js';

export const SECURITY_USAGE = `usage: atlas-sim security <subcommand> [options] [--run-dir DIR]

The Security page of each appliance, through that appliance's own admin
HTTPS API. The inter-appliance pre-shared key must match on every node:
nodes whose keys differ cannot join or sync, and the master's status history
names them. The key is never printed.

subcommands:
  show                     whether each appliance has a key and where it came from
  set-key                  set the pre-shared key, read from --key-file or stdin

options:
  --node NAME              appliance to address; repeat for several (default: all)
  --key-file FILE          file whose first line is the key (set-key); stdin when absent
  --run-dir DIR            run folder of the cluster (default: the newest
                           running cluster under runs/)
  --json                   print JSON instead of text
  --help                   print this text

Exit status: 0 when every appliance answered, 1 when one rejected the request
or could not be reached, 2 for an invalid command line.
`;

async function readKey(file: string | undefined): Promise<string> {
  let text: string;
  try {
    text = file === undefined ? await readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the key from ${file ?? 'stdin'}: ${errorMessage(error)}`);
  }
  const key = text.split(/\r?\n/)[0] ?? '';
  if (key === '') throw new ConfigError(`the first line of ${file ?? 'stdin'} is empty; write the key on it`);
  return key;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** `atlas-sim security show|set-key`: one request per appliance, in parallel. */
export async function main(argv: string[]): Promise<number> {
  let values;
  let subcommand: string | undefined;
  try {
    const parsed = parseCommandLine({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { node: { type: 'string', multiple: true }, 'key-file': { type: 'string' }, 'run-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
    });
    values = parsed.values;
    subcommand = parsed.positionals[0];
    if (values.help === true || subcommand === undefined) {
      process.stdout.write(SECURITY_USAGE);
      return values.help === true ? EXIT_OK : EXIT_USAGE;
    }
    if (subcommand !== 'show' && subcommand !== 'set-key') throw new ConfigError(`unknown subcommand "${subcommand}"; use show or set-key`);
    if (parsed.positionals.length > 1) throw new ConfigError(`\`security ${subcommand}\` takes no arguments besides the options, got ${parsed.positionals.slice(1).join(' ')}`);
    if (subcommand === 'show' && values['key-file'] !== undefined) throw new ConfigError('--key-file is an option of `security set-key` only');
  } catch (error) {
    return reportFailure('security', error instanceof ConfigError ? error : new ConfigError(errorMessage(error)), false);
  }

  const json = values.json === true;
  try {
    const target = await openAdminTarget(values['run-dir']);
    const names = values.node ?? target.info.nodes.filter((node) => node.role === 'master' || node.role === 'traffic').map((node) => node.name);
    const clients = names.map((name) => ({ name, client: target.node(name) }));
    const key = subcommand === 'set-key' ? await readKey(values['key-file']) : undefined;

    const results = await Promise.all(clients.map(async ({ name, client }) => {
      try {
        const view = key === undefined
          ? await client.get<SecurityView>(ADMIN_PATHS.security)
          : await client.put<SecurityView>(ADMIN_PATHS.preSharedKey, { preSharedKey: key });
        return { name, ok: true, ...view };
      } catch (error) {
        return { name, ok: false, error: describeAdminError(error) };
      }
    }));

    if (json) {
      printJson(results);
    } else {
      const rows = results.map((result) => 'error' in result
        ? [result.name, 'failed', '-', '-', result.error ?? '']
        : [result.name, result.preSharedKeySet ? 'set' : 'not set', result.source, result.changedAtMs === undefined ? '-' : formatUtc(result.changedAtMs), '']);
      console.log(formatTable(['appliance', 'key', 'source', 'changed', 'error'], rows, '').join('\n'));
    }
    return results.every((result) => result.ok) ? EXIT_OK : EXIT_FAILED;
  } catch (error) {
    return reportFailure(`security ${subcommand}`, error, json);
  }
}
