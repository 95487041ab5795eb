import { collectSink, defineJob, PollStatus, type Source, tumbling } from '@sluice/core';

export interface Reading {
  readonly key: number;
  readonly ts: number;
  readonly v: number;
}

export interface ObservedArgs {
  readonly readings: readonly Reading[];
  /** Out-of-orderness bound of the watermark (ms). */
  readonly bound: number;
  /**
   * With a gate: the source reads this many records, then waits until Int32 0 of `gate` is not 0
   * (the test opens it), so that the job is certainly running while the test looks at it.
   */
  readonly gate?: { readonly buffer: SharedArrayBuffer; readonly openAt: number };
  /** The filter throws on its record number `index` (0-based) while Int32 0 of `crashes` is 0, once. */
  readonly failAt?: { readonly index: number; readonly crashes: SharedArrayBuffer };
}

/** Reads `readings` in order, one subtask; checkpointable by its offset. */
function readingsSource(readings: readonly Reading[], gate: ObservedArgs['gate']): Source<Reading> {
  return {
    name: 'readings',
    boundedness: 'bounded',
    maxParallelism: 1,
    createReader: (context) => {
      let offset = (context.restoredState?.[0] as number | undefined) ?? 0;
      const cells = gate === undefined ? undefined : new Int32Array(gate.buffer);
      return {
        poll(output, maxRecords) {
          if (offset >= readings.length) return PollStatus.End;
          let limit = Math.min(readings.length, offset + maxRecords);
          if (cells !== undefined && Atomics.load(cells, 0) === 0) {
            if (offset >= gate!.openAt) return { sleepMs: 5 };
            limit = Math.min(limit, gate!.openAt);
          }
          for (; offset < limit; offset++) output.collect(readings[offset]!);
          return PollStatus.More;
        },
        snapshotState: () => [offset],
      };
    },
  };
}

/**
 * source (p1) → timestamps (p1) → filter (p1) → keyBy → tumbling window sum (p2, late records
 * dropped and counted) → map → sink (p2): every operator's records in and out, and the window's
 * late records, have a plain-loop answer.
 */
export default defineJob<ObservedArgs>({ name: 'observed' }, (env, args) => {
  const crashes = args.failAt === undefined ? undefined : new Int32Array(args.failAt.crashes);
  let seen = 0;
  env
    .fromSource(readingsSource(args.readings, args.gate))
    .uid('source')
    .setParallelism(1)
    .assignTimestamps({ timestamp: (r) => r.ts, maxOutOfOrderness: args.bound })
    .uid('timestamps')
    .setParallelism(1)
    .filter((r) => {
      if (crashes !== undefined && seen++ === args.failAt!.index && Atomics.add(crashes, 0, 1) === 0) {
        throw new Error(`boom at record ${args.failAt!.index}`);
      }
      return r.v % 3 !== 0;
    })
    .uid('filter')
    .setParallelism(1)
    .keyBy((r) => r.key)
    .window(tumbling(100))
    .reduce(
      (a, b) => ({ key: a.key, ts: a.ts, v: a.v + b.v }),
      (key, w, r) => ({ key, start: w.start, sum: r.v }),
    )
    .uid('window')
    .map((r) => `${r.key}@${r.start}=${r.sum}`)
    .uid('format')
    .sinkTo(collectSink('sums'))
    .uid('sink');
});
