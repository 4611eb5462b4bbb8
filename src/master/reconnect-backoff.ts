/** Delay before the first reconnect attempt, before jitter. */
export const DEFAULT_RECONNECT_INITIAL_DELAY_MS = 250;
/** Largest delay between two reconnect attempts, before jitter. */
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 5000;

export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: DEFAULT_RECONNECT_INITIAL_DELAY_MS,
  maxDelayMs: DEFAULT_RECONNECT_MAX_DELAY_MS,
};

/**
 * Returns the delay before reconnect attempt `attempt` (1 for the first
 * retry). The ceiling doubles from the initial delay up to the maximum. The
 * delay is drawn uniformly from the upper half of the ceiling ("equal
 * jitter"), so links that fail together do not retry in step, and each still
 * waits at least half the ceiling.
 */
export function reconnectDelayMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`reconnect attempt ${attempt} is invalid; expected an integer of at least 1`);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
