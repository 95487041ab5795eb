import { JobTestDriver } from '@sluice/core/testing';
import { describe, expect, it } from 'vitest';
import type { StreamingArgs } from './jobs/streaming.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

const job = new URL('./jobs/streaming.ts', import.meta.url);

/*
 * Unbounded jobs whose results depend on processing time (a rate-limited source, the flush
 * timeout, idleness), run under the test driver's simulated clock: the same records arrive at
 * the same simulated times on every run, however busy the machine.
 */

interface WindowCount {
  readonly key: number;
  readonly start: number;
  readonly n: number;
}

function start(args: StreamingArgs, bufferTimeoutMs?: number): Promise<JobTestDriver> {
  const outputs = [args.windows ? 'collect(windows)' : 'collect(ticks)'];
  return JobTestDriver.start<StreamingArgs>(job, {
    parallelism: 2,
    args,
    outputs,
    ...(bufferTimeoutMs === undefined ? {} : { bufferTimeoutMs }),
  });
}

describe('unbounded jobs', () => {
  it('deliver records long before a batch fills: the flush timeout bounds latency', async () => {
    const baseline = await warmThreadBaseline();
    // 40 records/s (20 per source subtask) against batches of 512: only the timeout sends them.
    const driver = await start({ ratePerSecond: 40, windows: false }, 5);
    const ticks = driver.output<number>('collect(ticks)');
    // At time 0 each subtask emitted its first record into a batch opened at 0.
    await driver.advanceTime(4);
    expect(ticks.take()).toEqual([]);
    await driver.advanceTime(1);
    expect(ticks.take().sort((a, b) => a - b)).toEqual([0, 10]);
    // One second later, 20 more per subtask, in batches opened at 1005 that go out at 1010.
    await driver.advanceTime(1_000);
    expect(ticks.take()).toEqual([]);
    await driver.advanceTime(5);
    const values = ticks.take().sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 40 }, (_, i) => (i + 2) * 10));
    // Cancelling stops every worker thread.
    await driver.close();
    await expectThreadsBackTo(baseline);
  });

  it('an idle input stops holding back the watermark once it times out', async () => {
    await using driver = await start({ ratePerSecond: 400, windows: true, silentIdleTimeoutMs: 50 });
    const windows = driver.output<WindowCount>('collect(windows)');
    await driver.advanceTime(49);
    expect(windows.all()).toEqual([]);
    await driver.advanceTime(1);
    // Window [0, 100) holds ticks 0..9; the generator's ticks alternate between the two keys.
    const first = windows.all().filter((w) => w.start === 0);
    expect(first.map((w) => w.n).sort()).toEqual([5, 5]);
  });

  it('without idleness, a silent input holds every window back', async () => {
    await using driver = await start({ ratePerSecond: 400, windows: true });
    await driver.advanceTime(10_000);
    expect(driver.output('collect(windows)').all()).toEqual([]);
  });
});
