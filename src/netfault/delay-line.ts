import { performance } from 'node:perf_hooks';

/**
 * FIFO of items that each wait their own delay without overtaking the item
 * before them: an item is delivered at max(arrival + delay, the previous
 * item's delivery time). One timer serves the whole line.
 */
export class DelayLine<T> {
  private readonly items: { item: T; readyAt: number }[] = [];
  private lastReadyAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deliver: (item: T) => void) {}

  /** Queues an item; with zero delay and nothing waiting it is delivered before push returns. */
  push(item: T, delayMs: number): void {
    const now = performance.now();
    if (delayMs <= 0 && this.items.length === 0 && this.lastReadyAt <= now) {
      this.deliver(item);
      return;
    }
    const readyAt = Math.max(now + delayMs, this.lastReadyAt);
    this.lastReadyAt = readyAt;
    this.items.push({ item, readyAt });
    if (this.timer === undefined) this.release();
  }

  get length(): number {
    return this.items.length;
  }

  /** Drops every waiting item and stops the timer. */
  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.items.length = 0;
  }

  private release(): void {
    this.timer = undefined;
    while (this.items.length > 0) {
      const first = this.items[0] as { item: T; readyAt: number };
      const waitMs = first.readyAt - performance.now();
      if (waitMs > 0) {
        this.timer = setTimeout(() => this.release(), Math.max(1, Math.ceil(waitMs)));
        return;
      }
      this.items.shift();
      this.deliver(first.item);
    }
  }
}
