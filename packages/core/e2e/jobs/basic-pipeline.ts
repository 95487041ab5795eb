import { collectSink, defineJob } from '@sluice/core';

export interface BasicArgs {
  readonly input: readonly number[];
}

export interface Running {
  readonly key: number;
  readonly sum: number;
  readonly count: number;
}

/** map → filter → flatMap, and keyBy → rolling reduce. */
export default defineJob<BasicArgs>({ name: 'basic-pipeline' }, (env, { input }) => {
  env
    .fromCollection(input)
    .map((n) => n * 3)
    .filter((n) => n % 2 === 0)
    .flatMap((n, out) => {
      out.collect(n);
      if (n % 5 === 0) out.collect(-n);
      return undefined;
    })
    .sinkTo(collectSink('stateless'));

  env
    .fromCollection(input)
    .map((n): Running => ({ key: n % 7, sum: n, count: 1 }))
    .keyBy((r) => r.key)
    .reduce((a, b) => ({ key: a.key, sum: a.sum + b.sum, count: a.count + b.count }))
    .sinkTo(collectSink('rolling'));
});
