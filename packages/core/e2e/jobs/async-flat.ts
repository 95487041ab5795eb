import { collectSink, defineJob } from '@sluice/core';

/** flatMapAsync: 0..2 results per record (v % 3 of them), after a few microtasks. */
export default defineJob<{ input: readonly number[]; ordered: boolean }>(
  { name: 'async-flat' },
  (env, args) => {
    env
      .fromCollection(args.input)
      .rebalance()
      .flatMapAsync(
        async (v) => {
          for (let i = 0; i < (v & 3); i++) await null;
          return Array.from({ length: Math.abs(v) % 3 }, (_, i) => `${v}:${i}`);
        },
        { ordered: args.ordered, capacity: 8 },
      )
      .sinkTo(collectSink('out'));
  },
);
