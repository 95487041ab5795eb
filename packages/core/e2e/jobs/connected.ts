import {
  type BroadcastProcessFunction,
  type Collector,
  collectSink,
  defineJob,
  type KeyedCoProcessFunction,
  type KeyedProcessContext,
  mapState,
  type OnTimerContext,
  outputTag,
  type Source,
  valueState,
} from '@sluice/core';

export interface Left {
  readonly k: string;
  readonly v: number;
}

export interface Right {
  readonly k: string;
  readonly w: number;
}

/** What the keyed co-process function reports for a key: both inputs' records, from one shared state. */
export interface KeyTotals {
  readonly k: string;
  readonly sumLeft: number;
  readonly countRight: number;
  readonly fired: 'event-time' | 'processing-time';
}

/** An event-time timer of the watermark pipeline, with the watermark it fired at. */
export interface Fired {
  readonly k: string;
  readonly timer: number;
  readonly watermark: number;
}

export interface Passed {
  readonly k: string;
  readonly v: number;
  readonly min: number;
}

/** Fires once at the end of a bounded input (the final watermark): after every record. */
export const END_TIMER = 1e15;

/** Stand-ins for Kafka topics whose records carry event timestamps: the tests feed them. */
function topic<T>(name: string): Source<T> {
  return { name, boundedness: 'unbounded', emitsTimestamps: true, createReader: () => ({ poll: () => 1 }) };
}

const totals = valueState<{ sumLeft: number; countRight: number }>('totals');
const timerSet = valueState<boolean>('processing-timer-set');

/** One state per key, written by both inputs: the left side sums, the right side counts. */
class SharedTotals implements KeyedCoProcessFunction<string, Left, Right, KeyTotals> {
  processElement1(left: Left, ctx: KeyedProcessContext<string>): void {
    const state = ctx.getState(totals);
    const now = state.value() ?? { sumLeft: 0, countRight: 0 };
    state.update({ sumLeft: now.sumLeft + left.v, countRight: now.countRight });
    this.#armTimers(ctx);
  }

  processElement2(_right: Right, ctx: KeyedProcessContext<string>): void {
    const state = ctx.getState(totals);
    const now = state.value() ?? { sumLeft: 0, countRight: 0 };
    state.update({ sumLeft: now.sumLeft, countRight: now.countRight + 1 });
    this.#armTimers(ctx);
  }

  #armTimers(ctx: KeyedProcessContext<string>): void {
    ctx.timerService.registerEventTimeTimer(END_TIMER);
    const set = ctx.getState(timerSet);
    if (set.value() !== true) {
      set.update(true);
      ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 1_000);
    }
  }

  onTimer(_timestamp: number, ctx: OnTimerContext<string>, out: Collector<KeyTotals>): void {
    const now = ctx.getState(totals).value()!;
    out.collect({ k: ctx.key, sumLeft: now.sumLeft, countRight: now.countRight, fired: ctx.timeDomain });
  }
}

/** Registers an event-time timer at each record's timestamp: they fire when both inputs' watermarks pass it. */
const watermarkProbe: KeyedCoProcessFunction<string, Left, Right, Fired> = {
  processElement1(_left, ctx) {
    ctx.timerService.registerEventTimeTimer(ctx.timestamp!);
  },
  processElement2(_right, ctx) {
    ctx.timerService.registerEventTimeTimer(ctx.timestamp!);
  },
  onTimer(timestamp, ctx, out) {
    out.collect({ k: ctx.key, timer: timestamp, watermark: ctx.timerService.currentWatermark() });
  },
};

export const minimums = mapState<string, number>('minimums');

/** Right records set a per-key minimum in broadcast state; left records pass when they reach it. */
const thresholdFilter: BroadcastProcessFunction<Left, Right, Passed> = {
  processElement(left, ctx, out) {
    const min = ctx.getBroadcastState(minimums).get(left.k);
    if (min !== undefined && left.v >= min) out.collect({ k: left.k, v: left.v, min });
  },
  processBroadcastElement(right, ctx) {
    ctx.getBroadcastState(minimums).put(right.k, right.w);
  },
};

export const oddRight = outputTag<Right>('odd-right');

/** Every kind of connect() on the same two inputs, each into its own sink; broadcast state from a third. */
export default defineJob({ name: 'connected' }, (env) => {
  const left = env.fromSource(topic<Left>('left'), { uid: 'left' });
  const right = env.fromSource(topic<Right>('right'), { uid: 'right' });

  left
    .connect(right)
    .map<string>({ map1: (l) => `L:${l.k}:${l.v}`, map2: (r) => `R:${r.k}:${r.w}` })
    .uid('co-map')
    .sinkTo(collectSink('co-map'))
    .uid('co-map-out');

  left
    .connect(right)
    .flatMap<number>({
      flatMap1: (l) => [l.v, l.v],
      flatMap2: (r, out) => {
        out.collect(-r.w);
      },
    })
    .uid('co-flat-map')
    .sinkTo(collectSink('co-flat-map'))
    .uid('co-flat-map-out');

  const routed = left
    .connect(right)
    .process<string>({
      processElement1(l, ctx, out) {
        out.collect(`${l.k}@${ctx.timestamp}`);
      },
      processElement2(r, ctx, out) {
        if (r.w % 2 === 1) ctx.output(oddRight, r);
        else out.collect(`${r.k}#${r.w}`);
      },
    })
    .uid('co-process');
  routed.sinkTo(collectSink('co-process')).uid('co-process-out');
  routed.getSideOutput(oddRight).sinkTo(collectSink('odd-right')).uid('odd-right-out');

  left
    .keyBy((l) => l.k)
    .connect(right.keyBy((r) => r.k))
    .process(new SharedTotals())
    .uid('totals')
    .sinkTo(collectSink('totals'))
    .uid('totals-out');

  left
    .connect(right)
    .keyBy(
      (l) => l.k,
      (r) => r.k,
    )
    .process(watermarkProbe)
    .uid('watermarks')
    .sinkTo(collectSink('watermarks'))
    .uid('watermarks-out');

  // An input whose subtasks are idle after a second without records: it stops holding the watermark back.
  const quiet = env
    .fromSource(topic<Right>('quiet'), { uid: 'quiet' })
    .assignTimestamps({ timestamp: (_r, previous) => previous ?? 0, idleTimeout: 1_000 });
  left
    .keyBy((l) => l.k)
    .connect(quiet.keyBy((r) => r.k))
    .process(watermarkProbe)
    .uid('idle-watermarks')
    .sinkTo(collectSink('idle-watermarks'))
    .uid('idle-watermarks-out');

  const limits = env.fromSource(topic<Right>('limits'), { uid: 'limits' });
  left
    .connect(limits.broadcast(minimums))
    .process(thresholdFilter)
    .uid('thresholds')
    .sinkTo(collectSink('thresholds'))
    .uid('thresholds-out');
});
