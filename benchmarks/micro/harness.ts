/**
 * Runs a group of benchmark.js benchmarks one after another and turns them into
 * {@link MicroResult}s. Each benchmark gets its own `setup`/`teardown` (threads, databases) around
 * its run, outside the timed region.
 */
import Benchmark from 'benchmark';
import type { MicroResult } from './index.ts';

export interface HarnessOptions {
  readonly quick: boolean;
}

export interface BenchSpec {
  readonly name: string;
  /** What one op is. */
  readonly unit: string;
  readonly recordsPerOp?: number;
  /** Payload bytes per op, for MB/s (MB = 10^6 bytes). */
  readonly bytesPerOp?: number;
  /** Name of the benchmark of the same group this one is compared to. */
  readonly baseline?: string;
  readonly setup?: () => void | Promise<void>;
  readonly teardown?: () => void | Promise<void>;
  /** A synchronous op, or ... */
  readonly fn?: () => void;
  /** ... an asynchronous one, timed as a benchmark.js deferred benchmark (`defer: true`). */
  readonly deferred?: () => Promise<void>;
}

/**
 * benchmark.js settings: `maxTime` bounds the time spent per benchmark (s), `minSamples` the
 * samples taken even if that runs over. Quick mode exists to check that everything runs, not to
 * measure: few samples, wide error margins.
 */
function settings(options: HarnessOptions): Benchmark.Options {
  return options.quick
    ? { maxTime: 0.15, minSamples: 3, minTime: 0.03, delay: 0 }
    : { maxTime: 2, minSamples: 10, delay: 0.005 };
}

/** Runs one benchmark to completion; rejects if its op failed. */
function runOne(spec: BenchSpec, options: HarnessOptions): Promise<Benchmark> {
  let failure: unknown;
  const base = settings(options);
  const deferred = spec.deferred;
  const benchmark =
    deferred === undefined
      ? new Benchmark(spec.name, { ...base, fn: spec.fn! })
      : new Benchmark(spec.name, {
          ...base,
          defer: true,
          fn: (d: Benchmark.Deferred) => {
            if (failure !== undefined) {
              // Let the benchmark run out; `failure` is reported when it completes.
              setImmediate(() => d.resolve());
              return;
            }
            deferred().then(
              () => d.resolve(),
              (error: unknown) => {
                failure = error;
                d.resolve();
              },
            );
          },
        });
  return new Promise((resolve, reject) => {
    benchmark.on('complete', () => {
      if (failure !== undefined) reject(failure);
      else if (benchmark.error !== undefined) reject(benchmark.error);
      else resolve(benchmark);
    });
    benchmark.run({ async: true });
  });
}

export async function runGroup(
  group: MicroResult['group'],
  specs: readonly BenchSpec[],
  options: HarnessOptions,
): Promise<MicroResult[]> {
  const measured: Array<{ spec: BenchSpec; benchmark: Benchmark }> = [];
  for (const spec of specs) {
    await spec.setup?.();
    try {
      measured.push({ spec, benchmark: await runOne(spec, options) });
    } finally {
      await spec.teardown?.();
    }
  }
  const hzOf = new Map(measured.map(({ spec, benchmark }) => [spec.name, benchmark.hz]));
  return measured.map(({ spec, benchmark }): MicroResult => {
    const hz = benchmark.hz;
    const baselineHz = spec.baseline === undefined ? undefined : hzOf.get(spec.baseline);
    if (spec.baseline !== undefined && baselineHz === undefined) {
      throw new Error(`bug: baseline "${spec.baseline}" of "${spec.name}" is not in group ${group}`);
    }
    return {
      group,
      name: spec.name,
      opsPerSec: hz,
      unit: spec.unit,
      ...(spec.recordsPerOp === undefined ? {} : { recordsPerSec: hz * spec.recordsPerOp }),
      ...(spec.bytesPerOp === undefined ? {} : { mbPerSec: (hz * spec.bytesPerOp) / 1e6 }),
      rmePercent: benchmark.stats.rme,
      samples: benchmark.stats.sample.length,
      ...(spec.baseline === undefined ? {} : { baseline: spec.baseline, ratioToBaseline: hz / baselineHz! }),
    };
  });
}
