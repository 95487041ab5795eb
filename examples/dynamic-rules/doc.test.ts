import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const REPO = new URL('../../', import.meta.url);

/** docs/writing-jobs.md shows the rules function verbatim: the documented example is the tested one. */
it('the code blocks of docs/writing-jobs.md marked verbatim are the example files they name', () => {
  const doc = readFileSync(new URL('docs/writing-jobs.md', REPO), 'utf8');
  const blocks = [...doc.matchAll(/^<!-- verbatim: (\S+) -->\n```\w*\n([\s\S]*?)^```$/gm)];
  expect(blocks.map(([, path]) => path)).toContain('examples/dynamic-rules/rules.ts');
  for (const [, path, code] of blocks) {
    expect(code, `the block of docs/writing-jobs.md showing ${path}`).toBe(
      readFileSync(new URL(path!, REPO), 'utf8'),
    );
  }
});
