import { formatTable } from '../launcher/text-table.js';
import type { RepeatResult } from './experiment.js';
import type { ExperimentResult } from './runner.js';

/** Timeline detail longer than this is cut, so one event stays on one line. */
const MAX_DETAIL_CHARS = 160;

/** Text of one repeat: its timeline, its measurements and its invariants. */
export function formatRepeat(result: RepeatResult): string[] {
  const lines = [`Repeat ${result.repeat} timeline (ms since the repeat started)`];
  const rows = result.timeline.map((entry) => [`+${entry.atMs}`, entry.process, entry.event, truncate(entry.detail)]);
  lines.push(...formatTable(['ms', 'process', 'event', 'detail'], rows));
  const measured = Object.entries(result.measurements).map(([name, ms]) => `${name} ${ms} ms`);
  lines.push(`  measured: ${measured.length === 0 ? 'nothing' : measured.join(', ')}`);
  for (const invariant of result.invariants) lines.push(`  ${invariant.ok ? 'ok  ' : 'FAIL'}  ${invariant.name}: ${invariant.detail}`);
  if (result.error !== undefined) lines.push(`  repeat failed: ${result.error}`);
  return lines;
}

/** Text of a whole run: header, every repeat, the measurement statistics, invariants and the verdict. */
export function formatExperimentReport(result: ExperimentResult): string {
  const lines = [`Experiment ${result.experiment}: ${result.summary}`, `seed ${result.seed}, ${result.repeats.length} repeat(s)`, ''];
  for (const repeat of result.repeats) lines.push(...formatRepeat(repeat), '');

  lines.push(`Measurements over ${result.repeats.length} repeat(s), in ms`);
  const rows = result.measurements.map((entry) => [entry.name, String(entry.count), formatMs(entry.median), formatMs(entry.p99), formatMs(entry.min), formatMs(entry.max), entry.description]);
  lines.push(...formatTable(['measurement', 'n', 'median', 'p99', 'min', 'max', 'what it spans'], rows), '');

  lines.push(`Invariants over ${result.repeats.length} repeat(s)`);
  for (const invariant of result.invariants) {
    const failure = invariant.passed ? '' : ` (broke in ${invariant.failures} of ${result.repeats.length} repeats; first: ${invariant.detail})`;
    lines.push(`  ${invariant.passed ? 'ok  ' : 'FAIL'}  ${invariant.name}${failure}`);
  }
  lines.push('');
  lines.push(`Verdict: ${result.passed ? 'PASS, every invariant held in every repeat' : 'FAIL, an invariant broke'}`);
  lines.push(result.runDirKept ? `Run folder ${result.runDir} kept (logs of every process)` : `Run folder ${result.runDir} removed; pass --keep-run-dir to keep its logs`);
  return lines.join('\n');
}

function formatMs(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value)) : '-';
}

function truncate(text: string): string {
  return text.length <= MAX_DETAIL_CHARS ? text : `${text.slice(0, MAX_DETAIL_CHARS - 3)}...`;
}
