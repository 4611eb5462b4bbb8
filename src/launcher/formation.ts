import type { ChildHandle } from './child-process.js';
import { readLogTail } from './log-summary.js';

/** Time the master gets to see every traffic node online, after all processes are ready. */
export const DEFAULT_FORMATION_TIMEOUT_MS = 30_000;
/** Pause between two `status` requests while waiting. */
const FORMATION_POLL_MS = 200;
const LOG_TAIL_LINES = 10;

/** The part of the master's `status` reply the launcher reads. */
interface MasterStatus {
  nodes?: { name?: unknown; online?: unknown; configCurrent?: unknown }[];
}

export interface Formation {
  online: string[];
  elapsedMs: number;
}

/** Names of the traffic nodes the master reports online and on the current configuration. */
export function readyNodes(status: unknown): string[] {
  const nodes = (status as MasterStatus | null)?.nodes;
  if (!Array.isArray(nodes)) return [];
  return nodes
    .filter((node) => node.online === true && node.configCurrent !== false && typeof node.name === 'string')
    .map((node) => node.name as string);
}

/**
 * Polls the master's `status` until every expected traffic node is online and
 * has applied the current configuration. Throws naming the missing nodes and
 * quoting the master's log when the deadline passes or the master exits.
 */
export async function waitForFormation(master: ChildHandle, expected: string[], timeoutMs = DEFAULT_FORMATION_TIMEOUT_MS): Promise<Formation> {
  const startedMs = Date.now();
  let missing = expected;
  let lastError = '';

  while (Date.now() - startedMs < timeoutMs) {
    if (!master.running) break;
    try {
      const online = readyNodes(await master.request('status', {}, Math.max(1000, timeoutMs - (Date.now() - startedMs))));
      missing = expected.filter((name) => !online.includes(name));
      if (missing.length === 0) return { online, elapsedMs: Date.now() - startedMs };
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, FORMATION_POLL_MS));
  }

  const tail = await readLogTail(master.logFile, LOG_TAIL_LINES);
  const state = master.running ? `did not report ${missing.join(', ')} online within ${timeoutMs} ms` : 'exited before the cluster formed';
  const detail = lastError === '' ? '' : ` (last status request: ${lastError})`;
  throw new Error(`master ${master.name} ${state}${detail}; last lines of ${master.logFile}:\n${tail.join('\n')}`);
}
