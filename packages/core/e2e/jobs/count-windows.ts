import { collectSink, defineJob, type ProcessWindowFunction, type Source, valueState } from '@sluice/core';

export interface Item {
  readonly key: string;
  readonly v: number;
}

export interface CountWindowArgs {
  readonly size: number;
  /** Sliding count windows (`countWindow(size, slide)`); without: tumbling (`countWindow(size)`). */
  readonly slide?: number;
}

/** Stands in for any unbounded source: the tests drive it. */
const items: Source<Item> = {
  name: 'items',
  boundedness: 'unbounded',
  createReader: () => ({ poll: () => 1 }),
};

const firings = valueState<number>('firings', { defaultValue: 0 });

/** `<key>#<firing of this key's window>:<values>`: the firing number lives in window state. */
const listWithFiring: ProcessWindowFunction<Item, string, string> = {
  process(key, ctx, elements, out) {
    const own = ctx.windowState().getState(firings);
    own.update(own.value()! + 1);
    out.collect(`${key}#${own.value()}:${elements.map((e) => e.v).join(',')}`);
  },
};

/**
 * Count windows per key. The source runs at parallelism 1 so that each key's elements reach its
 * window in the order sent (count windows depend on it); the windows run at the job's parallelism.
 */
export default defineJob<CountWindowArgs>({ name: 'count-windows' }, (env, args) => {
  const keyed = env.fromSource(items, { uid: 'items', parallelism: 1 }).keyBy((item) => item.key);
  const windowed =
    args.slide === undefined ? keyed.countWindow(args.size) : keyed.countWindow(args.size, args.slide);
  windowed.process(listWithFiring).uid('count-windows').sinkTo(collectSink('windows')).uid('windows');
});
