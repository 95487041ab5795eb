import { PollStatus, type Source, type SourceOutput, type SourceReader } from '../contracts/source.ts';
import { ConfigError } from '../errors.ts';
import { splitRange } from './split.ts';

/** What remains of a subtask's share: items `[next, end)`. */
type RangeSplit = readonly [next: number, end: number];

/**
 * A bounded source over an array. Every worker rebuilds the graph from the job module, so the
 * array is rebuilt there too; each subtask reads its own contiguous share. Checkpoints store the
 * position in each share, so a restore (at any parallelism) reads on from there.
 */
export function collectionSource<T>(items: readonly T[]): Source<T> {
  if (!Array.isArray(items)) throw new ConfigError('fromCollection: expected an array');
  return {
    name: 'collection',
    boundedness: 'bounded',
    createReader(context) {
      const splits: Array<[number, number]> =
        context.restoredState === undefined
          ? [splitRange(items.length, context.subtaskIndex, context.parallelism)]
          : (context.restoredState as RangeSplit[]).map(([next, end]) => [next, end]);
      // The share as it stood when the reader started (after a restore: what remained of it).
      const total = remaining(splits);
      const reader: SourceReader<T> = {
        poll(output: SourceOutput<T>, maxRecords: number) {
          let budget = maxRecords;
          while (splits.length > 0 && budget > 0) {
            const split = splits[0]!;
            const stop = Math.min(split[1], split[0] + budget);
            for (let i = split[0]; i < stop; i++) output.collect(items[i]!);
            budget -= stop - split[0];
            split[0] = stop;
            if (split[0] >= split[1]) splits.shift();
          }
          return splits.length > 0 ? PollStatus.More : PollStatus.End;
        },
        snapshotState: () => splits.map(([next, end]): RangeSplit => [next, end]),
        progress: () => ({ read: total - remaining(splits), total, unit: 'records' }),
      };
      return reader;
    },
  };
}

function remaining(splits: readonly RangeSplit[]): number {
  let n = 0;
  for (const [next, end] of splits) n += end - next;
  return n;
}
