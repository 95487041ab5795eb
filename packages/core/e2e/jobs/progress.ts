import { collectSink, defineJob } from '@sluice/core';

export interface ProgressArgs {
  /** Records from a collection and as many from a bounded generator; unbounded generator when absent. */
  readonly count?: number;
}

/** Two sources (a collection and a generator) unioned and summed per key: progress counts both. */
export default defineJob<ProgressArgs>({ name: 'progress' }, (env, args) => {
  const generated = env.generate((i) => i, {
    ...(args.count === undefined ? { ratePerSecond: 200 } : { count: args.count }),
  });
  const stream =
    args.count === undefined
      ? generated
      : generated.union(env.fromCollection(Array.from({ length: args.count }, (_, i) => i)));
  stream
    .keyBy((n) => n % 7)
    .reduce((a, b) => a + b)
    .filter(() => args.count !== undefined)
    .sinkTo(collectSink('sums'));
});
