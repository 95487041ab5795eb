import { defineJob } from '@sluice/core';
import { fileSink } from '../file-sink.ts';

export interface GenerateLinesArgs {
  /** Lines `0` to `count - 1`, one per record. */
  readonly count: number;
  readonly directory: string;
  /** Slows the generator down (its own `ratePerSecond`), so that a test can checkpoint and crash it. */
  readonly ratePerSecond?: number;
}

/** Writes the numbers below `count`, one per line, to part files in `directory`. */
export default defineJob<GenerateLinesArgs>(
  { name: 'generate-lines' },
  (env, { count, directory, ratePerSecond }) => {
    env
      .generate((i) => String(i), { count, ...(ratePerSecond === undefined ? {} : { ratePerSecond }) })
      .uid('numbers')
      .sinkTo(fileSink(directory))
      .uid('files');
  },
);
