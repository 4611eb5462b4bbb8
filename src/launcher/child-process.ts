import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import type { ProcessRole } from '../config/cluster-info.js';
import type { Logger } from '../logging/logger.js';
import type { ChildMessage, ParentMessage } from '../util/ipc.js';
import { readLogTail } from './log-summary.js';

/** Time a process gets from fork to its `ready` message; generous for a loaded 2-core machine. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** Time a request over IPC may take unless the caller gives another. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Lines of the log file quoted when a process fails to start. */
const LOG_TAIL_LINES = 15;

export interface ChildSpec {
  name: string;
  role: ProcessRole;
  /** Compiled CLI entry (dist/cli.js). */
  cliPath: string;
  /** Subcommand and its options, such as ['node', '--config', file]. */
  args: string[];
  /** File that receives the process's stdout and stderr (its pino logger appends to the same file). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

/** A timeline event a process reported over IPC. */
export interface ChildEvent {
  name: string;
  event: string;
  atMs: number;
  data?: Record<string, unknown>;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface PendingRequest {
  command: string;
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One process the launcher forked: IPC requests, signals, and its exit.
 * Emits 'event' for every timeline event and 'exit' once.
 */
export class ChildHandle extends EventEmitter<{ event: [ChildEvent]; exit: [ChildExit] }> {
  readonly name: string;
  readonly role: ProcessRole;
  readonly pid: number;
  readonly logFile: string;
  /** The `info` of the process's ready message (addresses, ports it reports). */
  readyInfo: Record<string, unknown> = {};
  /** Exit status once the process has exited; null while it runs. */
  exitStatus: ChildExit | null = null;

  private readonly child: ChildProcess;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly exited: Promise<ChildExit>;
  private nextRequestId = 1;

  constructor(spec: ChildSpec, child: ChildProcess) {
    super();
    if (child.pid === undefined) throw new Error(`${spec.name}: fork of ${spec.cliPath} returned no PID`);
    this.name = spec.name;
    this.role = spec.role;
    this.pid = child.pid;
    this.logFile = spec.logFile;
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.rejectPending(`${this.name} exited (${describeExit(this.exitStatus)})`);
        this.emit('exit', this.exitStatus);
        resolve(this.exitStatus);
      });
    });
    child.on('message', (message: ChildMessage) => this.handleMessage(message));
    // An IPC write to a process that just died fails with EPIPE; the exit handler reports it.
    child.on('error', () => undefined);
  }

  get running(): boolean {
    return this.exitStatus === null;
  }

  /** Sends a request over IPC and resolves with the result, or rejects with the process's error or a timeout. */
  request(command: string, args: Record<string, unknown> = {}, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<unknown> {
    if (!this.running || !this.child.connected) {
      return Promise.reject(new Error(`${this.name}: cannot send request "${command}" because the process is not running`));
    }
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error(`${this.name}: request "${command}" timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(requestId, { command, resolve, reject, timer });
      const message: ParentMessage = { type: 'request', requestId, command, args };
      this.child.send(message, (error) => {
        if (error === null) return;
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(new Error(`${this.name}: request "${command}" could not be sent: ${error.message}`));
      });
    });
  }

  /** Sends a signal; does nothing when the process has already exited. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  /** Resolves with the exit status, or with null after `timeoutMs` if the process still runs. */
  async waitForExit(timeoutMs?: number): Promise<ChildExit | null> {
    if (timeoutMs === undefined) return this.exited;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once the process sends `ready`; rejects with the tail of its log if it exits or times out first. */
  waitForReady(timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const fail = (problem: string): void => {
        cleanup();
        void readLogTail(this.logFile, LOG_TAIL_LINES).then((tail) => {
          const tailText = tail.length === 0 ? '(the log file is empty)' : tail.join('\n');
          reject(new Error(`${this.name} (${this.role}, pid ${this.pid}) ${problem}; last lines of ${this.logFile}:\n${tailText}`));
        });
      };
      const onMessage = (message: ChildMessage): void => {
        if (message?.type !== 'ready') return;
        cleanup();
        this.readyInfo = message.info ?? {};
        resolve(this.readyInfo);
      };
      const onExit = (status: ChildExit): void => fail(`exited (${describeExit(status)}) before it was ready`);
      const timer = setTimeout(() => fail(`was not ready within ${timeoutMs} ms`), timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.off('exit', onExit);
      };
      this.child.on('message', onMessage);
      this.once('exit', onExit);
      if (this.exitStatus !== null) onExit(this.exitStatus);
    });
  }

  private handleMessage(message: ChildMessage): void {
    if (message?.type === 'event') {
      this.emit('event', { name: message.name, event: message.event, atMs: message.atMs, data: message.data });
      return;
    }
    if (message?.type !== 'reply') return;
    const pending = this.pending.get(message.requestId);
    if (pending === undefined) return;
    this.pending.delete(message.requestId);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new Error(`${this.name}: request "${pending.command}" failed: ${message.error}`));
  }

  private rejectPending(reason: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`${reason} before it replied to request "${pending.command}"`));
      this.pending.delete(id);
    }
  }
}

/** Describes an exit status, such as "code 1" or "signal SIGKILL". */
export function describeExit(status: ChildExit): string {
  return status.signal === null ? `code ${String(status.code)}` : `signal ${status.signal}`;
}

/**
 * Forks `node <cliPath> <args>` with an IPC channel, its stdout and stderr
 * appended to the log file, and returns its handle without waiting for ready.
 */
export function forkChild(spec: ChildSpec): ChildHandle {
  const output = openSync(spec.logFile, 'a');
  try {
    const child = fork(spec.cliPath, spec.args, {
      stdio: ['ignore', output, output, 'ipc'],
      // The launcher may itself run under a TypeScript loader (tests); children run compiled JavaScript.
      execArgv: [],
      env: spec.env ?? process.env,
      serialization: 'json',
    });
    return new ChildHandle(spec, child);
  } finally {
    closeSync(output);
  }
}

/** Forks a process and waits for its `ready`; kills it and rethrows when it does not get there. */
export async function startChild(spec: ChildSpec): Promise<ChildHandle> {
  const handle = forkChild(spec);
  try {
    await handle.waitForReady(spec.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  } catch (error) {
    handle.kill('SIGKILL');
    await handle.waitForExit();
    throw error;
  }
  return handle;
}

/** Sends SIGTERM to every running process at once, then SIGKILL to those still running after `graceMs`. */
export async function stopChildren(handles: ChildHandle[], graceMs: number, logger: Logger): Promise<void> {
  const running = handles.filter((handle) => handle.running);
  for (const handle of running) handle.kill('SIGTERM');
  await Promise.all(
    running.map(async (handle) => {
      if ((await handle.waitForExit(graceMs)) !== null) return;
      logger.warn({ process: handle.name, childPid: handle.pid, graceMs }, 'process ignored SIGTERM; sending SIGKILL');
      handle.kill('SIGKILL');
      await handle.waitForExit();
    }),
  );
}
