import { open, readFile } from 'node:fs/promises';

/** pino's numeric levels. */
export const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

const LEVEL_NAMES = new Map<number, string>(Object.entries(LOG_LEVELS).map(([name, level]) => [level, name.toUpperCase()]));

/** Bytes read from the end of a log file for its tail. */
const TAIL_WINDOW_BYTES = 64 * 1024;
/** Fields of a pino line that the short form leaves out, because they are shown elsewhere or are noise. */
const OMITTED_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'node', 'msg']);
/** Maximum length of a short-form line; longer ones are cut with an ellipsis. */
const MAX_SHORT_LINE_CHARS = 240;

/** Counts and first problem lines of one process's log. */
export interface LogSummary {
  name: string;
  logFile: string;
  lines: number;
  warnings: number;
  errors: number;
  /** Lines that are not pino JSON: the process's stderr, such as a crash's stack trace. */
  otherLines: number;
  /** First warn, error or other lines in short form, in file order. */
  firstProblems: string[];
}

interface PinoLine {
  level?: number;
  time?: string | number;
  node?: string;
  msg?: string;
  [field: string]: unknown;
}

/** Parses one log line; null for a line that is not a pino JSON object. */
export function parseLogLine(line: string): PinoLine | null {
  if (!line.startsWith('{')) return null;
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null ? (parsed as PinoLine) : null;
  } catch {
    return null;
  }
}

/**
 * Formats a pino line for people: `19:53:12.345 WARN  us-traffic1 message key=value`.
 * A line that is not JSON is returned as it is, marked `OUT`.
 */
export function formatLogLine(line: string, fallbackName = ''): string {
  const parsed = parseLogLine(line);
  if (parsed === null) return truncate(`${' '.repeat(12)} OUT   ${fallbackName} ${line}`);

  const time = typeof parsed.time === 'string' ? parsed.time.slice(11, 23) : new Date(Number(parsed.time ?? 0)).toISOString().slice(11, 23);
  const level = (LEVEL_NAMES.get(parsed.level ?? 0) ?? String(parsed.level)).padEnd(5);
  const fields = Object.entries(parsed)
    .filter(([key]) => !OMITTED_FIELDS.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return truncate([time, level, parsed.node ?? fallbackName, parsed.msg ?? '', ...fields].join(' '));
}

function truncate(text: string): string {
  return text.length <= MAX_SHORT_LINE_CHARS ? text : `${text.slice(0, MAX_SHORT_LINE_CHARS - 1)}…`;
}

/** True for warn-or-worse pino lines and for lines that are not pino JSON. */
export function isProblemLine(line: string): boolean {
  const parsed = parseLogLine(line);
  return parsed === null || (parsed.level ?? 0) >= LOG_LEVELS.warn;
}

/** Counts the levels in a log file and keeps the first `maxProblems` problem lines in short form. */
export async function summarizeLog(name: string, logFile: string, maxProblems = 3): Promise<LogSummary> {
  const summary: LogSummary = { name, logFile, lines: 0, warnings: 0, errors: 0, otherLines: 0, firstProblems: [] };
  let text: string;
  try {
    text = await readFile(logFile, 'utf8');
  } catch {
    return summary;
  }

  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    summary.lines += 1;
    const parsed = parseLogLine(line);
    if (parsed === null) summary.otherLines += 1;
    else if ((parsed.level ?? 0) >= LOG_LEVELS.error) summary.errors += 1;
    else if ((parsed.level ?? 0) >= LOG_LEVELS.warn) summary.warnings += 1;
    else continue;
    if (summary.firstProblems.length < maxProblems) summary.firstProblems.push(formatLogLine(line, name));
  }
  return summary;
}

/** Renders summaries as a few lines per process, for the end of a demo or a failed start. */
export function formatLogSummaries(summaries: LogSummary[]): string[] {
  const width = Math.max(0, ...summaries.map((summary) => summary.name.length));
  const lines: string[] = [];
  for (const summary of summaries) {
    const counts = [`${summary.lines} lines`, `${summary.warnings} warnings`, `${summary.errors} errors`];
    if (summary.otherLines > 0) counts.push(`${summary.otherLines} lines of other output`);
    lines.push(`  ${summary.name.padEnd(width)}  ${counts.join(', ')}`);
    for (const problem of summary.firstProblems) lines.push(`      ${problem}`);
  }
  return lines;
}

/** Returns the last `count` non-empty lines of a file, or [] when it cannot be read. */
export async function readLogTail(file: string, count: number): Promise<string[]> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - TAIL_WINDOW_BYTES);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const lines = buffer.toString('utf8').split('\n').filter((line) => line.trim() !== '');
    return lines.slice(-count);
  } finally {
    await handle.close();
  }
}
