import { collectSink, defineJob, type KeyedCoProcessFunction, valueState } from '@sluice/core';

export interface SelfConnectedArgs {
  readonly numbers: readonly number[];
}

export interface Meeting {
  readonly key: number;
  readonly byFirst: number;
  readonly bySecond: number;
}

const seen = valueState<{ byFirst: number; bySecond: number }>('seen');

/** Counts, per key, how many numbers arrived with that key by each input's own key selector. */
const countBoth: KeyedCoProcessFunction<number, number, number, Meeting> = {
  processElement1(_n, ctx) {
    const s = ctx.getState(seen).value() ?? { byFirst: 0, bySecond: 0 };
    ctx.getState(seen).update({ ...s, byFirst: s.byFirst + 1 });
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
  },
  processElement2(_n, ctx) {
    const s = ctx.getState(seen).value() ?? { byFirst: 0, bySecond: 0 };
    ctx.getState(seen).update({ ...s, bySecond: s.bySecond + 1 });
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
  },
  onTimer(_t, ctx, out) {
    out.collect({ key: ctx.key, ...ctx.getState(seen).value()! });
  },
};

/**
 * One bounded stream connected to itself, keyed two ways (n % 7 and n % 5): each edge must route
 * by its own input's key selector, though both leave the same operator.
 */
export default defineJob<SelfConnectedArgs>({ name: 'self-connected' }, (env, { numbers }) => {
  const source = env.fromCollection(numbers).assignTimestamps({ timestamp: () => 0 });
  source
    .keyBy((n) => n % 7)
    .connect(source.keyBy((n) => n % 5))
    .process(countBoth)
    .sinkTo(collectSink('meetings'));
  source
    .connect(source)
    .map({ map1: (n) => n, map2: (n) => -1 - n })
    .sinkTo(collectSink('both'));
});
