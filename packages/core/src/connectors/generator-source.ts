import { PollStatus, type Source, type SourceOutput } from '../contracts/source.ts';
import { ConfigError } from '../errors.ts';
import { splitRange } from './split.ts';

export interface GeneratorOptions {
  /** How many records in all (split over the subtasks); unbounded when absent. */
  readonly count?: number;
  /** Records per second over all subtasks; as fast as possible when absent. */
  readonly ratePerSecond?: number;
}

/** Indices `next, next + stride, ...` below `end` (Infinity when unbounded). */
type GeneratorSplit = readonly [next: number, end: number, stride: number];

/**
 * Records `generate(index)` for index 0, 1, 2, ...: each subtask generates its own contiguous
 * share of a bounded range, or the indices congruent to its number when unbounded, so that the
 * union over subtasks is every index exactly once. Checkpoints store each share's next index.
 */
export function generatorSource<T>(
  generate: (index: number) => T,
  options: GeneratorOptions & {
    /** Gives each record its event timestamp (ms) at the source, e.g. for generated event streams. */
    readonly timestamp?: (record: T, index: number) => number;
  } = {},
): Source<T> {
  if (typeof generate !== 'function')
    throw new ConfigError('generator: expected a function (index) => record');
  const { count, ratePerSecond } = options;
  const timestampOf = options.timestamp;
  if (timestampOf !== undefined && typeof timestampOf !== 'function') {
    throw new ConfigError('generator: option "timestamp" must be a function (record, index) => ms');
  }
  if (count !== undefined && (!Number.isSafeInteger(count) || count < 0)) {
    throw new ConfigError(`generator: option "count" must be a safe integer >= 0, got ${String(count)}`);
  }
  if (ratePerSecond !== undefined && (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0)) {
    throw new ConfigError(
      `generator: option "ratePerSecond" must be a number > 0, got ${String(ratePerSecond)}`,
    );
  }
  return {
    name: 'generator',
    boundedness: count === undefined ? 'unbounded' : 'bounded',
    emitsTimestamps: timestampOf !== undefined,
    createReader(context) {
      const { subtaskIndex, parallelism } = context;
      let splits: Array<[number, number, number]>;
      if (context.restoredState !== undefined) {
        splits = (context.restoredState as GeneratorSplit[]).map(([next, end, stride]) => [
          next,
          end,
          stride,
        ]);
      } else if (count === undefined) {
        splits = [[subtaskIndex, Number.POSITIVE_INFINITY, parallelism]];
      } else {
        const [start, end] = splitRange(count, subtaskIndex, parallelism);
        splits = [[start, end, 1]];
      }
      // Bounded shares have stride 1 (see above): their size is known, from where the reader starts.
      const total = count === undefined ? undefined : boundedRemaining(splits);
      const perSubtaskRate = ratePerSecond === undefined ? undefined : ratePerSecond / parallelism;
      let startedAtMs = -1;
      let emitted = 0;
      return {
        poll(output: SourceOutput<T>, maxRecords: number) {
          let budget = maxRecords;
          if (perSubtaskRate !== undefined) {
            const now = context.currentProcessingTime();
            if (startedAtMs < 0) startedAtMs = now;
            const allowed = Math.floor(((now - startedAtMs) / 1000) * perSubtaskRate) + 1 - emitted;
            if (allowed <= 0) return { sleepMs: Math.max(1, Math.ceil(1000 / perSubtaskRate)) };
            budget = Math.min(budget, allowed);
          }
          while (splits.length > 0 && budget > 0) {
            const split = splits[0]!;
            let next = split[0];
            const end = split[1];
            const stride = split[2];
            let i = 0;
            if (timestampOf === undefined) {
              for (; i < budget && next < end; i++) {
                output.collect(generate(next));
                next += stride;
              }
            } else {
              for (; i < budget && next < end; i++) {
                const record = generate(next);
                output.collect(record, timestampOf(record, next));
                next += stride;
              }
            }
            split[0] = next;
            budget -= i;
            emitted += i;
            if (next >= end) splits.shift();
          }
          return splits.length > 0 ? PollStatus.More : PollStatus.End;
        },
        snapshotState: () => splits.map(([next, end, stride]): GeneratorSplit => [next, end, stride]),
        progress: () =>
          total === undefined
            ? { read: emitted, total: undefined, unit: 'records' }
            : { read: total - boundedRemaining(splits), total, unit: 'records' },
      };
    },
  };
}

function boundedRemaining(splits: readonly GeneratorSplit[]): number {
  let n = 0;
  for (const [next, end, stride] of splits) n += Math.ceil((end - next) / stride);
  return n;
}
