import {
  collectSink,
  type DataStream,
  defineJob,
  type KeyedProcessFunction,
  type Sink,
  tumbling,
} from '@sluice/core';

/** The user function that throws, one per kind of operator. */
export type FailingFunction =
  | 'map'
  | 'flatMap'
  | 'filter'
  | 'process'
  | 'sink'
  | 'timestamps'
  | 'key-selector'
  | 'keyed-process'
  | 'keyed-timer'
  | 'reduce'
  | 'window-reduce'
  | 'window-process';

export interface FailingFunctionsArgs {
  readonly fails: FailingFunction;
  /** Whether the failing operator is chained to the source (else a rebalance comes first). */
  readonly chained: boolean;
  readonly count: number;
  /** The record whose `n` makes the function throw. */
  readonly poison: number;
}

export interface Item {
  readonly n: number;
  readonly tag: string;
}

const boom = (where: string, item: Item): Error => new Error(`${where} boom at ${item.n}`);

/** Jobs in which exactly one user function throws, on the record `{ n: poison }` (or its key's timer). */
export default defineJob<FailingFunctionsArgs>({ name: 'failing-functions' }, (env, args) => {
  const { fails, chained, count, poison } = args;
  const source = env.generate((n): Item => ({ n, tag: `item-${n}` }), { count });
  const input: DataStream<Item> = chained ? source : source.rebalance();
  const check =
    (where: string) =>
    (item: Item): Item => {
      if (item.n === poison) throw boom(where, item);
      return item;
    };
  const out = collectSink<unknown>('out');
  const keyedProcess: KeyedProcessFunction<number, Item, Item> = {
    processElement(item, _ctx, collector) {
      check('keyed process')(item);
      collector.collect(item);
    },
  };
  const keyedTimer: KeyedProcessFunction<number, Item, Item> = {
    processElement(item, ctx) {
      ctx.timerService.registerEventTimeTimer(item.n === poison ? 1_000_000 : 0);
    },
    onTimer(timestamp) {
      if (timestamp === 1_000_000) throw new Error(`onTimer boom at ${timestamp}`);
    },
  };
  // Timestamps assigned in the source's subtask, where each subtask's records come in order: none is late.
  const stamped = () => {
    const inOrder = source.assignTimestamps({ timestamp: (item) => item.n });
    return chained ? inOrder : inOrder.rebalance();
  };
  switch (fails) {
    case 'map':
      input.map(check('map')).sinkTo(out);
      return;
    case 'flatMap':
      input.flatMap((item, collector) => collector.collect(check('flatMap')(item))).sinkTo(out);
      return;
    case 'filter':
      input.filter((item) => check('filter')(item) === item).sinkTo(out);
      return;
    case 'process':
      input
        .process<Item>({
          processElement(item, _ctx, collector) {
            check('process')(item);
            collector.collect(item);
          },
        })
        .sinkTo(out);
      return;
    case 'sink': {
      const failing: Sink<Item> = { name: 'failing-sink', createWriter: () => ({ write: check('sink') }) };
      input.sinkTo(failing);
      return;
    }
    case 'timestamps':
      input
        .assignTimestamps({
          timestamp: (item) => {
            check('timestamp')(item);
            return item.n;
          },
        })
        .sinkTo(out);
      return;
    case 'key-selector':
      input
        .keyBy((item) => {
          check('key selector')(item);
          return item.n % 7;
        })
        .reduce((a) => a)
        .sinkTo(out);
      return;
    case 'keyed-process':
      input
        .keyBy((item) => item.n % 7)
        .process(keyedProcess)
        .sinkTo(out);
      return;
    case 'keyed-timer':
      stamped()
        .keyBy((item) => item.n % 7)
        .process(keyedTimer)
        .sinkTo(out);
      return;
    case 'reduce':
      input
        .keyBy((item) => item.n % 7)
        .reduce((_, b) => check('reduce')(b))
        .sinkTo(out);
      return;
    case 'window-reduce':
      stamped()
        .keyBy((item) => item.n % 7)
        .window(tumbling(100))
        .reduce((_, b) => check('window reduce')(b))
        .sinkTo(out);
      return;
    case 'window-process':
      stamped()
        .keyBy((item) => item.n % 7)
        .window(tumbling(100))
        .process<number>({
          process(key, ctx, elements, collector) {
            for (const item of elements) check('window process')(item);
            collector.collect(key + ctx.window.start);
          },
        })
        .sinkTo(out);
      return;
  }
});
