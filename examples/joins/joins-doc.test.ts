import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

const REPO = new URL('../../', import.meta.url);

/** docs/writing-jobs.md shows this example verbatim (`<!-- verbatim: <path> -->` before the block). */
it('the verbatim code blocks of docs/writing-jobs.md are the files they name', () => {
  const doc = readFileSync(new URL('docs/writing-jobs.md', REPO), 'utf8');
  const blocks = [...doc.matchAll(/^<!-- verbatim: (\S+) -->\n```\w*\n([\s\S]*?)^```$/gm)];
  expect(blocks.map(([, path]) => path)).toContain('examples/joins/job.ts');
  for (const [, path, code] of blocks) {
    expect(code, `the block of docs/writing-jobs.md showing ${path}`).toBe(
      readFileSync(new URL(path!, REPO), 'utf8'),
    );
  }
});
