import {
  collectSink,
  count,
  defineJob,
  reducingState,
  type Source,
  type Trigger,
  tumbling,
} from '@sluice/core';

/** Stands in for any unbounded source: the tests drive it. */
const keys: Source<string> = {
  name: 'keys',
  boundedness: 'unbounded',
  createReader: () => ({ poll: () => 1 }),
};

const seen = reducingState<number>('seen', (a, b) => a + b);

/** Early firing every 3 elements, then the final result (purged) when processing time ends the window. */
const every3AndAtEnd: Trigger<unknown> = {
  onElement(_e, _ts, window, ctx) {
    ctx.registerProcessingTimeTimer(window.end - 1);
    const state = ctx.getPartitionedState(seen);
    state.add(1);
    return state.get()! % 3 === 0 ? 'FIRE' : 'CONTINUE';
  },
  onEventTime: () => 'CONTINUE',
  onProcessingTime: (time, window) => (time === window.end - 1 ? 'FIRE_AND_PURGE' : 'CONTINUE'),
  clear(window, ctx) {
    ctx.getPartitionedState(seen).clear();
    ctx.deleteProcessingTimeTimer(window.end - 1);
  },
  describe: () => 'Every3AndAtEnd',
};

/** Processing-time windows of 1 s with a custom trigger: `<key> <window start> <count so far>`. */
export default defineJob({ name: 'early-firing' }, (env) => {
  env
    .fromSource(keys, { uid: 'keys' })
    .keyBy((key) => key)
    .window(tumbling(1_000, { time: 'processing' }))
    .trigger(every3AndAtEnd)
    .aggregate(count(), (key, window, n) => `${key} ${window.start} ${n}`)
    .sinkTo(collectSink('counts'))
    .uid('counts');
});
