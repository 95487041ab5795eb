import { collectSink, count, defineJob, seconds, tumbling } from '@sluice/core';

export interface Click {
  readonly page: string;
  readonly user: number;
  /** Event time, ms. */
  readonly ts: number;
}

export interface PageCount {
  readonly page: string;
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly clicks: number;
}

export interface ClickCountsArgs {
  /** How many clicks to generate (default 1,000,000). */
  readonly events?: number;
  /** Distinct pages (default 20). */
  readonly pages?: number;
  /** Send results to a collect sink named 'counts' instead of printing them. */
  readonly collect?: boolean;
  /** Print nothing (for measuring throughput). */
  readonly quiet?: boolean;
}

/**
 * Click i happens at 0.1 ms × i, give or take up to a second of disorder, on one of `pages`
 * pages picked by a fixed hash. Deterministic, so a test can compute the expected counts.
 */
export function click(i: number, pages: number): Click {
  const mix = Math.imul(i ^ (i >>> 15), 0x2c1b3c6d) >>> 0;
  return { page: `page-${mix % pages}`, user: mix % 10_000, ts: Math.floor(i / 10) - (mix % 1000) };
}

/** Clicks per page in 10-second event-time windows. */
export default defineJob<ClickCountsArgs | undefined>({ name: 'click-counts' }, (env, args = {}) => {
  const pages = args.pages ?? 20;
  const counts = env
    .generate((i) => click(i, pages), { count: args.events ?? 1_000_000 })
    .assignTimestamps({ timestamp: (c) => c.ts, maxOutOfOrderness: seconds(1) })
    .keyBy((c) => c.page)
    .window(tumbling(seconds(10)))
    .aggregate(
      count(),
      (page, window, clicks): PageCount => ({
        page,
        windowStart: window.start,
        windowEnd: window.end,
        clicks,
      }),
    );
  if (args.collect) counts.sinkTo(collectSink('counts'));
  else if (args.quiet) counts.filter(() => false).print();
  else
    counts.print({
      format: (c) => `${new Date(c.windowStart).toISOString().slice(11, 19)} ${c.page.padEnd(8)} ${c.clicks}`,
    });
});
