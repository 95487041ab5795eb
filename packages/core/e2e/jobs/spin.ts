import { collectSink, defineJob } from '@sluice/core';

export interface SpinArgs {
  readonly count: number;
  /**
   * Int32 cells shared with the test: [0] armed (1: a map subtask that sees its first record
   * spins for ever), [1] how many subtasks are spinning now.
   */
  readonly control: SharedArrayBuffer;
}

/**
 * A map that, while the test keeps it armed, never returns from its first record: an infinite
 * loop in user code, which only the watchdog can notice (the thread answers nothing).
 */
export default defineJob<SpinArgs>({ name: 'spin' }, (env, { count, control }) => {
  const cells = new Int32Array(control);
  let first = true;
  env
    .fromSequence(0, count - 1)
    .map((n) => {
      if (first) {
        first = false;
        if (Atomics.load(cells, 0) === 1) {
          Atomics.add(cells, 1, 1);
          for (;;) {
            // Spins on shared memory, so that no optimiser can prove the loop empty.
            if (Atomics.load(cells, 0) === 2) break;
          }
        }
      }
      return n * 2;
    })
    .uid('spin')
    .sinkTo(collectSink('doubled'));
});
