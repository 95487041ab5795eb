import { PollStatus, type Source, type SourceOutput } from '../api/source.ts';
import { ConfigError } from '../errors.ts';
import { splitRange } from './split.ts';

export interface GeneratorOptions {
  /** How many records in all (split over the subtasks); unbounded when absent. */
  readonly count?: number;
  /** Records per second over all subtasks; as fast as possible when absent. */
  readonly ratePerSecond?: number;
}

/**
 * Records `generate(index)` for index 0, 1, 2, ...: each subtask generates its own contiguous
 * share of a bounded range, or the indices congruent to its number when unbounded, so that the
 * union over subtasks is every index exactly once.
 */
export function generatorSource<T>(
  generate: (index: number) => T,
  options: GeneratorOptions = {},
): Source<T> {
  if (typeof generate !== 'function')
    throw new ConfigError('generator: expected a function (index) => record');
  const { count, ratePerSecond } = options;
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
    createReader(context) {
      const { subtaskIndex, parallelism } = context;
      const [start, end] =
        count === undefined ? [0, Number.POSITIVE_INFINITY] : splitRange(count, subtaskIndex, parallelism);
      const stride = count === undefined ? parallelism : 1;
      let next = count === undefined ? subtaskIndex : start;
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
          let i = 0;
          for (; i < budget && next < end; i++) {
            output.collect(generate(next));
            next += stride;
          }
          emitted += i;
          return next < end ? PollStatus.More : PollStatus.End;
        },
      };
    },
  };
}
