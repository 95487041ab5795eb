import { describe, expect, it } from 'vitest';
import type { JobProgress } from '../execution/progress.ts';
import { ProgressReporter, type ProgressTimers, progressLine } from './progress-reporter.ts';

function setup(tty: boolean) {
  let callback: (() => void) | undefined;
  let intervalMs: number | undefined;
  const timers: ProgressTimers = {
    setInterval: (fn, ms) => {
      callback = fn;
      intervalMs = ms;
      return 'handle';
    },
    clearInterval: (handle) => {
      expect(handle).toBe('handle');
      callback = undefined;
    },
  };
  const clock = { now: 10_000 };
  let progress: JobProgress = {
    recordsRead: 0,
    fraction: undefined,
    sourcesReporting: 0,
    sourcesExpected: 2,
  };
  const written: string[] = [];
  const reporter = new ProgressReporter({
    sample: () => progress,
    write: (line) => written.push(line),
    tty,
    intervalMs: 250,
    now: () => clock.now,
    timers,
  });
  return {
    reporter,
    written,
    clock,
    set: (next: Partial<JobProgress>) => {
      progress = { ...progress, ...next };
    },
    fire: () => callback?.(),
    intervalMs: () => intervalMs,
  };
}

describe('ProgressReporter', () => {
  it('not a terminal: a plain line per refresh, the rate over the last interval', () => {
    const t = setup(false);
    t.reporter.start();
    expect(t.intervalMs()).toBe(250);
    t.set({ recordsRead: 1_000, fraction: 0.25 });
    t.clock.now += 500;
    t.fire();
    t.set({ recordsRead: 1_500, fraction: 0.375 });
    t.clock.now += 250;
    t.fire();
    t.set({ recordsRead: 4_000, fraction: 1 });
    t.clock.now += 65_000 - 750;
    t.fire();
    expect(t.written).toEqual([
      'sluice: 1,000 records read (2,000 records/s), 25.0% of input, 0:00 elapsed\n',
      'sluice: 1,500 records read (2,000 records/s), 37.5% of input, 0:00 elapsed\n',
      'sluice: 4,000 records read (39 records/s), 100.0% of input, 1:05 elapsed\n',
    ]);
    t.reporter.stop();
    t.fire();
    expect(t.written).toHaveLength(3);
  });

  it('a terminal: one line redrawn in place, cleared for a log line and at the end', () => {
    const t = setup(true);
    t.reporter.start();
    t.set({ recordsRead: 10 });
    t.clock.now += 1_000;
    t.fire();
    t.reporter.interrupt();
    t.reporter.interrupt(); // nothing on screen now: nothing to clear
    t.clock.now += 1_000;
    t.fire();
    t.reporter.stop();
    expect(t.written).toEqual([
      '\r\u001b[2Ksluice: 10 records read (10 records/s), 0:01 elapsed',
      '\r\u001b[2K',
      '\r\u001b[2Ksluice: 10 records read (0 records/s), 0:02 elapsed',
      '\r\u001b[2K',
    ]);
  });

  it('progressLine: hours when the job runs that long; no share when the size is unknown', () => {
    expect(
      progressLine({
        recordsRead: 1_234_567,
        recordsPerSecond: 9_876.4,
        fraction: undefined,
        elapsedMs: 3_723_000,
      }),
    ).toBe('sluice: 1,234,567 records read (9,876 records/s), 1:02:03 elapsed');
  });
});
