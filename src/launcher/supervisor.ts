import { createHash } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../storage/atomic-file.js';
import { errorMessage } from '../util/errors.js';
import type { Cluster } from './cluster.js';
import { collectClusterStatus } from './cluster-status.js';

/** File in the run folder that names the process supervising the cluster. */
export const SUPERVISOR_FILE = 'supervisor.json';
/** Longest Unix socket path that fits sockaddr_un on Linux (108 bytes with the terminating NUL), with room to spare. */
const MAX_SOCKET_PATH_BYTES = 100;
/** Largest request line the control socket reads. */
const MAX_REQUEST_BYTES = 4096;

/** Contents of supervisor.json. */
export interface SupervisorRecord {
  /** PID of the launcher process that started the cluster and supervises it. */
  pid: number;
  state: 'running' | 'stopping' | 'stopped';
  /** True when the launcher runs in the background (`atlas-sim up --detach`). */
  detached: boolean;
  startedAt: string;
  stoppedAt?: string;
  /** Unix socket on which the supervisor serves `status` and `stop`. */
  controlSocket: string;
  /** Lock file of the cluster's loopback /24, removed when the cluster stops. */
  addressBlockLockFile?: string;
}

/** A request on the control socket: one JSON line. */
export interface SupervisorRequest {
  command: 'status' | 'stop';
}

/** Returns the control socket path for a run folder: inside it when the path is short enough, else under the temp folder. */
export function controlSocketPath(runDir: string): string {
  const inside = join(runDir, 'supervisor.sock');
  if (Buffer.byteLength(inside) <= MAX_SOCKET_PATH_BYTES) return inside;
  return join(tmpdir(), `atlas-sim-${createHash('sha256').update(runDir).digest('hex').slice(0, 16)}.sock`);
}

/** Reads supervisor.json, or returns undefined when the run folder has none. */
export async function readSupervisorRecord(runDir: string): Promise<SupervisorRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(runDir, SUPERVISOR_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const record = JSON.parse(text) as Partial<SupervisorRecord>;
  if (typeof record.pid !== 'number' || typeof record.controlSocket !== 'string') {
    throw new Error(`${join(runDir, SUPERVISOR_FILE)} lacks pid or controlSocket; it was not written by this version of atlas-sim`);
  }
  return record as SupervisorRecord;
}

/**
 * The launcher process's side of a running cluster: writes supervisor.json,
 * serves `status` and `stop` on a Unix socket, and stops the cluster once.
 * `atlas-sim status` and `atlas-sim down` talk to it, whether the cluster
 * runs in the foreground or in the background.
 */
export class Supervisor {
  private readonly server: Server;
  private readonly record: SupervisorRecord;
  private stopping: Promise<void> | undefined;
  private stopRequested: (reason: string) => void = () => undefined;
  /** Resolves with the reason when `atlas-sim down` requests a stop. */
  readonly stopRequest: Promise<string>;

  private constructor(private readonly cluster: Cluster, detached: boolean) {
    this.record = {
      pid: process.pid,
      state: 'running',
      detached,
      startedAt: new Date().toISOString(),
      controlSocket: controlSocketPath(cluster.runDir),
      addressBlockLockFile: cluster.addressBlockLockFile,
    };
    this.stopRequest = new Promise((resolve) => {
      this.stopRequested = resolve;
    });
    this.server = createServer((socket) => this.serve(socket));
  }

  /** Opens the control socket and writes supervisor.json. */
  static async start(cluster: Cluster, options: { detached: boolean }): Promise<Supervisor> {
    const supervisor = new Supervisor(cluster, options.detached);
    await unlink(supervisor.record.controlSocket).catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      supervisor.server.once('error', reject);
      supervisor.server.listen(supervisor.record.controlSocket, () => {
        supervisor.server.off('error', reject);
        resolve();
      });
    });
    await supervisor.writeRecord();
    cluster.logger.info({ controlSocket: supervisor.record.controlSocket, detached: options.detached }, 'supervisor listening');
    return supervisor;
  }

  /** Stops every process of the cluster, closes the socket and marks supervisor.json stopped. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    this.record.state = 'stopping';
    await this.writeRecord();
    await this.cluster.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await unlink(this.record.controlSocket).catch(() => undefined);
    this.record.state = 'stopped';
    this.record.stoppedAt = new Date().toISOString();
    await this.writeRecord();
  }

  private async writeRecord(): Promise<void> {
    await writeFileAtomic(join(this.cluster.runDir, SUPERVISOR_FILE), `${JSON.stringify(this.record, null, 2)}\n`, 0o644);
  }

  /** Reads one JSON request line, writes one JSON reply line and closes the connection. */
  private serve(socket: Socket): void {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', (error) => this.cluster.logger.debug({ err: errorMessage(error) }, 'control socket connection failed'));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0 && buffered.length <= MAX_REQUEST_BYTES) return;
      socket.removeAllListeners('data');
      void this.reply(socket, newline < 0 ? buffered : buffered.slice(0, newline));
    });
  }

  private async reply(socket: Socket, line: string): Promise<void> {
    let answer: unknown;
    try {
      const request = JSON.parse(line) as Partial<SupervisorRequest>;
      if (request.command === 'status') {
        answer = { ok: true, result: await collectClusterStatus(this.cluster, this.record) };
      } else if (request.command === 'stop') {
        this.cluster.logger.info('stop requested on the control socket');
        answer = { ok: true, result: { stopping: true } };
        this.stopRequested('stop requested by atlas-sim down');
      } else {
        answer = { ok: false, error: `command ${JSON.stringify(request.command)} is unknown; expected status or stop` };
      }
    } catch (error) {
      this.cluster.logger.warn({ err: errorMessage(error) }, 'control socket request failed');
      answer = { ok: false, error: errorMessage(error) };
    }
    socket.end(`${JSON.stringify(answer)}\n`);
  }
}
