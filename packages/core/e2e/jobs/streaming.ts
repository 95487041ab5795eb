import { collectSink, count, defineJob, PollStatus, type Source, tumbling } from '@sluice/core';

export interface StreamingArgs {
  readonly ratePerSecond: number;
  /** Union with a source that never emits; idle after this many ms (none: it holds the watermark). */
  readonly silentIdleTimeoutMs?: number;
  readonly windows: boolean;
}

/** An unbounded source that never emits anything: a partition with no traffic. */
const silent: Source<number> = {
  name: 'silent',
  boundedness: 'unbounded',
  createReader: () => ({ poll: () => PollStatus.Pending }),
};

/** Unbounded, rate-limited input: results must arrive while the job runs, not at its end. */
export default defineJob<StreamingArgs>({ name: 'streaming' }, (env, args) => {
  const ticks = env.generate((i) => i, { ratePerSecond: args.ratePerSecond }).rebalance();
  if (!args.windows) {
    ticks.map((i) => i * 10).sinkTo(collectSink('ticks'));
    return;
  }
  const timed = ticks.assignTimestamps({ timestamp: (i) => i * 10 });
  const quiet = env.fromSource(silent).assignTimestamps({
    timestamp: (i) => i,
    ...(args.silentIdleTimeoutMs === undefined ? {} : { idleTimeout: args.silentIdleTimeoutMs }),
  });
  timed
    .union(quiet)
    .keyBy((i) => i % 2)
    .window(tumbling(100))
    .aggregate(count(), (key, window, n) => ({ key, start: window.start, n }))
    .sinkTo(collectSink('windows'));
});
