import { runJob } from '@sluice/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BasicArgs, Running } from './jobs/basic-pipeline.ts';

const job = new URL('./jobs/basic-pipeline.ts', import.meta.url);

function expectedStateless(input: readonly number[]): number[] {
  const out: number[] = [];
  for (const x of input) {
    const n = x * 3;
    if (n % 2 !== 0) continue;
    out.push(n);
    if (n % 5 === 0) out.push(-n);
  }
  return out;
}

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

describe('map, filter, flatMap and a rolling keyed reduce', () => {
  for (const parallelism of [1, 2, 4]) {
    it(`match a plain loop at parallelism ${parallelism}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: -10_000, max: 10_000 }), { maxLength: 3000 }),
          async (input) => {
            const result = await runJob<BasicArgs>(job, { parallelism, args: { input } });
            expect(sorted(result.collected<number>('stateless'))).toEqual(sorted(expectedStateless(input)));

            // Per key: one output per input record, running counts 1..n each exactly once, and the
            // record with count n carries the key's total. (With several source subtasks a key's
            // records interleave in any order, so intermediate sums are not fixed; the total is.)
            const totals = new Map<number, { sum: number; count: number }>();
            for (const n of input) {
              const t = totals.get(n % 7) ?? { sum: 0, count: 0 };
              totals.set(n % 7, { sum: t.sum + n, count: t.count + 1 });
            }
            const rolling = result.collected<Running>('rolling');
            expect(rolling.length).toBe(input.length);
            for (const [key, total] of totals) {
              const mine = rolling.filter((r) => r.key === key);
              expect(sorted(mine.map((r) => r.count))).toEqual(
                Array.from({ length: total.count }, (_, i) => i + 1),
              );
              expect(mine.find((r) => r.count === total.count)?.sum).toBe(total.sum);
            }
            if (parallelism === 1) {
              // One source subtask: each key's records arrive in input order, so every running sum is fixed.
              const running = new Map<number, number>();
              const expected = input.map((n) => {
                const sum = (running.get(n % 7) ?? 0) + n;
                running.set(n % 7, sum);
                return sum;
              });
              expect(sorted(rolling.map((r) => r.sum))).toEqual(sorted(expected));
            }
          },
        ),
        { numRuns: 4 },
      );
    });
  }
});
