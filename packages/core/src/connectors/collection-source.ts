import { PollStatus, type Source, type SourceOutput, type SourceReader } from '../api/source.ts';
import { ConfigError } from '../errors.ts';
import { splitRange } from './split.ts';

/**
 * A bounded source over an array. Every worker rebuilds the graph from the job module, so the
 * array is rebuilt there too; each subtask reads its own contiguous share.
 */
export function collectionSource<T>(items: readonly T[]): Source<T> {
  if (!Array.isArray(items)) throw new ConfigError('fromCollection: expected an array');
  return {
    name: 'collection',
    boundedness: 'bounded',
    createReader(context) {
      const [start, end] = splitRange(items.length, context.subtaskIndex, context.parallelism);
      let next = start;
      const reader: SourceReader<T> = {
        poll(output: SourceOutput<T>, maxRecords: number) {
          const stop = Math.min(end, next + maxRecords);
          for (; next < stop; next++) output.collect(items[next]!);
          return next < end ? PollStatus.More : PollStatus.End;
        },
      };
      return reader;
    },
  };
}
