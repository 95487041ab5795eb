import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_INPUT, type WordCount, type WordCountArgs, words } from './job.ts';

const job = new URL('./job.ts', import.meta.url);

/** The plain-loop answer over the same file. */
async function expectedCounts(path: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    for (const word of words(line)) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return counts;
}

function asMap(counts: readonly WordCount[]): Map<string, number> {
  const map = new Map<string, number>();
  for (const { word, count } of counts) {
    // One final count per word: a second one would mean intermediate counts leaked out.
    expect(map.has(word), `'${word}' counted twice`).toBe(false);
    map.set(word, count);
  }
  return map;
}

describe('word-count example', () => {
  it('splits words the way the example says', () => {
    expect(words("Some years ago—never mind; people's HATS off, 1859!")).toEqual([
      'some',
      'years',
      'ago',
      'never',
      'mind',
      "people's",
      'hats',
      'off',
      '1859',
    ]);
  });

  for (const parallelism of [1, 2, 4]) {
    it(`emits one final count per word, matching a plain loop, at parallelism ${parallelism}`, async () => {
      const expected = await expectedCounts(DEFAULT_INPUT);
      expect(expected.get('the')).toBeGreaterThan(10); // the input is the one we think it is
      const result = await runJob<WordCountArgs>(job, { parallelism, args: { collect: true } });
      expect(asMap(result.collected<WordCount>('counts'))).toEqual(expected);
    });
  }

  it('writes `word count` lines to part files with args.output', async () => {
    const output = await mkdtemp(join(tmpdir(), 'sluice-word-count-'));
    try {
      await runJob<WordCountArgs>(job, { parallelism: 2, args: { input: DEFAULT_INPUT, output } });
      expect((await readdir(output)).sort()).toEqual(['part-0', 'part-1']);
      const counts: WordCount[] = [];
      for (const file of ['part-0', 'part-1']) {
        for (const line of (await readFile(join(output, file), 'utf8')).split('\n')) {
          if (line === '') continue;
          const [word, count] = line.split(' ');
          counts.push({ word: word!, count: Number(count) });
        }
      }
      expect(asMap(counts)).toEqual(await expectedCounts(DEFAULT_INPUT));
    } finally {
      await rm(output, { recursive: true, force: true });
    }
  });
});
