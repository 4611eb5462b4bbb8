import type { ChildHandle } from './child-process.js';
import { readLogTail } from './log-summary.js';

/** Pause between two `status` requests while waiting. */
const POLL_MS = 200;
const LOG_TAIL_LINES = 10;
/** Time one status request during the search for the primary may take. */
const PRIMARY_STATUS_TIMEOUT_MS = 2000;

/** The part of a master's `status` reply that concerns failover. */
interface FailoverStatusReply {
  role?: unknown;
  term?: unknown;
  failover?: { replication?: { connected?: unknown; ackedSeq?: unknown; problem?: unknown } };
}

/**
 * Polls the primary's `status` until its backup master has acknowledged the
 * first replication update, so the pair is ready to fail over. Throws naming
 * the backup and the last problem when the deadline passes.
 */
export async function waitForBackup(primary: ChildHandle, backup: string, timeoutMs: number): Promise<number> {
  const startedMs = Date.now();
  let problem = '';
  while (Date.now() - startedMs < timeoutMs && primary.running) {
    try {
      const status = (await primary.request('status', {}, Math.max(1000, timeoutMs - (Date.now() - startedMs)))) as FailoverStatusReply;
      const replication = status.failover?.replication;
      if (typeof replication?.ackedSeq === 'number' && replication.ackedSeq > 0) return Date.now() - startedMs;
      problem = typeof replication?.problem === 'string' ? replication.problem : '';
    } catch (error) {
      problem = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const tail = await readLogTail(primary.logFile, LOG_TAIL_LINES);
  const detail = problem === '' ? '' : ` (last problem: ${problem})`;
  throw new Error(`backup master ${backup} did not receive the configuration from ${primary.name} within ${timeoutMs} ms${detail}; last lines of ${primary.logFile}:\n${tail.join('\n')}`);
}

/**
 * Returns the name of the running master that reports the primary role
 * under the highest term. Masters that do not reply are skipped. Throws
 * when no master is the primary.
 */
export async function findPrimaryMaster(masters: readonly ChildHandle[]): Promise<string> {
  const answers = await Promise.all(
    masters.filter((handle) => handle.running).map(async (handle) => {
      try {
        const status = (await handle.request('status', {}, PRIMARY_STATUS_TIMEOUT_MS)) as FailoverStatusReply;
        return { name: handle.name, role: status.role, term: typeof status.term === 'number' ? status.term : 0 };
      } catch {
        return undefined;
      }
    }),
  );
  const primaries = answers.filter((answer) => answer?.role === 'primary').sort((a, b) => (b?.term ?? 0) - (a?.term ?? 0));
  const primary = primaries[0];
  if (primary === undefined) throw new Error(`no running master reports the primary role (asked ${masters.map((handle) => handle.name).join(', ')}); a takeover may be under way`);
  return primary.name;
}
