// Every command of the atlas-sim CLI takes --help: it prints its usage on
// stdout and exits 0, with no cluster and no arguments besides --help.
import { execFile } from 'node:child_process';
import t from 'tap';
import { CLI } from './fixtures/master-harness.js';

const COMMANDS = [
  ['demo'],
  ['up'],
  ['status'],
  ['down'],
  ['route'],
  ['clients'],
  ['cluster'],
  ['security'],
  ['chaos'],
  ['experiment'],
  ['node'],
  ['node', 'leave'],
  ['client'],
  ['dns'],
  ['stun'],
  ['anycast'],
  ['netfault'],
  ['watchdog'],
];

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

void t.test('every command takes --help', async (t) => {
  const results = await Promise.all(COMMANDS.map(async (command) => ({ command: command.join(' '), result: await runCli([...command, '--help']) })));
  for (const { command, result } of results) {
    t.equal(result.code, 0, `${command} --help exits 0: ${result.stderr}`);
    t.match(result.stdout, new RegExp(`^usage: atlas-sim ${command} `), `${command} --help prints its usage on stdout`);
  }
});

void t.test('node rejects an unknown option', async (t) => {
  const result = await runCli(['node', '--confg', 'x.json']);
  t.equal(result.code, 2);
  t.match(result.stderr, /^atlas-sim node: Unknown option '--confg'/);
});
