import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DataStream } from '../../api/data-stream.ts';
import { intervalJoinOperator } from '../../api/interval-join.ts';
import type { ProcessJoinFunction } from '../../contracts/join-functions.ts';
import { outputTag } from '../../contracts/output-tag.ts';
import { JobExecutionError } from '../../errors.ts';
import type { IntervalJoinBounds } from '../../plan/stream-node.ts';
import { LEFT, RIGHT, type Side, type TaggedRecord } from '../../plan/tagged-union.ts';
import { createOperatorHarness, type OperatorHarness } from '../../testing/operator-harness.ts';
import type { OperatorHarnessSnapshot } from '../../testing/operator-harness-state.ts';
import { decodeTaskSnapshot } from '../checkpointing.ts';
import type { OperatorStateSnapshot } from '../operator.ts';
import { IntervalJoinTimestampError, nextUp } from './interval-join.ts';

interface Rec {
  readonly id: number;
  readonly key: string;
}

const pairs: ProcessJoinFunction<Rec, Rec, string> = {
  processElement(left, right, ctx, out) {
    out.collect(`${left.id}|${right.id}|${ctx.leftTimestamp}|${ctx.rightTimestamp}`);
  },
};

function harnessFor(bounds: IntervalJoinBounds, options: Parameters<typeof createOperatorHarness>[1] = {}) {
  return createOperatorHarness<TaggedRecord<Rec>, string>(
    (sides: DataStream<TaggedRecord<Rec>>) =>
      intervalJoinOperator(
        sides.keyBy((t) => t.value.key),
        bounds,
        pairs,
      ),
    options,
  );
}

function bounds(
  lowerMs: number,
  upperMs: number,
  lowerInclusive = true,
  upperInclusive = true,
): IntervalJoinBounds {
  return { lowerMs, upperMs, lowerInclusive, upperInclusive };
}

const left = (id: number, key = 'k'): TaggedRecord<Rec> => ({ side: LEFT, value: { id, key } });
const right = (id: number, key = 'k'): TaggedRecord<Rec> => ({ side: RIGHT, value: { id, key } });

/** The keyed state entries and event-time timers in a harness snapshot. */
function stateIn(snapshot: OperatorHarnessSnapshot): { entries: number; timers: number } {
  const state = decodeTaskSnapshot(snapshot.bytes)[snapshot.operatorId] as OperatorStateSnapshot | undefined;
  let entries = 0;
  let timers = 0;
  for (const group of state?.keyGroups ?? []) {
    entries += group.entries.length;
    timers += group.eventTimers.length;
  }
  return { entries, timers };
}

describe('IntervalJoinOperator', () => {
  it('joins a pair at the edge of the interval even when the watermark has reached it, and forgets both once it is past', async () => {
    const harness = await harnessFor(bounds(0, 10));
    harness.processElement(left(1), 100);
    harness.processWatermark(110);
    // Flink's operator would have removed the left record at watermark 110 and missed this pair.
    harness.processElement(right(2), 110);
    expect(harness.output()).toEqual([{ value: '1|2|100|110', timestamp: 110 }]);
    expect(stateIn(await harness.snapshot())).toEqual({ entries: 2, timers: 2 });
    harness.processWatermark(111);
    expect(stateIn(await harness.snapshot())).toEqual({ entries: 0, timers: 0 });
  });

  it('drops and counts records below the watermark', async () => {
    const harness = await harnessFor(bounds(-100, 100));
    harness.processElement(left(1), 150);
    harness.processWatermark(200);
    harness.processElement(right(2), 199);
    harness.processElement(right(3), 200);
    expect(harness.outputValues()).toEqual(['1|3|150|200']);
    expect(harness.lateRecordsDropped).toBe(1);
  });

  it('sends late records to the late side output of their side, when set', async () => {
    const leftLate = outputTag<Rec>('left-late');
    const rightLate = outputTag<Rec>('right-late');
    const harness = await createOperatorHarness<TaggedRecord<Rec>, string>(
      (sides: DataStream<TaggedRecord<Rec>>) =>
        intervalJoinOperator(
          sides.keyBy((t) => t.value.key),
          bounds(-100, 100),
          pairs,
          leftLate.id,
          rightLate.id,
        ),
    );
    harness.processWatermark(200);
    harness.processElement(left(1), 150);
    harness.processElement(right(2), 199);
    harness.processElement(right(3), 200);
    expect(harness.sideOutput(leftLate)).toEqual([{ value: { id: 1, key: 'k' }, timestamp: 150 }]);
    expect(harness.sideOutput(rightLate)).toEqual([{ value: { id: 2, key: 'k' }, timestamp: 199 }]);
    expect(harness.lateRecordsDropped).toBe(0);
    expect(harness.outputValues()).toEqual([]);
  });

  it('honours exclusive bounds', async () => {
    const harness = await harnessFor(bounds(0, 10, false, false));
    harness.processElement(left(1), 100);
    for (const [id, ts] of [
      [2, 100],
      [3, 105],
      [4, 110],
    ] as const) {
      harness.processElement(right(id), ts);
    }
    expect(harness.outputValues()).toEqual(['1|3|100|105']);
  });

  it('joins only records with the same key, and the output carries the later timestamp', async () => {
    const harness = await harnessFor(bounds(-5, 5));
    harness.processElement(right(1, 'a'), 103);
    harness.processElement(right(2, 'b'), 100);
    harness.processElement(left(3, 'a'), 100);
    expect(harness.output()).toEqual([{ value: '3|1|100|103', timestamp: 103 }]);
  });

  it('fails with a typed error naming the side when a record has no timestamp', async () => {
    const harness = await harnessFor(bounds(0, 1));
    let caught: unknown;
    try {
      harness.processElement(right(1));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(JobExecutionError);
    expect((caught as Error).cause).toBeInstanceOf(IntervalJoinTimestampError);
    expect((caught as Error).message).toMatch(/a right record has no event timestamp/);
  });

  it('nextUp gives the next double above', () => {
    for (const x of [1, -1, 1_700_000_000_000.25, -3.5e-300, 2 ** 1000]) {
      const up = nextUp(x);
      expect(up).toBeGreaterThan(x);
      expect((x + up) / 2 === x || (x + up) / 2 === up).toBe(true);
    }
    expect(nextUp(0)).toBe(Number.MIN_VALUE);
    expect(nextUp(-Number.MIN_VALUE) === 0).toBe(true); // -0
    expect(nextUp(Number.NEGATIVE_INFINITY)).toBe(-Number.MAX_VALUE);
  });
});

/**
 * A record's timestamp is an offset from the watermark at the time (0 before the first), so that
 * some records are late, most are not, and many land exactly on a watermark or an interval edge.
 * Quarter milliseconds, so that fractional timestamps and bounds meet too.
 */
type Event =
  | { readonly kind: 'record'; readonly side: Side; readonly key: string; readonly offset: number }
  | { readonly kind: 'watermark'; readonly advance: number };

const eventArbitrary: fc.Arbitrary<Event> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      side: fc.constantFrom(LEFT, RIGHT),
      key: fc.constantFrom('x', 'y'),
      // Often exactly on the watermark: the edge case of lateness and of cleanup.
      offset: fc.oneof(
        fc.constant(0),
        fc.integer({ min: -8, max: 120 }).map((q) => q / 4),
      ),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('watermark' as const),
      advance: fc.integer({ min: 0, max: 16 }).map((q) => q / 4),
    }),
    weight: 1,
  },
);

/** Replays the events' watermarks: the timestamp of each record, the watermark after each event. */
function timeline(events: readonly Event[]): { ts: number[]; watermark: number[] } {
  let watermark = Number.NEGATIVE_INFINITY;
  const ts: number[] = [];
  const after: number[] = [];
  for (const e of events) {
    if (e.kind === 'watermark') watermark = Math.max(watermark, 0) + e.advance;
    ts.push(e.kind === 'record' ? Math.max(watermark, 0) + e.offset : Number.NaN);
    after.push(watermark);
  }
  return { ts, watermark: after };
}

const boundsArbitrary: fc.Arbitrary<IntervalJoinBounds> = fc
  .record({
    lower: fc.integer({ min: -120, max: 120 }),
    width: fc.integer({ min: 0, max: 160 }),
    lowerInclusive: fc.boolean(),
    upperInclusive: fc.boolean(),
  })
  .map(({ lower, width, lowerInclusive, upperInclusive }) => ({
    lowerMs: lower / 4,
    upperMs: (lower + width) / 4,
    lowerInclusive,
    upperInclusive,
  }));

/** The plain-loop answer: records below the watermark are dropped; every other pair in the interval joins. */
function model(events: readonly Event[], b: IntervalJoinBounds): { pairs: string[]; late: number } {
  const time = timeline(events);
  let late = 0;
  const kept: Array<{ id: number; side: Side; key: string; ts: number }> = [];
  events.forEach((e, id) => {
    if (e.kind === 'watermark') return;
    const ts = time.ts[id]!;
    if (ts < (time.watermark[id - 1] ?? Number.NEGATIVE_INFINITY)) late++;
    else kept.push({ id, side: e.side, key: e.key, ts });
  });
  const out: string[] = [];
  for (const l of kept) {
    if (l.side !== LEFT) continue;
    for (const r of kept) {
      if (r.side !== RIGHT || r.key !== l.key) continue;
      const low = l.ts + b.lowerMs;
      const high = l.ts + b.upperMs;
      if ((b.lowerInclusive ? r.ts >= low : r.ts > low) && (b.upperInclusive ? r.ts <= high : r.ts < high)) {
        out.push(`${l.id}|${r.id}|${l.ts}|${r.ts}@${Math.max(l.ts, r.ts)}`);
      }
    }
  }
  return { pairs: out.sort(), late };
}

/** Feeds `events[from..to)` to the harnesses: a record to the one that owns its key, a watermark to all. */
function feed(
  harnesses: readonly OperatorHarness<TaggedRecord<Rec>, string>[],
  events: readonly Event[],
  from: number,
  to: number,
): void {
  const time = timeline(events);
  for (let id = from; id < to; id++) {
    const e = events[id]!;
    if (e.kind === 'watermark') {
      for (const h of harnesses) h.processWatermark(time.watermark[id]!);
      continue;
    }
    const record: TaggedRecord<Rec> = { side: e.side, value: { id, key: e.key } };
    harnesses.find((h) => h.owns(record))!.processElement(record, time.ts[id]!);
  }
}

function outputOf(harnesses: readonly OperatorHarness<TaggedRecord<Rec>, string>[]): string[] {
  return harnesses.flatMap((h) => h.output().map((o) => `${o.value}@${o.timestamp}`));
}

describe('IntervalJoinOperator against a nested loop, with late records', () => {
  it('emits exactly the pairs of records that were not late, and keeps no state after the last watermark', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArbitrary, { maxLength: 300, size: 'max' }),
        boundsArbitrary,
        async (events, b) => {
          const harness = await harnessFor(b);
          feed([harness], events, 0, events.length);
          const expected = model(events, b);
          expect(outputOf([harness]).sort()).toEqual(expected.pairs);
          expect(harness.lateRecordsDropped).toBe(expected.late);
          await harness.endInput();
          expect(stateIn(await harness.snapshot())).toEqual({ entries: 0, timers: 0 });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives the same answer when restored from a snapshot at another parallelism midway', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArbitrary, { maxLength: 300, size: 'max' }),
        boundsArbitrary,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom(1, 3),
        async (events, b, cut, restoredParallelism) => {
          const at = Math.floor(cut * events.length);
          const before = await Promise.all(
            [0, 1].map((subtaskIndex) => harnessFor(b, { parallelism: 2, subtaskIndex })),
          );
          feed(before, events, 0, at);
          const snapshots = await Promise.all(before.map((h) => h.snapshot()));
          const after = await Promise.all(
            Array.from({ length: restoredParallelism }, (_, subtaskIndex) =>
              harnessFor(b, { parallelism: restoredParallelism, subtaskIndex, restore: snapshots }),
            ),
          );
          // A restored operator has seen no watermark yet, as after a job restarts.
          const watermark = timeline(events).watermark[at - 1] ?? Number.NEGATIVE_INFINITY;
          if (watermark !== Number.NEGATIVE_INFINITY) for (const h of after) h.processWatermark(watermark);
          feed(after, events, at, events.length);
          const expected = model(events, b);
          expect([...outputOf(before), ...outputOf(after)].sort()).toEqual(expected.pairs);
          expect([...before, ...after].reduce((n, h) => n + h.lateRecordsDropped, 0)).toBe(expected.late);
        },
      ),
      { numRuns: 100 },
    );
  });
});
