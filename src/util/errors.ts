/** Message of an unknown thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Error thrown when a command-line flag or configuration value is invalid. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
