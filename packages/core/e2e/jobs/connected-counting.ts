import { collectSink, defineJob, type KeyedCoProcessFunction, outputTag, valueState } from '@sluice/core';

export interface ConnectedCountingArgs {
  /** Records of the first input; the second has half as many. */
  readonly events: number;
  readonly keys: number;
  readonly ratePerSecond: number;
  /** Throws once on the first input's record with this index (counted in `crashes[0]`). */
  readonly crashAt: number;
  readonly crashes: SharedArrayBuffer;
}

export interface Tick {
  readonly key: number;
  readonly seq: number;
}

export interface BothCounts {
  readonly key: number;
  readonly first: number;
  readonly second: number;
}

export const gaps = outputTag<string>('gaps');

const counts = valueState<{ first: number; second: number; lastFirst: number; lastSecond: number }>('counts');

/**
 * Counts each key's records of both inputs in one state and checks that each input's sequence
 * numbers advance by one (each source runs at parallelism 1, so a key's records stay in order):
 * after a failure and a restore from a checkpoint, a record counted twice or lost shows.
 */
const countBoth: KeyedCoProcessFunction<number, Tick, Tick, BothCounts> = {
  processElement1(tick, ctx) {
    const c = ctx.getState(counts).value() ?? { first: 0, second: 0, lastFirst: -1, lastSecond: -1 };
    if (tick.seq !== c.lastFirst + 1)
      ctx.output(gaps, `key ${tick.key} first: ${tick.seq} after ${c.lastFirst}`);
    ctx.getState(counts).update({ ...c, first: c.first + 1, lastFirst: tick.seq });
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
  },
  processElement2(tick, ctx) {
    const c = ctx.getState(counts).value() ?? { first: 0, second: 0, lastFirst: -1, lastSecond: -1 };
    if (tick.seq !== c.lastSecond + 1)
      ctx.output(gaps, `key ${tick.key} second: ${tick.seq} after ${c.lastSecond}`);
    ctx.getState(counts).update({ ...c, second: c.second + 1, lastSecond: tick.seq });
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
  },
  onTimer(_t, ctx, out) {
    const c = ctx.getState(counts).value()!;
    out.collect({ key: ctx.key, first: c.first, second: c.second });
  },
};

/** Two rate-limited inputs into one keyed co-process function, with one injected failure. */
export default defineJob<ConnectedCountingArgs>({ name: 'connected-counting' }, (env, args) => {
  const { events, keys, ratePerSecond, crashAt, crashes } = args;
  const crashed = new Int32Array(crashes);
  const first = env
    .generate((i): Tick => ({ key: i % keys, seq: Math.floor(i / keys) }), { count: events, ratePerSecond })
    .setParallelism(1)
    .uid('first')
    .map((tick) => {
      if (tick.key * 1 + tick.seq * keys === crashAt && Atomics.add(crashed, 0, 1) === 0) {
        throw new Error(`injected failure at record ${crashAt}`);
      }
      return tick;
    })
    .uid('crash');
  const second = env
    .generate((i): Tick => ({ key: i % keys, seq: Math.floor(i / keys) }), {
      count: events / 2,
      ratePerSecond: ratePerSecond / 2,
    })
    .setParallelism(1)
    .uid('second');
  const counted = first
    .keyBy((t) => t.key)
    .connect(second.keyBy((t) => t.key))
    .process(countBoth)
    .uid('count-both');
  counted.sinkTo(collectSink('counts')).uid('counts');
  counted.getSideOutput(gaps).sinkTo(collectSink('gaps')).uid('gaps');
});
