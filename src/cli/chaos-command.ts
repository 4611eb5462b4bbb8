import { connect } from 'node:net';
import { parseCommandLine } from '../util/argv.js';

import { PROCESS_FAULTS } from '../launcher/process-faults.js';
import { findRun, NoRunningClusterError } from '../launcher/run-lookup.js';
import { checkFaultSettings, describeLinkFault, type LinkFault, type ValidLinkFault } from '../netfault/link-fault.js';
import { ConfigError, errorMessage } from '../util/errors.js';

export const CHAOS_USAGE = `usage: atlas-sim chaos kill|stop|pause|resume|restart PROCESS [--run-dir DIR]
       atlas-sim chaos link A B KIND [parameters] [--direction D] [--id ID] [--run-dir DIR]
       atlas-sim chaos heal [ID] [--run-dir DIR]
       atlas-sim chaos faults [--run-dir DIR]

Breaks a running cluster (started by \`atlas-sim up\`, a test or an
experiment) through its launcher's control socket.

process faults (PROCESS is a name from cluster.json, such as us-traffic1):
  kill      SIGKILL: the process dies at once and the kernel closes its sockets
  stop      SIGTERM: the process shuts down cleanly
  pause     SIGSTOP: the process keeps its sockets but runs no code
  resume    SIGCONT after pause
  restart   stop it and start it again with the same config file, identity
            and data folder

link faults between processes A and B (B may be '*' for every other process):
  delay      --delay MS [--jitter MS]   added delay, uniform jitter around it
  bandwidth  --rate BYTES_PER_SECOND    cap (TCP)
  blackhole                             drop every byte and datagram silently
  reset                                 reset open and new TCP connections
  loss       --loss P                   drop each datagram with probability P (UDP, such as DNS)
  --direction both|a-to-b|b-to-a        bytes affected (default both)
  --id ID                               name to heal it by (default fault-N)

heal removes the fault ID, or every fault without one; faults lists them.

options:
  --run-dir DIR   run folder of the cluster (default: the newest running
                  cluster under runs/)
  --json          print the result as JSON
  --help          print this text

Exit status: 0 on success, 1 when no cluster runs or the launcher rejects
the request (such as an unknown process, or a fault that cannot act on the
link), 2 for an invalid command line (such as --loss 1.5).
`;

/** Command-line spelling of each link fault field, so that errors name what a person typed. */
const FLAG_OF_FIELD: Record<string, string> = {
  id: '--id',
  direction: '--direction',
  kind: 'KIND',
  delayMs: '--delay',
  jitterMs: '--jitter',
  bytesPerSecond: '--rate',
  probability: '--loss',
};

interface ChaosRequest {
  command: string;
  args: Record<string, unknown>;
}

/** Parses the command line into one control request; throws ConfigError naming the flag or argument. */
export function parseChaosArgs(argv: string[]): { request: ChaosRequest; runDir?: string; json: boolean } | 'help' {
  let parsed;
  try {
    parsed = parseCommandLine({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        'run-dir': { type: 'string' },
        json: { type: 'boolean' },
        delay: { type: 'string' },
        jitter: { type: 'string' },
        rate: { type: 'string' },
        loss: { type: 'string' },
        direction: { type: 'string' },
        id: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}; run \`atlas-sim chaos --help\` for the usage`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  const [command, ...rest] = positionals;
  const common = { runDir: values['run-dir'], json: values.json === true };

  if (command !== undefined && (PROCESS_FAULTS as readonly string[]).includes(command)) {
    if (rest.length !== 1) throw new ConfigError(`chaos ${command} needs one process name, got ${rest.length === 0 ? 'none' : rest.join(' ')}`);
    return { ...common, request: { command, args: { process: rest[0] } } };
  }
  if (command === 'link') {
    if (rest.length !== 3) throw new ConfigError(`chaos link needs A B KIND, got ${rest.length === 0 ? 'nothing' : rest.join(' ')}`);
    const [a, b, kind] = rest as [string, string, string];
    const fault: Record<string, unknown> = { a, b, kind };
    if (values.direction !== undefined) fault.direction = values.direction;
    if (values.id !== undefined) fault.id = values.id;
    const numbers: [string | undefined, string, string][] = [[values.delay, 'delayMs', '--delay'], [values.jitter, 'jitterMs', '--jitter'], [values.rate, 'bytesPerSecond', '--rate'], [values.loss, 'probability', '--loss']];
    for (const [text, field, flag] of numbers) {
      if (text === undefined) continue;
      const value = Number(text);
      if (text.trim() === '' || !Number.isFinite(value)) throw new ConfigError(`${flag} "${text}" is not a number`);
      fault[field] = value;
    }
    checkFaultSettings(fault, (field) => FLAG_OF_FIELD[field] ?? field);
    return { ...common, request: { command: 'link', args: { fault } } };
  }
  if (command === 'heal') {
    if (rest.length > 1) throw new ConfigError(`chaos heal takes at most one fault id, got ${rest.join(' ')}`);
    return { ...common, request: { command: 'heal', args: rest[0] === undefined ? {} : { id: rest[0] } } };
  }
  if (command === 'faults' && rest.length === 0) return { ...common, request: { command: 'faults', args: {} } };
  throw new ConfigError(`unknown chaos command ${JSON.stringify(positionals.join(' '))}; expected one of ${[...PROCESS_FAULTS, 'link', 'heal', 'faults'].join(', ')}`);
}

/** `atlas-sim chaos ...`: sends one request to a running cluster's launcher and prints the result. */
export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseChaosArgs>;
  let socketPath: string;
  try {
    parsed = parseChaosArgs(argv);
    if (parsed === 'help') {
      process.stdout.write(CHAOS_USAGE);
      return 0;
    }
    socketPath = await findControlSocket(parsed.runDir);
  } catch (error) {
    console.error(`atlas-sim chaos: ${errorMessage(error)}`);
    return error instanceof NoRunningClusterError ? 1 : 2;
  }

  let response: { ok: boolean; result?: unknown; error?: string };
  try {
    response = await sendControlRequest(socketPath, parsed.request);
  } catch (error) {
    console.error(`atlas-sim chaos: cannot reach the launcher at ${socketPath}: ${errorMessage(error)}; is the cluster still running?`);
    return 1;
  }
  if (!response.ok) {
    console.error(`atlas-sim chaos ${parsed.request.command}: ${response.error ?? 'failed without a reason'}`);
    return 1;
  }
  console.log(parsed.json ? JSON.stringify(response.result ?? null, null, 2) : describeResult(parsed.request, response.result));
  return 0;
}

function describeResult(request: ChaosRequest, result: unknown): string {
  switch (request.command) {
    case 'link': {
      const fault = result as ValidLinkFault;
      return `added ${fault.id}: ${describeLinkFault(fault)}`;
    }
    case 'heal':
      return `healed ${(result as { healed: number }).healed} fault(s)`;
    case 'faults': {
      const faults = result as ValidLinkFault[];
      return faults.length === 0 ? 'no link faults' : faults.map((fault) => `${fault.id}: ${describeLinkFault(fault)}`).join('\n');
    }
    default:
      return `${request.command} ${String(request.args.process)}: done`;
  }
}

/** Sends one request line over the control socket and resolves with the reply line, parsed. */
export function sendControlRequest(socketPath: string, request: ChaosRequest | { command: string; args: { fault: LinkFault } }, timeoutMs = 60_000): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let reply = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no reply within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(JSON.parse(reply) as { ok: boolean; result?: unknown; error?: string });
      } catch {
        reject(new Error(`malformed reply ${JSON.stringify(reply.slice(0, 200))}`));
      }
    });
  });
}

/** Returns the control socket of the run folder, or of the newest running cluster under the runs folder. */
async function findControlSocket(runDir: string | undefined): Promise<string> {
  const run = await findRun({ runDir });
  if (run.info.controlSocket === undefined) {
    throw new ConfigError(`${run.paths.clusterInfoFile} names no control socket; the cluster was started with controlSocket: false or is not running`);
  }
  return run.info.controlSocket;
}
