import {
  type AggregateFunction,
  collectSink,
  countEvictor,
  defineJob,
  eventTimeTrigger,
  outputTag,
  type ProcessWindowFunction,
  session,
  sliding,
  tumbling,
  type WindowAssigner,
} from '@sluice/core';
import type { ModelAssigner, ModelEvent } from '../flink-window-model.ts';

export interface Firing {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** reduce: sum of v; aggregate: `${count}/${sum}`; process: sorted v joined by ','. */
  readonly value: string;
}

export type FiringFunction = 'reduce' | 'aggregate' | 'process';

export interface FiringArgs {
  readonly events: readonly ModelEvent[];
  readonly assigner: ModelAssigner;
  readonly fn: FiringFunction;
  readonly allowedLateness: number;
  /** maxOutOfOrderness of the watermark generator. */
  readonly bound: number;
  /**
   * Which operator runs the windows: the default time windows' own, or the triggered one (by
   * naming the event-time trigger explicitly, or adding an evictor that never evicts).
   */
  readonly via?: 'default' | 'trigger' | 'evictor';
  /** Late records go to the 'late' side output (default), or are dropped and counted. */
  readonly lateSideOutput?: boolean;
  /** `aggregate` with an AggregateFunction that changes its accumulators in place (`add` and `merge`). */
  readonly inPlace?: boolean;
}

function assignerFor(spec: ModelAssigner): WindowAssigner {
  switch (spec.kind) {
    case 'tumbling':
      return tumbling(spec.size);
    case 'sliding':
      return sliding(spec.size, spec.slide);
    case 'session':
      return session(spec.gap);
  }
}

const countAndSum: AggregateFunction<ModelEvent, [number, number], string> = {
  createAccumulator: () => [0, 0],
  add: (e, [n, s]) => [n + 1, s + e.v],
  getResult: ([n, s]) => `${n}/${s}`,
  merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
};

/** As countAndSum, changing accumulators in place: windows must never share one. */
const countAndSumInPlace: AggregateFunction<ModelEvent, { n: number; s: number }, string> = {
  createAccumulator: () => ({ n: 0, s: 0 }),
  add: (e, acc) => {
    acc.n++;
    acc.s += e.v;
    return acc;
  },
  getResult: ({ n, s }) => `${n}/${s}`,
  merge: (a, b) => {
    if (a.n === 0) return b;
    a.n += b.n;
    a.s += b.s;
    return a;
  },
};

const listAll: ProcessWindowFunction<ModelEvent, Firing, string> = {
  process(key, ctx, elements, out) {
    const values = elements.map((e) => e.v).sort((a, b) => a - b);
    out.collect({ key, start: ctx.window.start, end: ctx.window.end, value: values.join(',') });
  },
};

export const lateTag = outputTag<ModelEvent>('late');

/**
 * Every firing of keyed event-time windows, collected in the order each subtask emits them. The
 * source and timestamps run at parallelism 1: with `sourceBatchSize: 1` a watermark follows every
 * record, so the watermark each record meets is fixed by the input order.
 */
export default defineJob<FiringArgs>({ name: 'window-firings' }, (env, args) => {
  const source = env.fromCollection(args.events).setParallelism(1);
  const stream = source
    .assignTimestamps({ timestamp: (e) => e.ts, maxOutOfOrderness: args.bound })
    .setParallelism(1);
  const windowed = stream
    .keyBy((e) => e.key)
    .window(assignerFor(args.assigner))
    .allowedLateness(args.allowedLateness);
  if (args.lateSideOutput !== false) windowed.sideOutputLateData(lateTag);
  if (args.via === 'trigger') windowed.trigger(eventTimeTrigger());
  if (args.via === 'evictor') windowed.evictor(countEvictor(1_000_000));
  const results =
    args.fn === 'reduce'
      ? windowed.reduce(
          (a, b) => ({ key: a.key, ts: a.ts, v: a.v + b.v }),
          (key, w, e): Firing => ({ key, start: w.start, end: w.end, value: String(e.v) }),
        )
      : args.fn === 'aggregate'
        ? args.inPlace === true
          ? windowed.aggregate(
              countAndSumInPlace,
              (key, w, value): Firing => ({ key, start: w.start, end: w.end, value }),
            )
          : windowed.aggregate(
              countAndSum,
              (key, w, value): Firing => ({ key, start: w.start, end: w.end, value }),
            )
        : windowed.process(listAll);
  results.sinkTo(collectSink('firings'));
  results.getSideOutput(lateTag).sinkTo(collectSink('late'));
});
