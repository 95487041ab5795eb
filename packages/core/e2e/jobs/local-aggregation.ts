import { type AggregateFunction, collectSink, defineJob, type Source, sliding, tumbling } from '@sluice/core';

export interface Reading {
  readonly key: string;
  readonly v: number;
}

export interface LocalAggregationArgs {
  readonly window: 'tumbling' | 'sliding';
  readonly fn: 'reduce' | 'aggregate';
}

export const SIZE = 100;
export const SLIDE = 40;

/** Stands in for any unbounded source: the tests drive it, records with their event time. */
const readings: Source<Reading> = {
  name: 'readings',
  boundedness: 'unbounded',
  emitsTimestamps: true,
  createReader: () => ({ poll: () => 1 }),
};

const countAndSum: AggregateFunction<Reading, [number, number], string> = {
  createAccumulator: () => [0, 0],
  add: (r, [n, s]) => [n + 1, s + r.v],
  getResult: ([n, s]) => `${n}/${s}`,
  merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
};

/** `key|start|result` per window: an event-time window whose input is pre-aggregated before the keyBy. */
export default defineJob<LocalAggregationArgs>({ name: 'local-aggregation' }, (env, args) => {
  const windowed = env
    .fromSource(readings, { uid: 'readings' })
    .keyBy((r) => r.key)
    .window(args.window === 'tumbling' ? tumbling(SIZE) : sliding(SIZE, SLIDE));
  const results =
    args.fn === 'reduce'
      ? windowed.reduce(
          (a, b) => ({ key: a.key, v: a.v + b.v }),
          (key, w, r) => `${key}|${w.start}|${r.v}`,
        )
      : windowed.aggregate(countAndSum, (key, w, value) => `${key}|${w.start}|${value}`);
  results.uid('windows').sinkTo(collectSink('windows')).uid('windows-sink');
});
