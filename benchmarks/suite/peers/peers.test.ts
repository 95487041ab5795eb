import { describe, expect, it } from 'vitest';
import { nexmarkConfig } from '../../nexmark/generator.ts';
import type { PlainQuery } from '../contestant.ts';
import { nodeStreamPeers } from './node-stream.ts';
import { rxjsPeers } from './rxjs.ts';

const plains: Record<string, () => Promise<PlainQuery>> = {
  q0: async () => (await import('../../nexmark/queries/q0.ts')).q0Plain as PlainQuery,
  q1: async () => (await import('../../nexmark/queries/q1.ts')).q1Plain as PlainQuery,
  q2: async () => (await import('../../nexmark/queries/q2.ts')).q2Plain as PlainQuery,
  q5: async () => (await import('../../nexmark/queries/q5.ts')).q5Plain as PlainQuery,
  q7: async () => (await import('../../nexmark/queries/q7.ts')).q7Plain as PlainQuery,
};

describe('peers', () => {
  const config = nexmarkConfig();
  // 60k events span 6 s of event time: several q5 and q7 windows close before the end.
  const events = 60_000;
  for (const [query, plain] of Object.entries(plains)) {
    it(`${query}: the RxJS and Node stream pipelines give the plain loop's output, in its order`, async () => {
      const expected: unknown[] = [];
      (await plain())(config, events, (out) => expected.push(out));
      expect(expected.length).toBeGreaterThan(0);
      for (const peers of [rxjsPeers, nodeStreamPeers]) {
        const actual: unknown[] = [];
        await peers[query]!(config, events, (out) => actual.push(out));
        expect(actual).toEqual(expected);
      }
    });
  }
});
