import { describe, expect, it } from 'vitest';
import { encodeHistogram, latencyHistogram, mergeHistograms, summarize } from './latency.ts';

describe('latency histograms', () => {
  it('merge encoded per-subtask histograms into one with the percentiles of all values', () => {
    const a = latencyHistogram();
    const b = latencyHistogram();
    // 1..1000 µs in one subtask, 1001..2000 µs in the other.
    for (let us = 1; us <= 1000; us++) a.recordValue(us);
    for (let us = 1001; us <= 2000; us++) b.recordValue(us);
    const merged = mergeHistograms([encodeHistogram(a), encodeHistogram(b)]);
    const summary = summarize(merged);
    expect(summary.count).toBe(2000);
    // HDR with 3 significant digits: values within 0.1%.
    expect(summary.p50Ms).toBeCloseTo(1.0, 2);
    expect(summary.p99Ms).toBeCloseTo(1.98, 2);
    expect(summary.maxMs).toBeCloseTo(2.0, 2);
  });

  it('keeps values far beyond the initial range', () => {
    const h = latencyHistogram();
    h.recordValue(900_000_000);
    expect(summarize(mergeHistograms([encodeHistogram(h)])).maxMs).toBeCloseTo(900_000, -3);
  });
});
