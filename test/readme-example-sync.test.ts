import { readFile } from 'node:fs/promises';
import t from 'tap';

const README = new URL('../README.md', import.meta.url);
const EXAMPLE = new URL('./readme-example.test.ts', import.meta.url);

void t.test('README example matches its test', async (t) => {
  const readme = await readFile(README, 'utf8');
  const section = readme.slice(readme.indexOf('## Library API'));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  t.ok(block, 'README has a ts example under "Library API"');
  const test = await readFile(EXAMPLE, 'utf8');
  // The test file starts with one comment line that the README leaves out.
  t.equal(block, test.slice(test.indexOf('\n') + 1), 'the README example is the test file as run, line for line');
});
