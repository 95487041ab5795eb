import { runJob } from '@sluice/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AssignerKind, Event, FunctionKind, WindowArgs, WindowResult } from './jobs/windows.ts';
import { canonical, expectedWindows } from './window-model.ts';

const job = new URL('./jobs/windows.ts', import.meta.url);
const MAX_DISORDER = 50;

/** Events with timestamps rising on average but out of order by up to MAX_DISORDER ms. */
const eventsArbitrary = fc
  .array(
    fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'),
      step: fc.integer({ min: 0, max: 25 }),
      jitter: fc.integer({ min: 0, max: MAX_DISORDER }),
      v: fc.integer({ min: -100, max: 100 }),
    }),
    { maxLength: 1500 },
  )
  .map((raw) => {
    let clock = 1_000;
    return raw.map(({ key, step, jitter, v }): Event => {
      clock += step;
      return { key, ts: clock - jitter, v };
    });
  });

describe('event-time windows match a plain loop', () => {
  const cases: Array<[AssignerKind, FunctionKind]> = [];
  for (const assigner of ['tumbling', 'sliding', 'session'] as const) {
    for (const fn of ['reduce', 'aggregate', 'process'] as const) cases.push([assigner, fn]);
  }
  for (const [assigner, fn] of cases) {
    it(`${assigner} windows with ${fn}, out-of-order input, parallelism 1, 2, 4`, async () => {
      await fc.assert(
        fc.asyncProperty(eventsArbitrary, fc.constantFrom(1, 2, 4), async (events, parallelism) => {
          const args: WindowArgs = { events, assigner, fn, maxOutOfOrderness: MAX_DISORDER };
          const result = await runJob<WindowArgs>(job, { parallelism, args });
          expect(result.collected('late')).toEqual([]);
          expect(canonical(result.collected<WindowResult>('results'))).toEqual(
            canonical(expectedWindows(events, assigner, fn)),
          );
        }),
        { numRuns: 3 },
      );
    });
  }
});

describe('allowed lateness and late records', () => {
  /**
   * With one source subtask and a watermark after every record (sourceBatchSize 1), the
   * watermark a record meets is fixed by the input order: max(ts before it) - bound - 1.
   */
  function simulate(events: readonly Event[], bound: number, lateness: number) {
    let maxTs = Number.NEGATIVE_INFINITY;
    const late: Event[] = [];
    const accepted: Event[] = [];
    for (const e of events) {
      const watermark = maxTs - bound - 1;
      const start = Math.floor(e.ts / 100) * 100;
      if (start + 100 - 1 + lateness <= watermark) late.push(e);
      else accepted.push(e);
      maxTs = Math.max(maxTs, e.ts);
    }
    return { late, accepted };
  }

  it('sends records past the allowed lateness to the side output and re-fires windows for the others', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            key: fc.constantFrom('x', 'y', 'z'),
            ts: fc.integer({ min: 0, max: 2_000 }),
            v: fc.integer({ min: 1, max: 9 }),
          }),
          { minLength: 1, maxLength: 400 },
        ),
        fc.constantFrom(0, 150),
        fc.constantFrom(1, 2, 4),
        async (events, lateness, parallelism) => {
          const bound = 20;
          const args: WindowArgs = {
            events,
            assigner: 'tumbling',
            fn: 'reduce',
            maxOutOfOrderness: bound,
            allowedLateness: lateness,
            singleSource: true,
          };
          const result = await runJob<WindowArgs>(job, { parallelism, args, sourceBatchSize: 1 });
          const { late, accepted } = simulate(events, bound, lateness);
          const show = (es: readonly Event[]) => es.map((e) => `${e.key}|${e.ts}|${e.v}`).sort();
          expect(show(result.collected<Event>('late'))).toEqual(show(late));
          // The last firing of each window holds everything accepted into it.
          const last = new Map<string, WindowResult>();
          for (const r of result.collected<WindowResult>('results')) last.set(`${r.key}|${r.start}`, r);
          expect(canonical([...last.values()])).toEqual(
            canonical(expectedWindows(accepted, 'tumbling', 'reduce')),
          );
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('processing-time windows', () => {
  for (const assigner of ['tumbling', 'sliding', 'session'] as const) {
    it(`${assigner}: every record is counted, and all windows fire at end of input`, async () => {
      const events: Event[] = Array.from({ length: 5000 }, (_, i) => ({ key: `k${i % 13}`, ts: 0, v: 1 }));
      const result = await runJob<WindowArgs>(job, {
        parallelism: 2,
        args: { events, assigner, fn: 'aggregate', maxOutOfOrderness: 0, time: 'processing' },
      });
      const perKey = new Map<string, number>();
      for (const r of result.collected<WindowResult>('results')) {
        const n = Number(r.value.split('/')[0]);
        perKey.set(r.key, (perKey.get(r.key) ?? 0) + n);
        expect(r.end - r.start).toBe(assigner === 'session' ? r.end - r.start : 100);
      }
      // A record falls in SIZE/SLIDE sliding windows (100/40 → 2 or 3, by its position).
      for (let k = 0; k < 13; k++) {
        const records = events.filter((e) => e.key === `k${k}`).length;
        const counted = perKey.get(`k${k}`) ?? 0;
        if (assigner === 'sliding') {
          expect(counted).toBeGreaterThanOrEqual(2 * records);
          expect(counted).toBeLessThanOrEqual(3 * records);
        } else {
          expect(counted).toBe(records);
        }
      }
    });
  }
});
