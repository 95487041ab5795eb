import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { locationInReport } from './syntax-error-location.ts';

describe('locationInReport', () => {
  it('reads path, line and caret column from a report headed as Node heads one', () => {
    expect(locationInReport('/jobs/a.mjs:3\n  x = (1 +);\n         ^\n\nSyntaxError: Unexpected token')).toBe(
      '/jobs/a.mjs:3:10',
    );
    expect(locationInReport('SyntaxError: Unexpected token\n    at compile (node:internal)')).toBeUndefined();
  });

  it('maps a caret under a tab printed as four spaces back to the column in the file, or gives the line alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-syntax-location-'));
    try {
      const file = join(dir, 'job.ts');
      await writeFile(file, 'const a = 1;\n\t\tb(1 +);\n');
      const printed = '        b(1 +);';
      expect(locationInReport(`${file}:2\n${printed}\n             ^\n`)).toBe(`${file}:2:8`);
      // The printed line is not the file's: the column cannot be trusted.
      expect(locationInReport(`${file}:1\n${printed}\n             ^\n`)).toBe(`${file}:1`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
