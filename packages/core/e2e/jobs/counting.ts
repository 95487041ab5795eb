import {
  type Collector,
  collectSink,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  type OnTimerContext,
  outputTag,
  valueState,
} from '@sluice/core';

export interface CountingArgs {
  readonly events: number;
  readonly keys: number;
  /** Parallelism of the keyed counter (the source runs at 1, so each key's records stay in order). */
  readonly counterParallelism?: number;
  /** Slows the source down, so that a test has time to checkpoint and crash it many times. */
  readonly ratePerSecond?: number;
  /** The counter's uid (default 'count-and-check'), to test restoring into an edited job. */
  readonly counterUid?: string;
  /** Throws on the record with this index, as long as `crashes[0]` is below `crashCount`. */
  readonly crashAt?: number;
  readonly crashCount?: number;
  readonly crashes?: SharedArrayBuffer;
  /** Throws once on each of these record indices (ascending), counting in `crashes[1]`. */
  readonly crashPoints?: readonly number[];
}

export interface Event {
  readonly key: number;
  readonly seq: number;
}

export interface KeyCount {
  readonly key: number;
  readonly count: number;
  readonly lastSeq: number;
}

export const alerts = outputTag<string>('alerts');

/**
 * Counts records per key and checks, as Flink's sequence-check tests do, that each key's
 * sequence numbers advance by exactly one — across failures and restores too. The final count
 * goes out once per key, when the end-of-input watermark fires the timer.
 */
class CountAndCheck implements KeyedProcessFunction<number, Event, KeyCount> {
  readonly count = valueState<number>('count');
  readonly lastSeq = valueState<number>('last-seq');

  processElement(event: Event, ctx: KeyedProcessContext<number>): void {
    const lastSeq = ctx.getState(this.lastSeq);
    const expected = (lastSeq.value() ?? -1) + 1;
    if (event.seq !== expected)
      ctx.output(alerts, `key ${event.key}: seq ${event.seq}, expected ${expected}`);
    lastSeq.update(event.seq);
    const count = ctx.getState(this.count);
    count.update((count.value() ?? 0) + 1);
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
  }

  onTimer(_timestamp: number, ctx: OnTimerContext<number>, out: Collector<KeyCount>): void {
    out.collect({
      key: ctx.key,
      count: ctx.getState(this.count).value() ?? 0,
      lastSeq: ctx.getState(this.lastSeq).value() ?? -1,
    });
  }
}

export default defineJob<CountingArgs>({ name: 'counting' }, (env, args) => {
  const { events, keys, counterParallelism, ratePerSecond, crashAt, crashCount, crashes, crashPoints } = args;
  const crashed = crashes === undefined ? undefined : new Int32Array(crashes);
  const counted = env
    .generate((i): Event => ({ key: i % keys, seq: Math.floor(i / keys) }), {
      count: events,
      ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
    })
    .setParallelism(1)
    .uid('events')
    .map((event) => {
      const index = event.key + event.seq * keys;
      if (crashed !== undefined && crashPoints !== undefined) {
        const done = Atomics.load(crashed, 1);
        if (done < crashPoints.length && index === crashPoints[done]) {
          Atomics.add(crashed, 1, 1);
          throw new Error(`injected failure ${done + 1} at event ${index}`);
        }
      }
      if (crashed !== undefined && index === crashAt && Atomics.load(crashed, 0) < (crashCount ?? 1)) {
        Atomics.add(crashed, 0, 1);
        throw new Error(`injected failure at event ${crashAt}`);
      }
      return event;
    })
    .setParallelism(1)
    .keyBy((e) => e.key)
    .process(new CountAndCheck())
    .uid(args.counterUid ?? 'count-and-check');
  if (counterParallelism !== undefined) counted.setParallelism(counterParallelism);
  counted.sinkTo(collectSink('counts')).uid('counts');
  counted.getSideOutput(alerts).sinkTo(collectSink('alerts')).uid('alerts');
});
