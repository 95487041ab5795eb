import { defineJob } from '@sluice/core';
import { fileSink } from '../file-sink.ts';

export interface GenerateRebalancedLinesArgs {
  /** Lines `0` to `count - 1`, one per record. */
  readonly count: number;
  readonly directory: string;
  /** Slows the generator down (its own `ratePerSecond`), so that a test can checkpoint and crash it. */
  readonly ratePerSecond?: number;
}

/**
 * As `generate-lines`, with a rebalance between the generator and the sink: every generator
 * subtask sends to every sink subtask, so on a cluster records and barriers cross between
 * task-manager processes (the TCP data plane), not only within one.
 */
export default defineJob<GenerateRebalancedLinesArgs>(
  { name: 'generate-rebalanced-lines' },
  (env, { count, directory, ratePerSecond }) => {
    env
      .generate((i) => String(i), { count, ...(ratePerSecond === undefined ? {} : { ratePerSecond }) })
      .uid('numbers')
      .rebalance()
      .sinkTo(fileSink(directory))
      .uid('files');
  },
);
