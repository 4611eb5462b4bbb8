// Copies the generated protobuf module into dist/ (tsc copies no .js files)
// and marks the CLI entry executable.
import { chmodSync, copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const generatedOut = join(root, 'dist', 'protocol', 'generated');
mkdirSync(generatedOut, { recursive: true });
for (const file of ['atlas.js', 'atlas.d.ts']) {
  copyFileSync(join(root, 'src', 'protocol', 'generated', file), join(generatedOut, file));
}

const cli = join(root, 'dist', 'cli.js');
if (existsSync(cli)) chmodSync(cli, 0o755);
