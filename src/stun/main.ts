import { parseCommandLine } from '../util/argv.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { DEFAULT_STUN_PORT } from '../stun-protocol/constants.js';
import { isLoopbackAddress, parseIpAddress } from '../stun-protocol/ip-address.js';
import { StunServer } from '../stun-protocol/server.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { isSupervised, sendToParent, type ChildMessage } from '../util/ipc.js';

/** Process name bound as `node` on every log line unless --name sets another. */
export const DEFAULT_STUN_PROCESS_NAME = 'stun';

export const STUN_USAGE = `usage: atlas-sim stun --address IP [--port N] [--log-file FILE] [--name NAME]

Runs a public STUN server (RFC 5389 Binding over UDP) until SIGINT or SIGTERM.

options:
  --address IP      loopback address to listen on: 127.0.0.0/8 or ::1 (required)
  --port N          UDP port, 0-65535; 0 picks a free port (default ${DEFAULT_STUN_PORT})
  --log-file FILE   append JSON log lines to FILE instead of stdout
  --name NAME       process name on every log line (default ${DEFAULT_STUN_PROCESS_NAME})
  --help            print this text`;

/** Validated command-line settings of the STUN process. */
export interface StunProcessArgs {
  address: string;
  port: number;
  logFile?: string;
  name: string;
  help: boolean;
}

/** Parses and validates the flags after `atlas-sim stun`. Throws ConfigError naming the flag, the value and what is expected. */
export function parseStunArgs(argv: string[]): StunProcessArgs {
  let values: { address?: string; port?: string; 'log-file'?: string; name?: string; help?: boolean };
  try {
    ({ values } = parseCommandLine({
      args: argv,
      options: {
        address: { type: 'string' },
        port: { type: 'string' },
        'log-file': { type: 'string' },
        name: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}; run atlas-sim stun --help for the options`);
  }
  if (values.help === true) {
    return { address: '', port: DEFAULT_STUN_PORT, name: DEFAULT_STUN_PROCESS_NAME, help: true };
  }

  const address = values.address;
  if (address === undefined) {
    throw new ConfigError('missing --address; pass the loopback IP address to listen on, in 127.0.0.0/8 or ::1');
  }
  if (parseIpAddress(address) === undefined) {
    throw new ConfigError(`--address "${address}" is not an IP address; pass an address in 127.0.0.0/8 or ::1`);
  }
  if (!isLoopbackAddress(address)) {
    throw new ConfigError(`--address ${address} is not a loopback address; atlas-sim listens only on 127.0.0.0/8 or ::1`);
  }

  let port = DEFAULT_STUN_PORT;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 0xffff) {
      throw new ConfigError(`--port "${values.port}" is invalid; pass an integer 0-65535 (0 picks a free port)`);
    }
  }

  const name = values.name ?? DEFAULT_STUN_PROCESS_NAME;
  if (name.trim() === '') {
    throw new ConfigError('--name is empty; pass a process name such as "stun"');
  }
  if (values['log-file'] === '') {
    throw new ConfigError('--log-file is empty; pass a file path or leave the flag out to log to stdout');
  }
  return { address, port, logFile: values['log-file'], name, help: false };
}

/**
 * Entry of `atlas-sim stun`. `argv` contains the flags after the command name. Resolves with the
 * exit code: 0 after a clean stop, 1 when the server cannot start, 2 for invalid flags.
 */
export async function main(argv: string[]): Promise<number> {
  let args: StunProcessArgs;
  try {
    args = parseStunArgs(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`atlas-sim stun: ${error.message}\n\n${STUN_USAGE}\n`);
      return 2;
    }
    throw error;
  }
  if (args.help) {
    process.stdout.write(`${STUN_USAGE}\n`);
    return 0;
  }

  const logger = createLogger({ name: args.name, file: args.logFile });
  logger.info({ address: args.address, port: args.port }, 'STUN process starting');
  const server = new StunServer({ logger }, { address: args.address, port: args.port });
  let bound: { address: string; port: number };
  try {
    bound = await server.listen();
  } catch (error) {
    process.stderr.write(`atlas-sim stun: failed to listen on UDP ${args.address}:${args.port}: ${errorMessage(error)}\n`);
    return 1;
  }

  // The launcher reads address, port and pid; info repeats them in the shape other roles report.
  const ready = { type: 'ready', role: 'stun', name: args.name, pid: process.pid, address: bound.address, port: bound.port, info: { ...bound } } as const;
  sendToParent(ready satisfies ChildMessage);

  const reason = await waitForStopRequest(logger);
  logger.info({ reason }, 'STUN process stopping');
  await server.close();
  logger.info({ reason, counters: server.counters }, 'STUN process stopped');
  if (isSupervised() && process.connected) {
    // An open IPC channel keeps the event loop alive, so release it to let the process exit.
    process.disconnect();
  }
  return 0;
}

/** Resolves with the reason on SIGINT, SIGTERM or, when a parent forked this process, loss of the IPC channel. */
async function waitForStopRequest(logger: Logger): Promise<string> {
  return new Promise<string>((resolve) => {
    const stop = (reason: string): void => {
      process.off('SIGINT', onInterrupt);
      process.off('SIGTERM', onTerminate);
      process.off('disconnect', onDisconnect);
      resolve(reason);
    };
    const onInterrupt = (): void => stop('SIGINT');
    const onTerminate = (): void => stop('SIGTERM');
    const onDisconnect = (): void => {
      logger.warn('parent process closed the IPC channel');
      stop('parent process gone');
    };
    process.once('SIGINT', onInterrupt);
    process.once('SIGTERM', onTerminate);
    if (isSupervised()) {
      if (!process.connected) {
        stop('parent process gone');
        return;
      }
      process.once('disconnect', onDisconnect);
    }
  });
}
