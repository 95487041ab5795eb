import {
  type Collector,
  collectSink,
  defineJob,
  type KeyedCoProcessFunction,
  type KeyedProcessContext,
  type KeyedProcessFunction,
  type OnTimerContext,
  valueState,
} from '@sluice/core';

export interface StringKeysArgs {
  /**
   * The key of each event, as UTF-16 code units: the keys under test include lone surrogates,
   * and code units reach the job (and come back from it) whatever the record codec does to them.
   */
  readonly keyUnits: readonly (readonly number[])[];
  readonly counterParallelism?: number;
  /** Counts the key selector's calls (Atomics, word 0): the keyed path runs it once a record. */
  readonly selectorCalls?: SharedArrayBuffer;
  /** Slows the source down, so that a test can stop it with a savepoint part way. */
  readonly ratePerSecond?: number;
  /**
   * Splits the events over two sources (even and odd `seq`) connected and keyed by the same key,
   * counted by a keyed co-process function: keys carried on both inputs of a two-input operator.
   */
  readonly twoInputs?: boolean;
}

export interface Event {
  readonly key: string;
  readonly seq: number;
}

/** A key's final count; the key as code units (see {@link StringKeysArgs.keyUnits}). */
export interface UnitsCount {
  readonly units: number[];
  readonly count: number;
}

export function unitsOf(key: string): number[] {
  const units: number[] = [];
  for (let i = 0; i < key.length; i++) units.push(key.charCodeAt(i));
  return units;
}

/** Counts records per key; the final count goes out once per key, at the end-of-input watermark. */
class CountPerKey implements KeyedProcessFunction<string, Event, UnitsCount> {
  readonly count = valueState<number>('count');

  processElement(_event: Event, ctx: KeyedProcessContext<string>): void {
    const count = ctx.getState(this.count);
    count.update((count.value() ?? 0) + 1);
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
  }

  onTimer(_timestamp: number, ctx: OnTimerContext<string>, out: Collector<UnitsCount>): void {
    out.collect({ units: unitsOf(ctx.key), count: ctx.getState(this.count).value() ?? 0 });
  }
}

/** {@link CountPerKey} over both inputs of a connected keyed stream: one count per key. */
class CountPerKeyOfBoth implements KeyedCoProcessFunction<string, Event, Event, UnitsCount> {
  readonly count = valueState<number>('count');

  processElement1(_event: Event, ctx: KeyedProcessContext<string>): void {
    this.#add(ctx);
  }

  processElement2(_event: Event, ctx: KeyedProcessContext<string>): void {
    this.#add(ctx);
  }

  #add(ctx: KeyedProcessContext<string>): void {
    const count = ctx.getState(this.count);
    count.update((count.value() ?? 0) + 1);
    ctx.timerService.registerEventTimeTimer(Number.MAX_SAFE_INTEGER);
  }

  onTimer(_timestamp: number, ctx: OnTimerContext<string>, out: Collector<UnitsCount>): void {
    out.collect({ units: unitsOf(ctx.key), count: ctx.getState(this.count).value() ?? 0 });
  }
}

/** Keyed counts over string keys (lone surrogates included): the key the state sees is the key selected. */
export default defineJob<StringKeysArgs>({ name: 'string-keys' }, (env, args) => {
  const keys = args.keyUnits.map((units) => String.fromCharCode(...units));
  const calls = args.selectorCalls === undefined ? undefined : new Int32Array(args.selectorCalls);
  const selectKey = (event: Event): string => {
    if (calls !== undefined) Atomics.add(calls, 0, 1);
    return event.key;
  };
  if (args.twoInputs === true) {
    const half = (parity: number) => {
      const own = keys.filter((_, i) => i % 2 === parity);
      return env
        .generate((i): Event => ({ key: own[i]!, seq: 2 * i + parity }), { count: own.length })
        .setParallelism(1)
        .uid(parity === 0 ? 'even-events' : 'odd-events');
    };
    const counted = half(0)
      .connect(half(1))
      .keyBy(selectKey, selectKey)
      .process(new CountPerKeyOfBoth())
      .uid('count-per-key');
    if (args.counterParallelism !== undefined) counted.setParallelism(args.counterParallelism);
    counted.sinkTo(collectSink('counts')).uid('counts');
    return;
  }
  const counted = env
    .generate((i): Event => ({ key: keys[i]!, seq: i }), {
      count: keys.length,
      ...(args.ratePerSecond === undefined ? {} : { ratePerSecond: args.ratePerSecond }),
    })
    .setParallelism(1)
    .uid('events')
    .keyBy(selectKey)
    .process(new CountPerKey())
    .uid('count-per-key');
  if (args.counterParallelism !== undefined) counted.setParallelism(args.counterParallelism);
  counted.sinkTo(collectSink('counts')).uid('counts');
});
