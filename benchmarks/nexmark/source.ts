import {
  ConfigError,
  generatorSource,
  PollStatus,
  type Source,
  type SourceOutput,
  splitRange,
} from '@sluice/core';
import {
  adjustedEventNumber,
  interEventDelayUs,
  type NexmarkConfig,
  nexmarkConfig,
  nexmarkEvent,
} from './generator.ts';
import { eventTimestamp, type NexmarkEvent } from './model.ts';

export interface NexmarkSourceOptions extends Partial<NexmarkConfig> {
  /** How many events in all (split over the subtasks); unbounded when absent. */
  readonly events?: number;
  /** Events per second of wall-clock time over all subtasks; as fast as possible when absent. */
  readonly ratePerSecond?: number;
  /**
   * `'event-time'`: release each event only once the wall clock has reached its event time, so
   * that with `baseTimeMs` set to a wall-clock start the stream arrives on the schedule its
   * timestamps describe (`eventRatePerSecond` events per second over all subtasks) and
   * `now - timestamp` at a sink is the event's end-to-end latency. Not with `ratePerSecond`.
   */
  readonly pace?: 'event-time';
  /**
   * How a bounded stream is dealt to the subtasks: `'ranges'` (default), a contiguous range each,
   * so subtask 1 starts half the stream's event time ahead of subtask 0 at parallelism 2 (and a
   * windowed query holds that much state until subtask 0 catches up); or `'interleaved'`, every
   * `parallelism`-th event as for an unbounded stream, so all subtasks move through event time
   * together, as the reference's parallel generators do. Either way the union is every event once.
   */
  readonly split?: 'ranges' | 'interleaved';
  /** The wall clock the pacing reads, epoch ms (default `performance.timeOrigin + performance.now()`); for tests. */
  readonly clock?: () => number;
}

/** Splits as the core generator source stores them: indices `next, next + stride, ...` below `end`. */
type NexmarkSplit = readonly [next: number, end: number, stride: number];

/** Wall-clock epoch milliseconds with sub-millisecond precision. */
export const epochNowMs = (): number => performance.timeOrigin + performance.now();

/**
 * The event time of event number `n` without making the event (what `nexmarkEvent(n, config)`
 * stamps it with): for pacing, which must know an event's time before paying for it.
 */
export function nexmarkEventTimeMs(n: number, config: NexmarkConfig): number {
  return config.baseTimeMs + Math.floor((adjustedEventNumber(n, config) * interEventDelayUs(config)) / 1000);
}

/**
 * Nexmark events 0, 1, 2, ... (see `nexmarkEvent`), each with its event timestamp: the core
 * generator source over `nexmarkEvent`, so splitting (contiguous ranges when bounded, every n-th
 * event when not), rate limiting, checkpoints and restores at any parallelism come from there.
 * With `pace: 'event-time'`, a reader of the same splits that waits for each event's time.
 */
export function nexmarkSource(options: NexmarkSourceOptions = {}): Source<NexmarkEvent> {
  const { events, ratePerSecond, pace, clock, split, ...generatorOptions } = options;
  if (events !== undefined && (!Number.isSafeInteger(events) || events < 0)) {
    throw new ConfigError(`nexmark: option "events" must be an integer >= 0, got ${String(events)}`);
  }
  if (ratePerSecond !== undefined && (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0)) {
    throw new ConfigError(
      `nexmark: option "ratePerSecond" must be a number > 0, got ${String(ratePerSecond)}`,
    );
  }
  if (pace !== undefined && pace !== 'event-time') {
    throw new ConfigError(`nexmark: option "pace" must be 'event-time', got ${String(pace)}`);
  }
  if (pace !== undefined && ratePerSecond !== undefined) {
    throw new ConfigError('nexmark: options "pace" and "ratePerSecond" exclude each other');
  }
  if (split !== undefined && split !== 'ranges' && split !== 'interleaved') {
    throw new ConfigError(`nexmark: option "split" must be 'ranges' or 'interleaved', got ${String(split)}`);
  }
  if (split === 'interleaved' && ratePerSecond !== undefined) {
    throw new ConfigError('nexmark: options "split" \'interleaved\' and "ratePerSecond" exclude each other');
  }
  if (clock !== undefined && typeof clock !== 'function') {
    throw new ConfigError('nexmark: option "clock" must be a function () => epoch ms');
  }
  const config = nexmarkConfig(generatorOptions);
  if (pace === 'event-time' || split === 'interleaved') {
    const paceClock = pace === 'event-time' ? (clock ?? epochNowMs) : undefined;
    return nexmarkReaderSource(config, events, split ?? 'ranges', paceClock);
  }
  const source = generatorSource((n) => nexmarkEvent(n, config), {
    ...(events === undefined ? {} : { count: events }),
    ...(ratePerSecond === undefined ? {} : { ratePerSecond }),
    timestamp: (event) => eventTimestamp(event),
  });
  return { ...source, name: 'nexmark' };
}

/**
 * The generator source's checkpoint format (`[next, end, stride]` splits), with a choice of how
 * a bounded stream is dealt out, and, with a `paceClock`, event-time pacing: an event leaves
 * only once `paceClock() >= its event time`. Latency is then measured from when the event was
 * due, not from when a possibly delayed source got round to it: a stalled pipeline cannot hide
 * its stall by slowing the source down (no coordinated omission). With several splits (after a
 * restore at a smaller parallelism) they are read one after the other.
 */
function nexmarkReaderSource(
  config: NexmarkConfig,
  events: number | undefined,
  split: 'ranges' | 'interleaved',
  paceClock: (() => number) | undefined,
): Source<NexmarkEvent> {
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
      } else if (split === 'interleaved') {
        splits = [[subtaskIndex, events, parallelism]];
      } else {
        const [start, end] = splitRange(events, subtaskIndex, parallelism);
        splits = [[start, end, 1]];
      }
      return {
        poll(output: SourceOutput<NexmarkEvent>, maxRecords: number) {
          const now = paceClock === undefined ? Number.POSITIVE_INFINITY : paceClock();
          let budget = maxRecords;
          while (splits.length > 0 && budget > 0) {
            const current = splits[0]!;
            let next = current[0];
            const end = current[1];
            const stride = current[2];
            let i = 0;
            let dueMs = 0;
            if (paceClock === undefined) {
              for (; i < budget && next < end; i++) {
                const event = nexmarkEvent(next, config);
                output.collect(event, eventTimestamp(event));
                next += stride;
              }
            } else {
              for (; i < budget && next < end; i++) {
                dueMs = nexmarkEventTimeMs(next, config);
                if (dueMs > now) break;
                output.collect(nexmarkEvent(next, config), dueMs);
                next += stride;
              }
            }
            current[0] = next;
            budget -= i;
            if (next >= end) splits.shift();
            // The next event is not due yet: come back when it is.
            else if (dueMs > now) return { sleepMs: dueMs - now };
          }
          return splits.length > 0 ? PollStatus.More : PollStatus.End;
        },
        snapshotState: () => splits.map(([next, end, stride]): NexmarkSplit => [next, end, stride]),
      };
    },
  };
}
