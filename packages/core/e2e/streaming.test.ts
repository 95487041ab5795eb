import { JobCancelledError, startJob } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import type { StreamingArgs } from './jobs/streaming.ts';
import { expectThreadsBackTo, warmThreadBaseline } from './os-threads.ts';

const job = new URL('./jobs/streaming.ts', import.meta.url);

/** Resolves with what arrived once `enough` says so; rejects after `timeoutMs`. */
async function runUntil(
  args: StreamingArgs,
  enough: (received: unknown[]) => boolean,
  timeoutMs: number,
  bufferTimeoutMs = 5,
): Promise<{ received: unknown[]; satisfied: boolean; elapsedMs: number }> {
  const received: unknown[] = [];
  let satisfy: () => void = () => {};
  const satisfied = new Promise<void>((resolve) => {
    satisfy = resolve;
  });
  const startedAt = Date.now();
  const handle = await startJob<StreamingArgs>(job, {
    parallelism: 2,
    args,
    bufferTimeoutMs,
    onSinkData: (_channel, payload) => {
      received.push(...(payload as unknown[]));
      if (enough(received)) satisfy();
    },
  });
  const timedOut = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs));
  const ok = await Promise.race([satisfied.then(() => true), timedOut]);
  const elapsedMs = Date.now() - startedAt;
  await handle.cancel();
  await expect(handle.result).rejects.toBeInstanceOf(JobCancelledError);
  return { received, satisfied: ok, elapsedMs };
}

describe('unbounded jobs', () => {
  it('deliver records long before a batch fills: the flush timeout bounds latency', async () => {
    const baseline = await warmThreadBaseline();
    // 40 records/s against batches of 512: without the timeout nothing would arrive for 12 s.
    const { received, satisfied } = await runUntil(
      { ratePerSecond: 40, windows: false },
      (r) => r.length >= 10,
      5_000,
    );
    expect(satisfied).toBe(true);
    const values = (received as number[]).sort((a, b) => a - b);
    expect(new Set(values).size).toBe(values.length);
    expect(values.every((v) => v % 10 === 0)).toBe(true);
    // Cancelling stops every worker thread.
    await expectThreadsBackTo(baseline);
  });

  it('an idle input stops holding back the watermark once it times out', async () => {
    const { received, satisfied } = await runUntil(
      { ratePerSecond: 400, windows: true, silentIdleTimeoutMs: 50 },
      (r) => r.length >= 4,
      5_000,
    );
    expect(satisfied).toBe(true);
    // Window [0, 100) holds ticks 0..9; the generator's ticks alternate between the two keys.
    const first = (received as Array<{ key: number; start: number; n: number }>).filter((w) => w.start === 0);
    expect(first.map((w) => w.n).sort()).toEqual([5, 5]);
  });

  it('without idleness, a silent input holds every window back', async () => {
    const { received, satisfied } = await runUntil(
      { ratePerSecond: 400, windows: true },
      (r) => r.length > 0,
      1_500,
    );
    expect(satisfied).toBe(false);
    expect(received).toEqual([]);
  });
});
