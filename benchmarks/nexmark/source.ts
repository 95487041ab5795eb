import { ConfigError, PollStatus, type Source, type SourceOutput, splitRange } from '@sluice/core';
import { type NexmarkConfig, nexmarkConfig, nexmarkEvent } from './generator.ts';
import { eventTimestamp, type NexmarkEvent } from './model.ts';

export interface NexmarkSourceOptions extends Partial<NexmarkConfig> {
  /** How many events in all (split over the subtasks); unbounded when absent. */
  readonly events?: number;
  /** Events per second of wall-clock time over all subtasks; as fast as possible when absent. */
  readonly ratePerSecond?: number;
}

/** Event numbers `next, next + stride, ...` below `end` (Infinity when unbounded). */
type NexmarkSplit = readonly [next: number, end: number, stride: number];

/**
 * Nexmark events 0, 1, 2, ... (see `nexmarkEvent`), each with its event timestamp. A bounded
 * source gives each subtask a contiguous range of event numbers; an unbounded one gives it the
 * numbers congruent to its index; either way the union over subtasks is every event number
 * exactly once. Checkpoints store each split's next event number, so a restore (at any
 * parallelism) resumes where the checkpoint was taken.
 */
export function nexmarkSource(options: NexmarkSourceOptions = {}): Source<NexmarkEvent> {
  const { events, ratePerSecond, ...generatorOptions } = options;
  if (events !== undefined && (!Number.isSafeInteger(events) || events < 0)) {
    throw new ConfigError(`nexmark: option "events" must be an integer >= 0, got ${String(events)}`);
  }
  if (ratePerSecond !== undefined && (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0)) {
    throw new ConfigError(
      `nexmark: option "ratePerSecond" must be a number > 0, got ${String(ratePerSecond)}`,
    );
  }
  const config = nexmarkConfig(generatorOptions);
  return {
    name: 'nexmark',
    boundedness: events === undefined ? 'unbounded' : 'bounded',
    emitsTimestamps: true,
    createReader(context) {
      const { subtaskIndex, parallelism } = context;
      let splits: Array<[number, number, number]>;
      if (context.restoredState !== undefined) {
        splits = (context.restoredState as NexmarkSplit[]).map(([next, end, stride]) => [next, end, stride]);
      } else if (events === undefined) {
        splits = [[subtaskIndex, Number.POSITIVE_INFINITY, parallelism]];
      } else {
        const [start, end] = splitRange(events, subtaskIndex, parallelism);
        splits = [[start, end, 1]];
      }
      const perSubtaskRate = ratePerSecond === undefined ? undefined : ratePerSecond / parallelism;
      let startedAtMs = -1;
      let emitted = 0;
      return {
        poll(output: SourceOutput<NexmarkEvent>, maxRecords: number) {
          let budget = maxRecords;
          if (perSubtaskRate !== undefined) {
            const now = context.currentProcessingTime();
            if (startedAtMs < 0) startedAtMs = now;
            const allowed = Math.floor(((now - startedAtMs) / 1000) * perSubtaskRate) + 1 - emitted;
            if (allowed <= 0) return { sleepMs: Math.max(1, Math.ceil(1000 / perSubtaskRate)) };
            budget = Math.min(budget, allowed);
          }
          while (splits.length > 0 && budget > 0) {
            const split = splits[0] as [number, number, number];
            let next = split[0];
            const end = split[1];
            const stride = split[2];
            let i = 0;
            for (; i < budget && next < end; i++) {
              const event = nexmarkEvent(next, config);
              output.collect(event, eventTimestamp(event));
              next += stride;
            }
            split[0] = next;
            budget -= i;
            emitted += i;
            if (next >= end) splits.shift();
          }
          return splits.length > 0 ? PollStatus.More : PollStatus.End;
        },
        snapshotState: () => splits.map(([next, end, stride]): NexmarkSplit => [next, end, stride]),
      };
    },
  };
}
