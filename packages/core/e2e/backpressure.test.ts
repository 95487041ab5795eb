import { runJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import type { BackpressureArgs } from './jobs/backpressure.ts';

const job = new URL('./jobs/backpressure.ts', import.meta.url);

describe('backpressure', () => {
  it('holds a fast source back to a slow sink: bounded records in flight, bounded memory, nothing lost', async () => {
    const count = 120_000;
    const counters = new SharedArrayBuffer(8);
    const shared = new Int32Array(counters);
    let maxInFlight = 0;
    // Memory is measured from when the job is warm (threads started, modules loaded): from then on
    // a bounded pipeline must not grow, however far the source could run ahead.
    let rssWarm = 0;
    let maxRss = 0;
    const sampler = setInterval(() => {
      const taken = Atomics.load(shared, 1);
      maxInFlight = Math.max(maxInFlight, Atomics.load(shared, 0) - taken);
      const rss = process.memoryUsage().rss;
      if (rssWarm === 0 && taken >= 10_000) rssWarm = rss;
      if (rssWarm !== 0) maxRss = Math.max(maxRss, rss);
    }, 10);
    const startedAt = Date.now();
    const result = await runJob<BackpressureArgs>(job, {
      parallelism: 2,
      // Small rings make the bound on what is in flight small and easy to state.
      channelCapacityBytes: 64 * 1024,
      args: { count, counters, sinkMicrosPerRecord: 40 },
    });
    clearInterval(sampler);
    const elapsedMs = Date.now() - startedAt;

    // Zero loss, no duplicates.
    const seen = result.collected<number>('seen').sort((a, b) => a - b);
    expect(seen.length).toBe(count);
    expect(seen.every((v, i) => v === i)).toBe(true);
    // The sink takes 40 µs a record on 2 subtasks: ~2.4 s. Without backpressure the source would
    // have generated everything in a fraction of that, and ~all records would have been in flight.
    expect(elapsedMs).toBeGreaterThan(1500);
    // In flight at most: 4 rings of 64 KiB (~750 records of ~85 bytes each), a batch per channel
    // being filled, and the frames the sink took in one step (8 frames of up to 512 records).
    expect(maxInFlight).toBeLessThan(16_000);
    expect(maxInFlight).toBeGreaterThan(0);
    expect(rssWarm).toBeGreaterThan(0);
    // The records the source did not generate yet would be ~10 MB of payload alone if buffered,
    // plus their JS objects; a pipeline that keeps memory flat grows by far less.
    expect(maxRss - rssWarm).toBeLessThan(40 * 1024 * 1024);
  });
});
