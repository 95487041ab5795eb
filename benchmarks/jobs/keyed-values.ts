import { defineJob, type KeyedProcessContext, printSink, valueState } from '@sluice/core';

export interface KeyedValuesArgs {
  /** Distinct keys, each updated in turn, forever (the job is cancelled by the benchmark). */
  readonly keys: number /** [0]: wall clock (ms) at which a counter subtask processed its first record. */;
  readonly progress: SharedArrayBuffer;
}

/** One value state per key, for measuring checkpoint size and duration, and recovery time. */
export default defineJob<KeyedValuesArgs>({ name: 'keyed-values' }, (env, { keys, progress }) => {
  const firstRecordAt = new Float64Array(progress);
  const value = valueState<number>('value');
  // Per subtask instance (a restart makes new ones): whether it has processed a record yet.
  let started = false;
  env
    .generate((i) => i % keys)
    .uid('numbers')
    .keyBy((n) => n)
    .process({
      processElement(n: number, ctx: KeyedProcessContext<number>) {
        const state = ctx.getState(value);
        state.update((state.value() ?? 0) + n);
        if (!started) {
          started = true;
          firstRecordAt[0] = Date.now();
        }
      },
    })
    .uid('values')
    .sinkTo(printSink());
});
