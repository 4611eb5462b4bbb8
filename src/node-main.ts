import { loadNodeConfig, type NodeProcessConfig } from './config/node-config.js';
import { parseCommandLine } from './util/argv.js';
import { errorMessage } from './util/errors.js';

export const NODE_USAGE = `usage: atlas-sim node --config FILE
       atlas-sim node leave --node NAME [--run-dir DIR] [--json]

Runs one appliance process (role master or traffic) from a node config JSON
file, as the launcher writes it into the run folder. \`node leave\` removes a
traffic node from its cluster by itself; see \`atlas-sim node leave --help\`.

options:
  --config FILE   node config JSON file
  --help          print this text
`;

type RoleModule = { runNode(config: NodeProcessConfig): Promise<void> };

const ROLE_MODULES = {
  master: './master/main.js',
  traffic: './traffic/main.js',
} as const;

/**
 * `atlas-sim node --config FILE`: runs the master or traffic node the file
 * describes until it is stopped. `atlas-sim node leave ...` is the admin
 * command that removes a traffic node from its cluster.
 */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'leave') {
    const leave = (await import(new URL('./cli/node-leave-command.js', import.meta.url).href)) as { main(argv: string[]): Promise<number> };
    return leave.main(argv.slice(1));
  }
  let values;
  try {
    ({ values } = parseCommandLine({ args: argv, strict: true, allowPositionals: false, options: { config: { type: 'string' }, help: { type: 'boolean' } } }));
  } catch (error) {
    console.error(`atlas-sim node: ${errorMessage(error)}; run \`atlas-sim node --help\` for the options`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(NODE_USAGE);
    return 0;
  }
  const file = values.config;
  if (file === undefined) {
    console.error(`atlas-sim node: --config FILE is missing\n\n${NODE_USAGE}`);
    return 2;
  }
  const config = await loadNodeConfig(file);
  const module = (await import(new URL(ROLE_MODULES[config.role], import.meta.url).href)) as RoleModule;
  await module.runNode(config);
  return 0;
}
