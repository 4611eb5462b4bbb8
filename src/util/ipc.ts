import type { Logger } from '../logging/logger.js';
import { errorMessage } from './errors.js';

/**
 * Messages between a launcher and the processes it forks over Node's IPC
 * channel. The channel is the launcher's control plane only (ready reports,
 * commands, statistics); all cluster traffic uses real sockets.
 */
export type ChildMessage =
  | { type: 'ready'; role: string; name: string; pid: number; info: Record<string, unknown> }
  | { type: 'event'; name: string; event: string; atMs: number; data?: Record<string, unknown> }
  | { type: 'reply'; requestId: number; ok: true; result: unknown }
  | { type: 'reply'; requestId: number; ok: false; error: string };

export type ParentMessage = { type: 'request'; requestId: number; command: string; args?: Record<string, unknown> };

export type RequestHandlers = Record<string, (args: Record<string, unknown>) => unknown>;

/** True when a parent forked this process with an IPC channel. */
export function isSupervised(): boolean {
  return typeof process.send === 'function';
}

/** Sends a message to the parent if there is one; drops it otherwise. */
export function sendToParent(message: ChildMessage): void {
  if (process.send === undefined || !process.connected) return;
  process.send(message);
}

/** Reports a timeline event (used by experiments and the demo) to the parent. */
export function reportEvent(name: string, event: string, data?: Record<string, unknown>): void {
  sendToParent({ type: 'event', name, event, atMs: Date.now(), data });
}

/**
 * Serves the parent's requests with the given handlers. A handler that
 * throws produces a reply with `ok: false` and its message, and the process
 * keeps running.
 */
export function serveParentRequests(logger: Logger, handlers: RequestHandlers): void {
  if (!isSupervised()) return;
  process.on('message', (message: ParentMessage) => {
    if (message?.type !== 'request') return;
    void answer(logger, handlers, message);
  });
}

async function answer(logger: Logger, handlers: RequestHandlers, message: ParentMessage): Promise<void> {
  const handler = handlers[message.command];
  if (handler === undefined) {
    sendToParent({ type: 'reply', requestId: message.requestId, ok: false, error: `unknown command "${message.command}"; known: ${Object.keys(handlers).join(', ')}` });
    return;
  }
  try {
    const result: unknown = await handler(message.args ?? {});
    sendToParent({ type: 'reply', requestId: message.requestId, ok: true, result: result ?? null });
  } catch (error) {
    logger.warn({ command: message.command, err: errorMessage(error) }, 'parent request failed');
    sendToParent({ type: 'reply', requestId: message.requestId, ok: false, error: errorMessage(error) });
  }
}

/**
 * Runs `stop` once on SIGINT, SIGTERM or loss of the parent's IPC channel
 * (the parent died), then exits. A second signal exits at once.
 */
export function installShutdown(logger: Logger, stop: (reason: string) => Promise<void>): void {
  let stopping = false;
  const shutdown = (reason: string): void => {
    if (stopping) {
      logger.warn({ reason }, 'second stop request, exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ reason }, 'stopping');
    const force = setTimeout(() => {
      logger.error({ reason }, 'stop took too long, exiting');
      process.exit(1);
    }, 5000);
    force.unref();
    stop(reason).then(
      () => {
        logger.info({ reason }, 'stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ reason, err: errorMessage(error) }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  if (isSupervised()) process.on('disconnect', () => shutdown('parent process gone'));
}
