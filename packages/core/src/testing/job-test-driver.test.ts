import { describe, expect, it } from 'vitest';
import { expectThreadsBackTo, warmThreadBaseline } from '../../e2e/os-threads.ts';
import { JobTestDriver } from './job-test-driver.ts';
import type { PageView } from './test-jobs/page-views.ts';

const job = new URL('./test-jobs/page-views.ts', import.meta.url);

interface PerMinute {
  readonly user: string;
  readonly minute: number;
  readonly n: number;
}

const sorted = (rows: PerMinute[]) =>
  rows.slice().sort((a, b) => a.minute - b.minute || a.user.localeCompare(b.user));

describe('JobTestDriver', () => {
  for (const parallelism of [1, 3]) {
    it(`fires processing-time windows only when the test moves time (parallelism ${parallelism})`, async () => {
      await using driver = await JobTestDriver.start(job, {
        parallelism,
        inputs: ['views'],
        outputs: ['per-minute'],
      });
      const views = driver.input<PageView>('views');
      const out = driver.output<PerMinute>('per-minute');
      views.send([
        { user: 'ann', page: '/' },
        { user: 'bob', page: '/' },
        { user: 'ann', page: '/a' },
      ]);
      await driver.advanceTime(30_000);
      expect(out.take()).toEqual([]);
      views.send([{ user: 'ann', page: '/b' }]);
      // Window [0, 60000) fires when processing time reaches its last millisecond.
      await driver.advanceTime(29_998);
      expect(out.take()).toEqual([]);
      await driver.advanceTime(1);
      expect(sorted(out.take())).toEqual([
        { user: 'ann', minute: 0, n: 3 },
        { user: 'bob', minute: 0, n: 1 },
      ]);
      await driver.advanceTime(1);
      views.send([{ user: 'bob', page: '/' }]);
      await driver.advanceTime(120_000);
      expect(out.take()).toEqual([{ user: 'bob', minute: 1, n: 1 }]);
      expect(driver.currentTime).toBe(180_000);
    });
  }

  for (const parallelism of [1, 2, 4]) {
    it(`rejects every step after a function failed, never resolves past it (parallelism ${parallelism})`, async () => {
      const baseline = await warmThreadBaseline();
      const failing = new URL('./test-jobs/failing-views.ts', import.meta.url);
      const driver = await JobTestDriver.start(failing, {
        parallelism,
        inputs: ['views'],
        outputs: ['pages'],
      });
      try {
        const views = driver.input<PageView>('views');
        views.send([
          { user: 'ann', page: '/' },
          { user: 'bob', page: '/a' },
        ]);
        await driver.settle();
        expect(driver.output<string>('pages').all().sort()).toEqual(['/', '/a']);
        views.send([
          { user: 'cid', page: '/boom' },
          { user: 'ann', page: '/b' },
        ]);
        await expect(driver.settle()).rejects.toThrow(/boom for cid/);
        await expect(driver.advanceTime(1)).rejects.toThrow(/boom for cid/);
      } finally {
        await driver.close();
      }
      await expectThreadsBackTo(baseline);
    });
  }

  it('gives up on a job that never goes quiet, naming the busy slots', async () => {
    const baseline = await warmThreadBaseline();
    const busy = new URL('./test-jobs/never-quiet.ts', import.meta.url);
    // The step limit is real time by nature; the outcome (rejected) does not depend on load.
    await expect(JobTestDriver.start(busy, { parallelism: 2, stepTimeoutMs: 300 })).rejects.toThrow(
      /did not go quiet within 300 ms of real time \(slots still busy: 0, 1\)/,
    );
    // start() stopped the job it could not hand over: its threads are gone.
    await expectThreadsBackTo(baseline);
  });

  it('names a source or sink it cannot find', async () => {
    await expect(JobTestDriver.start(job, { inputs: ['clicks'] })).rejects.toThrow(
      /cannot find a source 'clicks' in job 'page-views' \(its sources: 'views' \(page views\)\)/,
    );
  });
});
