import { open } from 'node:fs/promises';
import { formatLogLine, isProblemLine } from './log-summary.js';

/** How often followed log files are checked for new lines. */
export const DEFAULT_FOLLOW_INTERVAL_MS = 500;
/** Bytes read from one file per poll; a burst larger than this is read over several polls. */
export const MAX_READ_BYTES_PER_POLL = 4 * 1024 * 1024;
/** A line longer than this without a newline is dropped rather than buffered without bound. */
export const MAX_PARTIAL_LINE_CHARS = 256 * 1024;

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
  private polling: Promise<void> | undefined;

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
    // A poll still running may have read the files before the last lines were written.
    await this.polling;
    await this.poll();
  }

  /** Reads every file once; a poll already running is joined, not repeated. */
  private poll(): Promise<void> {
    this.polling ??= this.readAll().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async readAll(): Promise<void> {
    for (const followed of this.files) {
      // A file that cannot be read now (removed, permissions) is tried again at the next poll.
      await this.readNew(followed).catch(() => undefined);
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
      const buffer = Buffer.alloc(Math.min(size - followed.offset, MAX_READ_BYTES_PER_POLL));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, followed.offset);
      followed.offset += bytesRead;

      const lines = (followed.partial + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
      const partial = lines.pop() ?? '';
      followed.partial = partial.length > MAX_PARTIAL_LINE_CHARS ? '' : partial;
      for (const line of lines) {
        if (line.trim() !== '' && isProblemLine(line)) this.onLine(formatLogLine(line, followed.name));
      }
    } finally {
      await handle.close();
    }
  }
}
