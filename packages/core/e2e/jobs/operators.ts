import {
  aggregatingState,
  average,
  type Collector,
  collectSink,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  listState,
  mapState,
  type OnTimerContext,
  outputTag,
  type ProcessContext,
  type ProcessFunction,
  type RuntimeContext,
  reducingState,
  valueState,
} from '@sluice/core';

export interface OperatorArgs {
  readonly input: readonly number[];
  readonly other: readonly number[];
}

export interface KeySummary {
  readonly key: number;
  readonly count: number;
  readonly sum: number;
  readonly average: number;
  readonly values: readonly number[];
  readonly distinct: ReadonlyArray<readonly [number, number]>;
  readonly max: number;
}

export const negatives = outputTag<number>('negatives');

/** Splits negatives into a side output; tags every record with the subtask that saw it. */
class SplitSigns implements ProcessFunction<number, { value: number; subtask: number }> {
  #subtask = -1;
  open(context: RuntimeContext): void {
    this.#subtask = context.subtaskIndex;
  }
  processElement(
    value: number,
    ctx: ProcessContext,
    out: Collector<{ value: number; subtask: number }>,
  ): void {
    if (value < 0) ctx.output(negatives, value);
    else out.collect({ value, subtask: this.#subtask });
  }
}

/**
 * Every kind of keyed state, scoped per key; an event-time timer at the end of time emits each
 * key's summary once (the final watermark fires it), and a processing-time timer marks that
 * processing time works too.
 */
class Summarize implements KeyedProcessFunction<number, number, KeySummary | string> {
  readonly count = valueState<number>('count', { defaultValue: 0 });
  readonly values = listState<number>('values');
  readonly distinct = mapState<number, number>('distinct');
  readonly max = reducingState<number>('max', (a, b) => Math.max(a, b));
  readonly average = aggregatingState(
    'average',
    average<number>((n) => n),
  );
  readonly pinged = valueState<boolean>('pinged');

  processElement(value: number, ctx: KeyedProcessContext<number>): void {
    const count = ctx.getState(this.count);
    count.update((count.value() ?? 0) + 1);
    ctx.getState(this.values).add(value);
    const distinct = ctx.getState(this.distinct);
    distinct.put(value, (distinct.get(value) ?? 0) + 1);
    ctx.getState(this.max).add(value);
    ctx.getState(this.average).add(value);
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
    const pinged = ctx.getState(this.pinged);
    if (!pinged.value()) {
      pinged.update(true);
      ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 5);
    }
  }

  onTimer(_timestamp: number, ctx: OnTimerContext<number>, out: Collector<KeySummary | string>): void {
    if (ctx.timeDomain === 'processing-time') {
      out.collect(`ping:${ctx.key}`);
      return;
    }
    const values = ctx.getState(this.values).get();
    out.collect({
      key: ctx.key,
      count: ctx.getState(this.count).value() ?? 0,
      sum: values.reduce((a, b) => a + b, 0),
      average: ctx.getState(this.average).get() ?? Number.NaN,
      values: [...values].sort((a, b) => a - b),
      distinct: [...ctx.getState(this.distinct).entries()].sort((a, b) => a[0] - b[0]),
      max: ctx.getState(this.max).get() ?? Number.NaN,
    });
  }
}

export default defineJob<OperatorArgs>({ name: 'operators' }, (env, { input, other }) => {
  const numbers = env.fromCollection(input).uid('numbers');
  const split = numbers.process(new SplitSigns()).uid('split-signs');
  split.sinkTo(collectSink('non-negative'));
  split.getSideOutput(negatives).sinkTo(collectSink('negatives'));

  // union of two sources, keyed state and timers per key
  numbers
    .union(env.fromCollection(other))
    .map((n) => n)
    .keyBy((n) => Math.abs(n) % 11)
    .process(new Summarize())
    .sinkTo(collectSink('summaries'));

  // broadcast: every subtask of the next operator sees every record
  env.fromCollection(other).broadcast().process(new SplitSigns()).sinkTo(collectSink('broadcast'));

  // rebalance into an operator with its own parallelism
  env
    .fromCollection(input)
    .setParallelism(1)
    .rebalance()
    .map((n) => n * 2)
    .setParallelism(3)
    .sinkTo(collectSink('rebalanced'));
});
