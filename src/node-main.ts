import { loadNodeConfig, type NodeProcessConfig } from './config/node-config.js';

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
  const index = argv.indexOf('--config');
  const file = index >= 0 ? argv[index + 1] : undefined;
  if (argv.includes('--help') || file === undefined) {
    console.error('usage: atlas-sim node --config FILE\n       atlas-sim node leave --node NAME [--run-dir DIR]\n\nRuns one appliance process (role master or traffic) from a node config JSON file, as written by the launcher into the run folder.\n`node leave` removes a traffic node from its cluster by itself; see `atlas-sim node leave --help`.');
    return file === undefined && !argv.includes('--help') ? 2 : 0;
  }
  const config = await loadNodeConfig(file);
  const module = (await import(new URL(ROLE_MODULES[config.role], import.meta.url).href)) as RoleModule;
  await module.runNode(config);
  return 0;
}
