import type { EventEmitter } from 'node:events';

/**
 * Resolves with the first defined result of `check`, evaluated now and again
 * on every `event` of `emitter`. Rejects when `check` throws, or with the
 * text of `describeTimeout` when `timeoutMs` passes.
 */
export function waitForChange<T>(
  emitter: Pick<EventEmitter, 'on' | 'off'>,
  event: string,
  timeoutMs: number,
  check: () => T | undefined,
  describeTimeout: () => string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const evaluate = (): boolean => {
      try {
        const result = check();
        if (result === undefined) return false;
        resolve(result);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
      return true;
    };
    if (evaluate()) return;

    const onChange = (): void => {
      if (!evaluate()) return;
      clearTimeout(timer);
      emitter.off(event, onChange);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onChange);
      reject(new Error(describeTimeout()));
    }, timeoutMs);
    emitter.on(event, onChange);
  });
}
