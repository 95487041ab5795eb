import { defineJob } from '@sluice/core';
import { fileSink } from '../file-sink.ts';

export interface GenerateLinesArgs {
  /** Lines `0` to `count - 1`, one per record. */
  readonly count: number;
  readonly directory: string;
  /** Slows the generator down (its own `ratePerSecond`), so that a test can checkpoint and crash it. */
  readonly ratePerSecond?: number;
  /**
   * Slows each generating subtask down by putting its thread to sleep inside the generate
   * function instead. For as long as a rate-limited generator chained to a sink whose flush is
   * asynchronous hangs the slot loop (see the test), the tests slow the job down this way.
   */
  readonly sleepToRatePerSubtask?: number;
}

/** How far a subtask may run ahead of its rate before its thread sleeps. */
const AHEAD_MAX_MS = 2;

/** Writes the numbers below `count`, one per line, to part files in `directory`. */
export default defineJob<GenerateLinesArgs>(
  { name: 'generate-lines' },
  (env, { count, directory, ratePerSecond, sleepToRatePerSubtask }) => {
    let generate = (i: number): string => String(i);
    if (sleepToRatePerSubtask !== undefined) {
      // One generator subtask per slot thread, so per-thread state is per-subtask state.
      const sleepCell = new Int32Array(new SharedArrayBuffer(4));
      let startedAtMs = -1;
      let emitted = 0;
      generate = (i) => {
        const nowMs = Date.now();
        if (startedAtMs < 0) startedAtMs = nowMs;
        const aheadMs = startedAtMs + (++emitted * 1000) / sleepToRatePerSubtask - nowMs;
        // Atomics.wait blocks the thread without spinning (allowed in worker threads only).
        if (aheadMs > AHEAD_MAX_MS) Atomics.wait(sleepCell, 0, 0, aheadMs);
        return String(i);
      };
    }
    env
      .generate(generate, { count, ...(ratePerSecond === undefined ? {} : { ratePerSecond }) })
      .uid('numbers')
      .sinkTo(fileSink(directory))
      .uid('files');
  },
);
