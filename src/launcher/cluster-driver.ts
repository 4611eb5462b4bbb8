import type { ChildEvent } from './child-process.js';

/** Pause between two evaluations of a condition in waitFor(). */
export const DEFAULT_POLL_INTERVAL_MS = 100;
/** Deadline of waitFor(), waitForEvent() and startSession() unless the caller gives one. */
export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;

/** Part of a cluster the driver uses: IPC requests and the timeline. */
export interface DrivenCluster {
  request(name: string, command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<unknown>;
  readonly events: readonly ChildEvent[];
  on(event: 'event', listener: (event: ChildEvent) => void): unknown;
  off(event: 'event', listener: (event: ChildEvent) => void): unknown;
}

export interface WaitOptions {
  /** Deadline in milliseconds (default 30 s). */
  timeoutMs?: number;
  /** Pause between two checks in milliseconds (default 100). */
  intervalMs?: number;
  /** Awaited condition as the timeout message names it, such as "us-traffic1 offline". */
  description?: string;
}

/**
 * Calls `check` until it returns a value other than undefined, null or
 * false, and resolves with that value. An error thrown by `check` counts as
 * "not yet" and is quoted in the timeout error if the deadline passes.
 */
export async function waitFor<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const result = await check();
      if (result !== undefined && result !== null && result !== false) return result;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) {
      const detail = lastError === '' ? '' : `; last check failed: ${lastError}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.description ?? 'the condition'}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(1, deadline - Date.now()))));
  }
}

/** A timeline event to wait for: its process, its name, and optionally a test on its data. */
export interface EventMatch {
  /** Process that reported the event (`launcher` for the launcher's own events); any when absent. */
  process?: string;
  event: string;
  where?: (data: Record<string, unknown>) => boolean;
}

/**
 * Resolves with the first timeline event that matches, looking first at
 * events already recorded at or after `sinceMs` (default: only new events),
 * then at new ones until the deadline.
 */
export function waitForEvent(cluster: DrivenCluster, match: EventMatch, options: { timeoutMs?: number; sinceMs?: number } = {}): Promise<ChildEvent> {
  const matches = (event: ChildEvent): boolean =>
    event.event === match.event && (match.process === undefined || event.name === match.process) && (match.where === undefined || match.where(event.data ?? {}));
  const sinceMs = options.sinceMs ?? Date.now();
  const earlier = cluster.events.find((event) => event.atMs >= sinceMs && matches(event));
  if (earlier !== undefined) return Promise.resolve(earlier);

  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const listener = (event: ChildEvent): void => {
      if (!matches(event)) return;
      clearTimeout(timer);
      cluster.off('event', listener);
      resolve(event);
    };
    const timer = setTimeout(() => {
      cluster.off('event', listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event ${match.event}${match.process === undefined ? '' : ` from ${match.process}`}`));
    }, timeoutMs);
    cluster.on('event', listener);
  });
}

export interface StartSessionOptions {
  /** Name of a customer client process. */
  customer: string;
  /** Name of a representative client process. */
  representative: string;
  /** Issue text of the support request (default "support requested"). */
  issue?: string;
  /** Deadline for the whole start in milliseconds (default 30 s). */
  timeoutMs?: number;
}

/** A session started through the driver. */
export interface StartedSession {
  sessionId: string;
  customer: string;
  representative: string;
}

interface ClientStatusReply {
  clientId?: string;
  sessionId?: string;
}

/**
 * Starts a support session the way people do: the customer requests
 * support, the representative finds it in the queue and accepts it. Resolves
 * once both clients report the new session.
 */
export async function startSession(cluster: DrivenCluster, options: StartSessionOptions): Promise<StartedSession> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const remaining = (): number => Math.max(1000, deadline - Date.now());
  const customerStatus = (await cluster.request(options.customer, 'status')) as ClientStatusReply;
  const customerClientId = customerStatus.clientId ?? '';
  await cluster.request(options.customer, 'request-support', { issue: options.issue ?? 'support requested' });

  await waitFor(async () => {
    const queue = (await cluster.request(options.representative, 'queue')) as { entries?: { clientId?: string }[] };
    return queue.entries?.some((entry) => entry.clientId === customerClientId) === true;
  }, { timeoutMs: remaining(), description: `${options.customer} in the queue of ${options.representative}` });

  const accepted = (await cluster.request(options.representative, 'accept', { customerClientId, timeoutMs: remaining() }, remaining() + 1000)) as { sessionId: string };
  await waitFor(async () => ((await cluster.request(options.customer, 'status')) as ClientStatusReply).sessionId === accepted.sessionId, {
    timeoutMs: remaining(),
    description: `${options.customer} in session ${accepted.sessionId}`,
  });
  return { sessionId: accepted.sessionId, customer: options.customer, representative: options.representative };
}

/** One stream as a client's `stats` reply lists it. */
export interface StreamStats {
  stream: string;
  direction: 'publish' | 'subscribe';
  node: string;
  framesSent: number | null;
  received: number;
  verified: number;
  lost: number;
  reordered: number;
  duplicated: number;
  corrupted: number;
  done: boolean;
  /** Milliseconds from the session start to the first verified frame; null before one arrived. */
  firstFrameMs: number | null;
  /** Largest and mean sent-to-verified time of a frame in ms; null before one arrived. */
  maxLatencyMs: number | null;
  meanLatencyMs: number | null;
}

/** Streams of the client's current (or last) session. */
export async function streamStats(cluster: DrivenCluster, client: string): Promise<StreamStats[]> {
  const stats = (await cluster.request(client, 'stats')) as { streams?: StreamStats[] };
  return stats.streams ?? [];
}

/** Waits until every stream the client subscribes to has at least `minFrames` verified frames. */
export async function waitForFrames(cluster: DrivenCluster, client: string, options: { minFrames?: number; timeoutMs?: number } = {}): Promise<StreamStats[]> {
  const minFrames = options.minFrames ?? 1;
  return waitFor(async () => {
    const subscribed = (await streamStats(cluster, client)).filter((stream) => stream.direction === 'subscribe');
    return subscribed.length > 0 && subscribed.every((stream) => stream.verified >= minFrames) ? subscribed : undefined;
  }, { timeoutMs: options.timeoutMs, description: `${minFrames} verified frames on every stream ${client} receives` });
}
