import { runJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { type ClickCountsArgs, click, type PageCount } from './job.ts';

const job = new URL('./job.ts', import.meta.url);

/** The same computation as a plain loop: clicks per page per 10 s window. */
function expectedCounts(events: number, pages: number): string[] {
  const counts = new Map<string, number>();
  for (let i = 0; i < events; i++) {
    const c = click(i, pages);
    const start = Math.floor(c.ts / 10_000) * 10_000;
    const id = `${c.page}|${start}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return [...counts].map(([id, n]) => `${id}|${n}`).sort();
}

describe('examples/click-counts', () => {
  it('counts exactly with the LevelDB state backend, its cache smaller than the keys', async () => {
    const args: ClickCountsArgs = { events: 200_000, pages: 2_000, collect: true };
    const result = await runJob<ClickCountsArgs>(job, {
      parallelism: 2,
      args,
      // ~1,000 pages per subtask, 600 cached: windows' state and timers go through the disk.
      stateBackend: { kind: 'leveldb', cacheMaxKeys: 600 },
    });
    const got = result.collected<PageCount>('counts').map((c) => `${c.page}|${c.windowStart}|${c.clicks}`);
    expect(got.sort()).toEqual(expectedCounts(200_000, 2_000));
  });

  for (const parallelism of [1, 2, 4]) {
    it(`counts clicks per page and window exactly at parallelism ${parallelism}`, async () => {
      const args: ClickCountsArgs = { events: 300_000, pages: 7, collect: true };
      const result = await runJob<ClickCountsArgs>(job, { parallelism, args });
      const got = result.collected<PageCount>('counts').map((c) => `${c.page}|${c.windowStart}|${c.clicks}`);
      expect(got.sort()).toEqual(expectedCounts(300_000, 7));
      expect(result.lateRecordsDropped).toBe(0);
      expect(result.sourceRecords).toBe(300_000);
    });
  }
});
