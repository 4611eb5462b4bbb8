import { open } from 'node:fs/promises';
import { formatLogLine, isProblemLine } from './log-summary.js';

/** How often followed log files are checked for new lines. */
export const DEFAULT_FOLLOW_INTERVAL_MS = 500;

interface FollowedFile {
  name: string;
  file: string;
  offset: number;
  /** Bytes after the last newline, kept until the line is complete. */
  partial: string;
}

/**
 * Reads new lines appended to several processes' log files and passes the
 * warn-or-worse ones, in short form, to `onLine`. Polls instead of using
 * fs.watch, which misses appends on some filesystems.
 */
export class LogFollower {
  private readonly files: FollowedFile[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly onLine: (line: string) => void) {}

  /** Follows `file` from its current end, so lines written before now are not repeated. */
  async add(name: string, file: string): Promise<void> {
    let offset = 0;
    try {
      const handle = await open(file, 'r');
      offset = (await handle.stat()).size;
      await handle.close();
    } catch {
      // The file does not exist yet: follow it from its start.
    }
    this.files.push({ name, file, offset, partial: '' });
  }

  start(intervalMs = DEFAULT_FOLLOW_INTERVAL_MS): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Stops polling after one last read, so lines written during shutdown still show. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.poll();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const followed of this.files) await this.readNew(followed);
    } finally {
      this.polling = false;
    }
  }

  private async readNew(followed: FollowedFile): Promise<void> {
    let handle;
    try {
      handle = await open(followed.file, 'r');
    } catch {
      return;
    }
    try {
      const { size } = await handle.stat();
      if (size < followed.offset) followed.offset = 0;
      if (size === followed.offset) return;
      const buffer = Buffer.alloc(size - followed.offset);
      await handle.read(buffer, 0, buffer.length, followed.offset);
      followed.offset = size;

      const lines = (followed.partial + buffer.toString('utf8')).split('\n');
      followed.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() !== '' && isProblemLine(line)) this.onLine(formatLogLine(line, followed.name));
      }
    } finally {
      await handle.close();
    }
  }
}
