// Generates static protobufjs code for proto/atlas.proto into
// src/protocol/generated/, skipping the work when the output is newer than
// the schema.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schema = join(root, 'proto', 'atlas.proto');
const outDir = join(root, 'src', 'protocol', 'generated');
const jsFile = join(outDir, 'atlas.js');
const dtsFile = join(outDir, 'atlas.d.ts');
const bin = (name) => join(root, 'node_modules', '.bin', name);

function upToDate() {
  if (!existsSync(jsFile) || !existsSync(dtsFile)) return false;
  const built = Math.min(statSync(jsFile).mtimeMs, statSync(dtsFile).mtimeMs);
  return built > statSync(schema).mtimeMs && built > statSync(fileURLToPath(import.meta.url)).mtimeMs;
}

if (!upToDate()) {
  mkdirSync(outDir, { recursive: true });
  execFileSync(bin('pbjs'), ['-t', 'static-module', '-w', 'es6', '--force-number', '--no-beautify', '-o', jsFile, schema], { stdio: 'inherit' });
  // protobufjs has no "exports" map, so Node's ESM resolver needs the file extension.
  const js = readFileSync(jsFile, 'utf8').replace(/from "protobufjs\/minimal"/g, 'from "protobufjs/minimal.js"');
  writeFileSync(jsFile, js);
  execFileSync(bin('pbts'), ['--no-comments', '-o', dtsFile, jsFile], { stdio: 'inherit' });
  const dts = readFileSync(dtsFile, 'utf8').replace(/from "protobufjs"/g, 'from "protobufjs/index.js"');
  writeFileSync(dtsFile, dts);
}
