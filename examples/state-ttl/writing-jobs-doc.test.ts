import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const REPO = new URL('../../', import.meta.url);

/**
 * The state TTL section of docs/writing-jobs.md shows this folder's files verbatim (a
 * `<!-- verbatim: <path> -->` line before a code block names the file), so the documented
 * example is the tested one.
 */
it('the code blocks of docs/writing-jobs.md that name a file of examples/state-ttl are that file', () => {
  const doc = readFileSync(new URL('docs/writing-jobs.md', REPO), 'utf8');
  const blocks = [
    ...doc.matchAll(/^<!-- verbatim: (examples\/state-ttl\/\S+) -->\n```\w*\n([\s\S]*?)^```$/gm),
  ];
  expect(blocks.length).toBeGreaterThan(0);
  for (const [, path, code] of blocks) {
    expect(code, `the block of docs/writing-jobs.md showing ${path}`).toBe(
      readFileSync(new URL(path!, REPO), 'utf8'),
    );
  }
});
