import { runJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import type { Meeting, SelfConnectedArgs } from './jobs/self-connected.ts';

const job = new URL('./jobs/self-connected.ts', import.meta.url);

describe('a stream connected to itself', () => {
  for (const parallelism of [1, 2, 4]) {
    it(`routes each input by its own key selector and feeds both inputs every record (parallelism ${parallelism})`, async () => {
      const numbers = Array.from({ length: 5_000 }, (_, i) => (i * 7919) % 10_007);
      const result = await runJob<SelfConnectedArgs>(job, { parallelism, args: { numbers } });
      // The plain loop: per key, the numbers with that key by n % 7 and by n % 5.
      const expected = new Map<number, { byFirst: number; bySecond: number }>();
      for (const n of numbers) {
        for (const [key, field] of [
          [n % 7, 'byFirst'],
          [n % 5, 'bySecond'],
        ] as const) {
          const e = expected.get(key) ?? { byFirst: 0, bySecond: 0 };
          expected.set(key, { ...e, [field]: e[field] + 1 });
        }
      }
      const meetings = result.collected<Meeting>('meetings').sort((a, b) => a.key - b.key);
      expect(meetings).toEqual([...expected].sort(([a], [b]) => a - b).map(([key, e]) => ({ key, ...e })));
      expect(result.collected<number>('both').sort((a, b) => a - b)).toEqual(
        [...numbers.map((n) => -1 - n), ...numbers].sort((a, b) => a - b),
      );
    }, 60_000);
  }
});
