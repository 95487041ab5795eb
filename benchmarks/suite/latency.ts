/**
 * End-to-end latency histograms: each sink subtask records into its own HDR histogram (in
 * microseconds) in its worker thread, sends it encoded at close, and the runner merges them.
 */
import * as hdr from 'hdr-histogram-js';

/** 1 µs to 10 min, 3 significant digits (values beyond resize the histogram). */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

/** What a latency sink subtask sends to the runner when it closes. */
export interface LatencyReport {
  readonly subtask: number;
  /** `hdr.encodeIntoCompressedBase64` of its histogram (µs). */
  readonly histogram: string;
  /** Records seen, including those of the warm-up that were not recorded. */
  readonly records: number;
}

export const LATENCY_CHANNEL = 'nexmark-latency';

export function encodeHistogram(histogram: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

/** One histogram of all subtasks' values. */
export function mergeHistograms(encoded: readonly string[]): hdr.Histogram {
  const merged = latencyHistogram();
  for (const text of encoded) merged.add(hdr.decodeFromCompressedBase64(text, 32, false));
  return merged;
}

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export function summarize(histogram: hdr.Histogram): LatencySummary {
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    count: histogram.totalCount,
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p95Ms: ms(histogram.getValueAtPercentile(95)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    maxMs: ms(histogram.maxValue),
  };
}
