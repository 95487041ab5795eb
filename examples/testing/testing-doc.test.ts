import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const REPO = new URL('../../', import.meta.url);

/**
 * docs/testing.md shows example files verbatim: a `<!-- verbatim: <path> -->` line before a code
 * block says which file the block is. The documented examples are then the tested ones.
 */
it('the code blocks of docs/testing.md are the example files they name', () => {
  const doc = readFileSync(new URL('docs/testing.md', REPO), 'utf8');
  const blocks = [...doc.matchAll(/^<!-- verbatim: (\S+) -->\n```\w*\n([\s\S]*?)^```$/gm)];
  expect(blocks.length).toBeGreaterThan(0);
  for (const [, path, code] of blocks) {
    expect(code, `the block of docs/testing.md showing ${path}`).toBe(
      readFileSync(new URL(path!, REPO), 'utf8'),
    );
  }
});
