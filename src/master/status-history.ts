import { join } from 'node:path';
import type { Logger } from '../logging/logger.js';
import { ErrorCode } from '../protocol/messages.js';
import { readJsonWithBackup, replaceDamagedFile, writeFileAtomic } from '../storage/atomic-file.js';
import { errorMessage } from '../util/errors.js';

/** File in the data folder that stores the cluster status history. */
export const STATUS_HISTORY_FILE = 'status-history.json';
/** Entries kept; the oldest are dropped first. */
export const MAX_STATUS_HISTORY_ENTRIES = 1000;

/** One row of the cluster status history, as the cluster management page lists it. */
export interface StatusEntry {
  atMs: number;
  /** 0 for success; otherwise the protocol ErrorCode of the failure. */
  code: number;
  message: string;
}

export function validateStatusEntries(value: unknown): StatusEntry[] {
  if (!Array.isArray(value)) throw new Error(`expected an array of status entries, got ${typeof value}`);
  value.forEach((entry: Partial<StatusEntry> | null, index) => {
    if (typeof entry?.atMs !== 'number' || typeof entry.code !== 'number' || typeof entry.message !== 'string') {
      throw new Error(`entry ${index} is ${JSON.stringify(entry)}; expected { atMs: number, code: number, message: string }`);
    }
  });
  return value as StatusEntry[];
}

/**
 * The status history of the cluster: time, status code and message for each
 * sync, node link problem and storage recovery. The whole history is
 * written atomically after changes, one write at a time.
 */
export class StatusHistory {
  private writing: Promise<void> = Promise.resolve();
  private writeQueued = false;
  private recordCount = 0;

  private constructor(
    private readonly deps: { logger: Logger },
    private readonly file: string,
    private readonly entries: StatusEntry[],
  ) {}

  /**
   * Loads the history from the data folder. A damaged file is reported and
   * its backup used. With no readable copy the history starts empty and its
   * first entry gives the reason, because losing old history entries is no
   * reason to stop the master.
   */
  static async open(deps: { logger: Logger }, dataDir: string): Promise<StatusHistory> {
    const file = join(dataDir, STATUS_HISTORY_FILE);
    const read = await readJsonWithBackup(file, validateStatusEntries);
    const history = new StatusHistory(deps, file, read.status === 'ok' ? read.value : []);

    // The damaged copy is moved aside before the first write, so that write cannot copy it over a good backup.
    if (read.status === 'unreadable' || (read.status === 'ok' && read.source === 'backup')) {
      const movedTo = await replaceDamagedFile(file, JSON.stringify(history.entries, null, 1));
      deps.logger.error({ file, problem: read.problem, movedTo }, 'status history file damaged');
    }
    if (read.status === 'ok' && read.source === 'backup') {
      history.record(ErrorCode.ERROR_INTERNAL, `Storage: ${read.problem ?? 'status history damaged'}; restored from its backup copy`);
    } else if (read.status === 'unreadable') {
      history.record(ErrorCode.ERROR_INTERNAL, `Storage: status history could not be read (${read.problem}); starting a new history`);
    }
    return history;
  }

  /** Appends an entry, logs it, and writes the history in the background. */
  record(code: number, message: string, nowMs = Date.now()): void {
    this.entries.push({ atMs: nowMs, code, message });
    this.recordCount++;
    if (this.entries.length > MAX_STATUS_HISTORY_ENTRIES) this.entries.splice(0, this.entries.length - MAX_STATUS_HISTORY_ENTRIES);
    if (code === 0) {
      this.deps.logger.info({ code, status: message }, 'status history entry');
    } else {
      this.deps.logger.warn({ code, status: message }, 'status history entry');
    }

    this.scheduleWrite();
  }

  /** Entries, oldest first. */
  list(): readonly StatusEntry[] {
    return this.entries;
  }

  /** Entries recorded since this history was opened, including those since dropped as too old. */
  get recorded(): number {
    return this.recordCount;
  }

  /**
   * Queues one write of the whole history. Entries recorded while a write is
   * queued ride along with it, so a burst of entries costs one or two writes.
   */
  private scheduleWrite(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    this.writing = this.writing
      .then(() => {
        this.writeQueued = false;
        return writeFileAtomic(this.file, JSON.stringify(this.entries, null, 1));
      })
      .catch((error: unknown) => this.deps.logger.error({ file: this.file, err: errorMessage(error) }, 'writing status history failed'));
  }

  /** Resolves once every recorded entry is on disk. */
  async flush(): Promise<void> {
    await this.writing;
  }
}
