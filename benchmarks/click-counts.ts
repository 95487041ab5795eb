/**
 * examples/click-counts at parallelism 1 and 2 against the same computation as a plain
 * single-threaded loop, measured in the same run. Figures are end-to-end wall time, worker start
 * included, and are printed as ratios to the loop.
 *
 *   pnpm --filter @sluice/benchmarks click-counts [events]
 */
import { runJob } from '@sluice/core';
import { type ClickCountsArgs, click } from '../examples/click-counts/job.ts';

const events = Number(process.argv[2] ?? 5_000_000);
const pages = 20;

function plainLoop(): number {
  const startedAt = performance.now();
  // What a user would hand-write: timestamps, windows of 10 s, a count per page and window,
  // emitting a window when the watermark (max timestamp - 1 s) passes its end.
  const open = new Map<number, Map<string, number>>();
  let maxTs = Number.NEGATIVE_INFINITY;
  let emitted = 0;
  for (let i = 0; i < events; i++) {
    const c = click(i, pages);
    if (c.ts > maxTs) maxTs = c.ts;
    const start = c.ts - (c.ts % 10_000);
    let window = open.get(start);
    if (window === undefined) {
      window = new Map();
      open.set(start, window);
    }
    window.set(c.page, (window.get(c.page) ?? 0) + 1);
    if ((i & 1023) === 0) {
      const watermark = maxTs - 1000 - 1;
      for (const [s, counts] of open) {
        if (s + 10_000 - 1 <= watermark) {
          emitted += counts.size;
          open.delete(s);
        }
      }
    }
  }
  for (const counts of open.values()) emitted += counts.size;
  if (emitted === 0) throw new Error('no output');
  return performance.now() - startedAt;
}

async function sluice(parallelism: number): Promise<number> {
  const startedAt = performance.now();
  const result = await runJob<ClickCountsArgs>(new URL('../examples/click-counts/job.ts', import.meta.url), {
    parallelism,
    args: { events, pages, quiet: true },
  });
  if (result.sourceRecords !== events) throw new Error(`read ${result.sourceRecords} of ${events}`);
  return performance.now() - startedAt;
}

const rows: Array<[string, number]> = [];
rows.push(['plain loop (1 thread)', plainLoop()]);
rows.push(['sluice parallelism 1', await sluice(1)]);
rows.push(['sluice parallelism 2', await sluice(2)]);
const baseline = events / (rows[0]![1] / 1000);
console.log(
  `click-counts, ${events.toLocaleString('en-US')} events, ${pages} pages, node ${process.version}`,
);
for (const [name, ms] of rows) {
  const rate = events / (ms / 1000);
  console.log(
    `${name.padEnd(24)} ${(ms / 1000).toFixed(2).padStart(6)} s  ${Math.round(rate).toLocaleString('en-US').padStart(11)} events/s  ${(rate / baseline).toFixed(2)}x loop`,
  );
}
