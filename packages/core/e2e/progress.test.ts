import { startJob } from '@sluice/core';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { ProgressReporter, type ProgressTimers } from '../src/cli/progress-reporter.ts';
import type { ProgressArgs } from './jobs/progress.ts';

const job = new URL('./jobs/progress.ts', import.meta.url);

/** A timer the test fires itself. */
function manualTimers(): ProgressTimers & { fire(): void } {
  let callback: (() => void) | undefined;
  return {
    setInterval: (fn) => {
      callback = fn;
      return 1;
    },
    clearInterval: () => {
      callback = undefined;
    },
    fire: () => callback?.(),
  };
}

describe('progress of a bounded job', () => {
  it('counts every record of both sources, the whole input once it ends, and the reporter draws it on the test clock', async () => {
    const count = 3_000;
    const handle = await startJob<ProgressArgs>(job, { parallelism: 2, args: { count } });
    let nowMs = 0;
    const timers = manualTimers();
    const written: string[] = [];
    const reporter = new ProgressReporter({
      sample: () => handle.progress(),
      write: (line) => written.push(line),
      tty: false,
      intervalMs: 1_000,
      now: () => nowMs,
      timers,
    });
    reporter.start();
    const result = await handle.result;
    expect(result.sourceRecords).toBe(2 * count);
    // The slots sent their last samples before their ports closed: the figures are final.
    expect(handle.progress()).toEqual({
      recordsRead: 2 * count,
      fraction: 1,
      sourcesReporting: 4,
      sourcesExpected: 4,
    });
    nowMs = 2_000;
    timers.fire();
    nowMs = 3_000;
    timers.fire();
    reporter.stop();
    timers.fire(); // stopped: draws nothing more
    expect(written).toEqual([
      'sluice: 6,000 records read (3,000 records/s), 100.0% of input, 0:02 elapsed\n',
      'sluice: 6,000 records read (0 records/s), 100.0% of input, 0:03 elapsed\n',
    ]);
  }, 60_000);

  it('an unbounded job reports records read but no share of input', async () => {
    const lines: { event?: string; level: number; job: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (text: string) => lines.push(JSON.parse(text)) });
    const handle = await startJob<ProgressArgs>(job, { parallelism: 2, args: {}, logger });
    try {
      // Samples come every half second; wait for one that counted records (a hang guard only).
      await vi.waitFor(() => expect(handle.progress().recordsRead).toBeGreaterThan(0), {
        timeout: 30_000,
        interval: 50,
      });
      const progress = handle.progress();
      expect(progress.fraction).toBeUndefined();
      expect(progress.sourcesExpected).toBe(2);
    } finally {
      await handle.cancel();
    }
    // Cancelled, not failed: one info line says so.
    expect(lines.filter((l) => l.event === 'job-cancelled')).toEqual([
      expect.objectContaining({ level: 30, job: 'progress' }),
    ]);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  }, 60_000);
});
