import { collectSink, defineJob, PollStatus, type Source } from '@sluice/core';

export interface DashboardArgs {
  /**
   * Int32 0 is how many records the source may read in all; the test raises it. Past it the
   * source waits, so the job certainly runs, and its counts are known, while the test looks.
   */
  readonly credits: SharedArrayBuffer;
  /** The tag operator fails once, on record `at`, the first time (Int32 0 of `flag` says it did). */
  readonly failOnce?: { readonly at: number; readonly flag: SharedArrayBuffer };
}

function failingOnce(failOnce: DashboardArgs['failOnce']): (i: number) => void {
  if (failOnce === undefined) return () => {};
  const flag = new Int32Array(failOnce.flag);
  return (i) => {
    if (i === failOnce.at && Atomics.compareExchange(flag, 0, 0, 1) === 0) {
      throw new Error(`tag failed on purpose at record ${i}`);
    }
  };
}

/** Reads 0, 1, 2, … up to the credits, one subtask; never ends; checkpointable by its offset. */
function creditedSource(credits: SharedArrayBuffer): Source<number> {
  return {
    name: 'ticks',
    boundedness: 'unbounded',
    maxParallelism: 1,
    createReader: (context) => {
      let offset = (context.restoredState?.[0] as number | undefined) ?? 0;
      const allowed = new Int32Array(credits);
      return {
        poll(output, maxRecords) {
          const limit = Math.min(Atomics.load(allowed, 0), offset + maxRecords);
          if (offset >= limit) return { sleepMs: 5 };
          for (; offset < limit; offset++) output.collect(offset);
          return PollStatus.More;
        },
        snapshotState: () => [offset],
      };
    },
  };
}

/**
 * Three tasks, two kinds of edge: ticks → timestamps (p1) —rebalance→ tag (p2) —hash→ running
 * count per key → format → sink (p2). Every record reaches every task, so after n records each
 * task has taken in n; the watermark after n records is (n - 1) * 10 - 1.
 */
export default defineJob<DashboardArgs>({ name: 'dashboard-demo' }, (env, args) => {
  const maybeFail = failingOnce(args.failOnce);
  env
    .fromSource(creditedSource(args.credits))
    .uid('ticks')
    .setParallelism(1)
    .assignTimestamps({ timestamp: (i) => i * 10 })
    .uid('timestamps')
    .setParallelism(1)
    .rebalance()
    .map((i) => {
      maybeFail(i);
      return { key: i % 4, n: 1 };
    })
    .uid('tag')
    .keyBy((r) => r.key)
    .reduce((a, b) => ({ key: a.key, n: a.n + b.n }))
    .uid('count')
    .map((r) => `${r.key}=${r.n}`)
    .uid('format')
    .sinkTo(collectSink('counts'))
    .uid('sink');
});
