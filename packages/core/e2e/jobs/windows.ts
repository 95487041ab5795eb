import {
  type AggregateFunction,
  collectSink,
  defineJob,
  outputTag,
  type ProcessWindowFunction,
  session,
  sliding,
  tumbling,
  type WindowAssigner,
} from '@sluice/core';

export interface Event {
  readonly key: string;
  readonly ts: number;
  readonly v: number;
}

export interface WindowResult {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** reduce: sum of v; aggregate: `${count}/${sum}`; process: sorted v joined by ','. */
  readonly value: string;
}

export type AssignerKind = 'tumbling' | 'sliding' | 'session';
export type FunctionKind = 'reduce' | 'aggregate' | 'process';

export interface WindowArgs {
  readonly events: readonly Event[];
  readonly assigner: AssignerKind;
  readonly fn: FunctionKind;
  readonly maxOutOfOrderness: number;
  readonly time?: 'event' | 'processing';
  readonly allowedLateness?: number;
  /** Run the source (and timestamp assigner) at parallelism 1, so watermarks follow input order. */
  readonly singleSource?: boolean;
}

export const SIZE = 100;
export const SLIDE = 40;
export const GAP = 30;

export function assignerFor(kind: AssignerKind, time: 'event' | 'processing'): WindowAssigner {
  switch (kind) {
    case 'tumbling':
      return tumbling(SIZE, { time });
    case 'sliding':
      return sliding(SIZE, SLIDE, { time });
    case 'session':
      return session(GAP, { time });
  }
}

const countAndSum: AggregateFunction<Event, [number, number], string> = {
  createAccumulator: () => [0, 0],
  add: (e, [n, s]) => [n + 1, s + e.v],
  getResult: ([n, s]) => `${n}/${s}`,
  merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
};

const listAll: ProcessWindowFunction<Event, WindowResult, string> = {
  process(key, ctx, elements, out) {
    const values = elements.map((e) => e.v).sort((a, b) => a - b);
    out.collect({ key, start: ctx.window.start, end: ctx.window.end, value: values.join(',') });
  },
};

export const lateTag = outputTag<Event>('late');

/** Keyed windows of every kind with every window function, results and late records collected. */
export default defineJob<WindowArgs>({ name: 'windows' }, (env, args) => {
  const source = env.fromCollection(args.events);
  const stream = source.assignTimestamps({
    timestamp: (e) => e.ts,
    maxOutOfOrderness: args.maxOutOfOrderness,
  });
  if (args.singleSource) {
    source.setParallelism(1);
    stream.setParallelism(1);
  }
  const windowed = stream.keyBy((e) => e.key).window(assignerFor(args.assigner, args.time ?? 'event'));
  if (args.allowedLateness !== undefined) windowed.allowedLateness(args.allowedLateness);
  windowed.sideOutputLateData(lateTag);
  const results =
    args.fn === 'reduce'
      ? windowed.reduce(
          (a, b) => ({ key: a.key, ts: a.ts, v: a.v + b.v }),
          (key, w, e): WindowResult => ({ key, start: w.start, end: w.end, value: String(e.v) }),
        )
      : args.fn === 'aggregate'
        ? windowed.aggregate(
            countAndSum,
            (key, w, value): WindowResult => ({ key, start: w.start, end: w.end, value }),
          )
        : windowed.process(listAll);
  results.sinkTo(collectSink('results'));
  results.getSideOutput(lateTag).sinkTo(collectSink('late'));
});
