#!/usr/bin/env node
// Entry point of the `atlas-sim` command. Each subcommand lives in its own
// module, loaded only when used, so that starting one cluster process does not
// load the code of every other role.

interface CommandEntry {
  module: string;
  summary: string;
}

/** Every subcommand's module exports `main(argv: string[]): Promise<number>` (the exit code). */
const COMMANDS: Record<string, CommandEntry> = {
  demo: { module: './cli/demo-command.js', summary: 'start the default cluster, run a cross-region session, print where everything went' },
  up: { module: './cli/up-command.js', summary: 'start a cluster in the foreground, or in the background with --detach' },
  status: { module: './cli/status-command.js', summary: 'show each process of a running cluster: role, address, PID, state, configuration version' },
  down: { module: './cli/down-command.js', summary: 'stop a cluster started with up, leaving nothing running' },
  route: { module: './cli/route-command.js', summary: 'explain which traffic node the rules pick for a client address and UTC offset, and why' },
  clients: { module: './cli/clients-command.js', summary: 'list the clients connected to each appliance, through the command API' },
  cluster: { module: './cli/cluster-command.js', summary: "administer a running cluster through the master's admin API: nodes, method, sync, history, disband" },
  security: { module: './cli/security-command.js', summary: "show or set each appliance's inter-appliance pre-shared key" },
  chaos: { module: './cli/chaos-command.js', summary: 'kill, stop, pause, resume or restart a process, or fault a link, in a running cluster' },
  experiment: { module: './cli/experiment-command.js', summary: 'break a cluster on purpose and print the timeline, detection and recovery times' },
  node: { module: './node-main.js', summary: 'run one appliance process from a node config file; `node leave` removes a node from its cluster' },
  client: { module: './client/main.js', summary: 'run one customer or representative client process' },
  dns: { module: './dns/main.js', summary: 'run the cluster DNS server' },
  stun: { module: './stun/main.js', summary: 'run a public STUN server' },
  anycast: { module: './anycast/main.js', summary: 'run the anycast router that forwards each TCP connection to the traffic node nearest the client' },
  netfault: { module: './netfault/main.js', summary: 'run the fault layer of a cluster (forked by the launcher)' },
  watchdog: { module: './launcher/watchdog-main.js', summary: 'stop a cluster whose launcher died (forked by the launcher)' },
};

type CommandModule = { main(argv: string[]): Promise<number> };

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`);
  return ['usage: atlas-sim <command> [options]', '', 'commands:', ...lines, '', 'Run `atlas-sim <command> --help` for the options of one command.'].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    console.error(`atlas-sim: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const module = (await import(new URL(entry.module, import.meta.url).href)) as CommandModule;
  return module.main(rest);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`atlas-sim: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
