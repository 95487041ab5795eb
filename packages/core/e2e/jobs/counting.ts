import {
  type Collector,
  collectSink,
  defineJob,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  type OnTimerContext,
  outputTag,
  PollStatus,
  type Source,
  type SourceOutput,
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
  /**
   * The source ends only once `endGate[0]` is 1 (it waits at the end of its input, taking part
   * in checkpoints), so that a test can fail the job as often as it wants however slow the machine.
   */
  readonly endGate?: SharedArrayBuffer;
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

/** Event i of `events`, at most `ratePerSecond`, then waiting at the end until the gate opens. */
function gatedSource(
  events: number,
  keys: number,
  ratePerSecond: number,
  gate: SharedArrayBuffer,
): Source<Event> {
  const open = new Int32Array(gate);
  return {
    name: 'gated-events',
    boundedness: 'bounded',
    maxParallelism: 1,
    createReader(context) {
      let next = (context.restoredState?.[0] as { next: number } | undefined)?.next ?? 0;
      // Records per poll at the rate, one poll per millisecond.
      const perPoll = Math.max(1, Math.floor(ratePerSecond / 1000));
      return {
        poll(output: SourceOutput<Event>, maxRecords: number) {
          if (next >= events) return Atomics.load(open, 0) === 1 ? PollStatus.End : { sleepMs: 5 };
          const end = Math.min(events, next + Math.min(maxRecords, perPoll));
          for (; next < end; next++) output.collect({ key: next % keys, seq: Math.floor(next / keys) });
          return { sleepMs: 1 };
        },
        snapshotState: () => [{ next }],
      };
    },
  };
}

export default defineJob<CountingArgs>({ name: 'counting' }, (env, args) => {
  const { events, keys, counterParallelism, ratePerSecond, crashAt, crashCount, crashes, crashPoints } = args;
  const crashed = crashes === undefined ? undefined : new Int32Array(crashes);
  const source =
    args.endGate === undefined
      ? env.generate((i): Event => ({ key: i % keys, seq: Math.floor(i / keys) }), {
          count: events,
          ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
        })
      : env.fromSource(gatedSource(events, keys, ratePerSecond ?? 100_000, args.endGate), { name: 'events' });
  const counted = source
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
