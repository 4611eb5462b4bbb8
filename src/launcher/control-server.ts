/**
 * The launcher's control socket: a Unix domain socket through which
 * `atlas-sim chaos` reaches a running cluster. A client sends one JSON line
 * `{ "command": ..., "args": {...} }` and receives one JSON line
 * `{ "ok": true, "result": ... }` or `{ "ok": false, "error": "..." }`.
 *
 * NOTE: a cluster started by `atlas-sim up` also serves `status` and `stop`
 * on supervisor.sock (supervisor.ts). Every cluster has this socket, tests
 * and experiments included; the two could be merged into one.
 */
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Logger } from '../logging/logger.js';
import type { LinkFault, ValidLinkFault } from '../netfault/link-fault.js';
import { errorMessage } from '../util/errors.js';
import { PROCESS_FAULTS, parseProcessFault, type ProcessFault } from './process-faults.js';

/** Name of the socket file in the run folder. */
export const CONTROL_SOCKET_NAME = 'control.sock';
/** Longest socket path used in the run folder; Linux allows 107 bytes, and a longer path goes to the temporary folder. */
const MAX_SOCKET_PATH_BYTES = 100;
/** Largest request line accepted, in bytes. */
const MAX_REQUEST_BYTES = 64 * 1024;

/** What the control socket can do to a cluster. */
export interface ControlTarget {
  processFault(name: string, fault: ProcessFault): Promise<void>;
  readonly faults: {
    link(fault: LinkFault): Promise<ValidLinkFault>;
    heal(id?: string): Promise<number>;
    list(): ValidLinkFault[];
  };
}

/** Commands of the control socket besides the process faults. */
export const CONTROL_COMMANDS = [...PROCESS_FAULTS, 'link', 'heal', 'faults'] as const;

/** Returns the socket path for a run folder: inside it when short enough, else in the temporary folder. */
export function controlSocketPath(runDir: string): string {
  const inRunDir = join(runDir, CONTROL_SOCKET_NAME);
  if (Buffer.byteLength(inRunDir) <= MAX_SOCKET_PATH_BYTES) return inRunDir;
  return join(tmpdir(), `atlas-sim-${randomBytes(6).toString('hex')}.sock`);
}

/** Listens on the control socket until close(). */
export class ControlServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly deps: { logger: Logger; target: ControlTarget }, readonly path: string) {
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    await unlink(this.path).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.path, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (error) => this.deps.logger.error({ err: errorMessage(error), path: this.path }, 'control socket error'));
    this.deps.logger.info({ path: this.path }, 'control socket listening');
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.path).catch(() => undefined);
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) {
        if (buffered.length > MAX_REQUEST_BYTES) this.reply(socket, { ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` });
        return;
      }
      socket.removeAllListeners('data');
      void this.handle(buffered.slice(0, newline)).then((response) => this.reply(socket, response));
    });
  }

  private async handle(line: string): Promise<{ ok: true; result: unknown } | { ok: false; error: string }> {
    let command = '';
    try {
      const request = JSON.parse(line) as { command?: unknown; args?: Record<string, unknown> };
      command = typeof request.command === 'string' ? request.command : '';
      const args = request.args ?? {};
      this.deps.logger.info({ command, args }, 'control request');
      return { ok: true, result: await this.run(command, args) };
    } catch (error) {
      this.deps.logger.warn({ command, err: errorMessage(error) }, 'control request failed');
      return { ok: false, error: errorMessage(error) };
    }
  }

  private async run(command: string, args: Record<string, unknown>): Promise<unknown> {
    const { target } = this.deps;
    if ((PROCESS_FAULTS as readonly string[]).includes(command)) {
      if (typeof args.process !== 'string') throw new Error(`${command} needs args.process, the name of a cluster process`);
      await target.processFault(args.process, parseProcessFault(command));
      return { process: args.process, fault: command };
    }
    switch (command) {
      case 'link':
        return target.faults.link(args.fault as LinkFault);
      case 'heal':
        return { healed: await target.faults.heal(typeof args.id === 'string' ? args.id : undefined) };
      case 'faults':
        return target.faults.list();
      default:
        throw new Error(`unknown command ${JSON.stringify(command)}; expected one of ${CONTROL_COMMANDS.join(', ')}`);
    }
  }

  private reply(socket: Socket, response: unknown): void {
    socket.end(`${JSON.stringify(response)}\n`);
  }
}
