import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Field paths that pino replaces with "[redacted]" wherever a caller passes them by mistake. */
export const REDACTED_PATHS = [
  'psk',
  'key',
  'sessionKey',
  'session_key',
  'password',
  'ticket',
  'mac',
  '*.psk',
  '*.key',
  '*.sessionKey',
  '*.session_key',
  '*.password',
  '*.ticket',
  '*.mac',
];

export interface LoggerSettings {
  /** Process name, bound as `node` on every line. */
  name: string;
  /** JSON lines go to this file (appended, written synchronously); stdout when absent. */
  file?: string;
  level?: string;
}

/**
 * Creates the root logger of one process. Writes are synchronous so that the
 * last lines before a crash or a SIGTERM exit are not lost.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? process.env.ATLAS_LOG_LEVEL ?? 'info',
    base: { node: settings.name, pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const destination = settings.file === undefined
    ? pino.destination({ dest: 1, sync: true })
    : pino.destination({ dest: settings.file, sync: true, mkdir: true, append: true });
  return pino(options, destination);
}

/** A logger that drops everything, for unit tests of code that needs one. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
