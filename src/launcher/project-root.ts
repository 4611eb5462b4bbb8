import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Project root: the folder holding package.json, two levels above this module
 * both as source (src/launcher/) and as build output (dist/launcher/).
 */
export function projectRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

/** Compiled CLI entry that the launcher forks for every process. */
export function cliEntry(): string {
  return join(projectRoot(), 'dist', 'cli.js');
}

/** Throws with the fix when the compiled CLI is missing, as before the first build. */
export function assertCliBuilt(): string {
  const entry = cliEntry();
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing; run \`npm run build\` first, because the launcher starts every process from the compiled CLI`);
  }
  return entry;
}
