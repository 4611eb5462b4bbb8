/** Capped exponential backoff with jitter, for reconnecting to the master or a traffic node. */
export interface BackoffOptions {
  /** Delay before the first retry, in ms (before jitter). */
  initialDelayMs: number;
  /** Upper bound of any delay, in ms. */
  maxDelayMs: number;
  /** Fraction of the delay that is randomised: 0.5 draws from [delay/2, delay]. */
  jitter: number;
}

export const DEFAULT_RECONNECT_BACKOFF: BackoffOptions = { initialDelayMs: 250, maxDelayMs: 5000, jitter: 0.5 };

/**
 * Returns the delay before retry number `attempt` (1 for the first retry).
 * The initial delay doubles per attempt up to the cap. A random share of up
 * to `jitter` is then taken off, so clients that lost the same server do not
 * all return at the same moment.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const capped = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent);
  return Math.round(capped * (1 - options.jitter * random()));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
