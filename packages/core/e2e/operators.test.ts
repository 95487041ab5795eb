import { runJob } from '@sluice/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeySummary, OperatorArgs } from './jobs/operators.ts';

const job = new URL('./jobs/operators.ts', import.meta.url);
const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

describe('process functions, keyed state, timers, side outputs, union, broadcast, rebalance', () => {
  it('match a plain loop at parallelism 1, 2 and 4', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: -500, max: 500 }), { maxLength: 2000 }),
        fc.array(fc.integer({ min: -500, max: 500 }), { maxLength: 300 }),
        fc.constantFrom(1, 2, 4),
        async (input, other, parallelism) => {
          const result = await runJob<OperatorArgs>(job, { parallelism, args: { input, other } });

          // Side output: negatives on the side, the rest on the main output.
          const main = result.collected<{ value: number; subtask: number }>('non-negative');
          expect(sorted(main.map((r) => r.value))).toEqual(sorted(input.filter((n) => n >= 0)));
          expect(sorted(result.collected<number>('negatives'))).toEqual(sorted(input.filter((n) => n < 0)));
          expect(main.every((r) => r.subtask >= 0 && r.subtask < parallelism)).toBe(true);

          // Keyed state of every kind, summarised once per key by the end-of-input watermark.
          const all = [...input, ...other];
          const byKey = new Map<number, number[]>();
          for (const n of all) byKey.set(Math.abs(n) % 11, [...(byKey.get(Math.abs(n) % 11) ?? []), n]);
          const summaries = result.collected<KeySummary | string>('summaries');
          const finals = summaries.filter((s): s is KeySummary => typeof s !== 'string');
          expect(finals.length).toBe(byKey.size);
          for (const summary of finals) {
            const values = byKey.get(summary.key)!;
            const distinct = new Map<number, number>();
            for (const v of values) distinct.set(v, (distinct.get(v) ?? 0) + 1);
            expect(summary.count).toBe(values.length);
            expect(summary.values).toEqual(sorted(values));
            expect(summary.sum).toBe(values.reduce((a, b) => a + b, 0));
            expect(summary.max).toBe(Math.max(...values));
            expect(summary.average).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 9);
            expect(summary.distinct).toEqual([...distinct.entries()].sort((a, b) => a[0] - b[0]));
          }
          // Processing-time timers: exactly one ping per key, fired by the clock or at end of input.
          const pings = summaries.filter((s): s is string => typeof s === 'string');
          expect(pings.sort()).toEqual([...byKey.keys()].map((k) => `ping:${k}`).sort());

          // Broadcast: each record once per subtask of the receiving operator.
          const broadcast = result.collected<{ value: number; subtask: number }>('broadcast');
          for (let s = 0; s < parallelism; s++) {
            const seen = broadcast.filter((r) => r.subtask === s).map((r) => r.value);
            expect(sorted(seen)).toEqual(sorted(other.filter((n) => n >= 0)));
          }
          expect(broadcast.length).toBe(other.filter((n) => n >= 0).length * parallelism);

          // Rebalance from one subtask into three.
          expect(sorted(result.collected<number>('rebalanced'))).toEqual(sorted(input.map((n) => n * 2)));
        },
      ),
      { numRuns: 9 },
    );
  });
});
