/** Time between two checks of the event loop's progress. */
export const DEFAULT_PAUSE_CHECK_INTERVAL_MS = 250;

/**
 * Notices that this process did not run for a while: stopped with SIGSTOP,
 * frozen by a debugger, or starved by the machine. A timer that fires much
 * later than scheduled means the process missed everything in between,
 * peers may have given up on it, and what it believed may be stale. After a
 * long pause all overdue timers, this one among them, run before any socket
 * data that arrived meanwhile is read.
 */
export class PauseDetector {
  private timer: NodeJS.Timeout | undefined;
  private lastTickMs = 0;

  constructor(
    private readonly onPause: (gapMs: number) => void,
    private readonly options: { thresholdMs: number; intervalMs?: number },
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    const intervalMs = this.options.intervalMs ?? DEFAULT_PAUSE_CHECK_INTERVAL_MS;
    this.lastTickMs = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      const gapMs = now - this.lastTickMs - intervalMs;
      this.lastTickMs = now;
      if (gapMs >= this.options.thresholdMs) this.onPause(Math.round(gapMs));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
