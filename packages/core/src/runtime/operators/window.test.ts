import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { count } from '../../api/aggregates.ts';
import type { DataStream, SingleOutputStream } from '../../api/data-stream.ts';
import { outputTag } from '../../contracts/output-tag.ts';
import { ConfigError, JobExecutionError } from '../../errors.ts';
import { createOperatorHarness, type HarnessRecord, type OperatorHarness } from '../../testing/index.ts';
import { session, sliding, type TimeWindow, tumbling, type WindowAssigner } from '../../time/windows.ts';
import type { TimeWindowAssigner } from './window.ts';

interface Reading {
  readonly sensor: string;
  readonly ts: number;
  readonly value: number;
}

/** `<sensor> <start>-<end> <sum>`: what every window function below reports. */
const line = (sensor: string, window: TimeWindow, total: number): string =>
  `${sensor} ${window.start}-${window.end} ${total}`;

/** The windows of one sensor's timestamps, by a plain loop (sessions merge when they touch). */
function windowsOf(assigner: TimeWindowAssigner, timestamps: readonly number[]): TimeWindow[] {
  if (assigner.kind === 'session') {
    const sorted = [...timestamps].sort((a, b) => a - b);
    const sessions: { start: number; end: number }[] = [];
    for (const ts of sorted) {
      const last = sessions.at(-1);
      if (last !== undefined && ts <= last.end) last.end = Math.max(last.end, ts + assigner.gap);
      else sessions.push({ start: ts, end: ts + assigner.gap });
    }
    return sessions;
  }
  const slide = assigner.kind === 'sliding' ? assigner.slide : assigner.size;
  const windows = new Map<number, TimeWindow>();
  for (const ts of timestamps) {
    for (let start = Math.floor(ts / slide) * slide; start > ts - assigner.size; start -= slide) {
      windows.set(start, { start, end: start + assigner.size });
    }
  }
  return [...windows.values()];
}

/** Every window's sum, by a plain loop over the readings. */
function expectedSums(assigner: TimeWindowAssigner, readings: readonly Reading[]): string[] {
  const sensors = [...new Set(readings.map((r) => r.sensor))];
  return sensors.flatMap((sensor) => {
    const own = readings.filter((r) => r.sensor === sensor);
    return windowsOf(
      assigner,
      own.map((r) => r.ts),
    ).map((w) =>
      line(
        sensor,
        w,
        own.filter((r) => r.ts >= w.start && r.ts < w.end).reduce((total, r) => total + r.value, 0),
      ),
    );
  });
}

type WindowBuild = (input: DataStream<Reading>) => SingleOutputStream<string>;

/** The three window functions, each reporting the same line per window. */
function windowFunctions(assigner: WindowAssigner): Record<string, WindowBuild> {
  const keyed = (input: DataStream<Reading>) => input.keyBy((r) => r.sensor).window(assigner);
  return {
    reduce: (input) =>
      keyed(input).reduce(
        (a, b) => ({ sensor: a.sensor, ts: a.ts, value: a.value + b.value }),
        (sensor, window, total) => line(sensor, window, total.value),
      ),
    aggregate: (input) =>
      keyed(input).aggregate(
        {
          createAccumulator: () => 0,
          add: (r: Reading, acc: number) => acc + r.value,
          getResult: (acc: number) => acc,
          merge: (a: number, b: number) => a + b,
        },
        (sensor, window, total) => line(sensor, window, total),
      ),
    process: (input) =>
      keyed(input).process<string>({
        process(sensor, ctx, elements, out) {
          out.collect(
            line(
              sensor,
              ctx.window,
              elements.reduce((total, r) => total + r.value, 0),
            ),
          );
        },
      }),
  };
}

const ASSIGNERS: Record<string, TimeWindowAssigner> = {
  tumbling: tumbling(10),
  sliding: sliding(10, 5),
  session: session(4),
};

const readingsArbitrary = fc.array(
  fc.record({
    sensor: fc.constantFrom('s1', 's2', 's3'),
    ts: fc.integer({ min: 0, max: 60 }),
    value: fc.integer({ min: 1, max: 9 }),
  }),
  { maxLength: 40 },
);

/** Records in the given order, each followed by a watermark `lag` behind the highest timestamp so far. */
function feed(harness: OperatorHarness<Reading, string>, readings: readonly Reading[], lag: number): void {
  let highest = Number.NEGATIVE_INFINITY;
  for (const reading of readings) {
    harness.processElement(reading, reading.ts);
    highest = Math.max(highest, reading.ts);
    harness.processWatermark(highest - lag);
  }
}

function byTime(records: readonly HarnessRecord<string>[]): HarnessRecord<string>[] {
  return [...records].sort((a, b) => a.timestamp! - b.timestamp! || a.value.localeCompare(b.value));
}

describe('WindowOperator through the operator harness', () => {
  for (const [assignerName, assigner] of Object.entries(ASSIGNERS)) {
    for (const [fnName, build] of Object.entries(windowFunctions(assigner))) {
      it(`${assignerName} windows with ${fnName}: every window once, as a plain loop computes it`, async () => {
        await fc.assert(
          fc.asyncProperty(readingsArbitrary, async (readings) => {
            const harness = await createOperatorHarness(build);
            // No watermark until the end: no record is late, every window fires once.
            for (const r of readings) harness.processElement(r, r.ts);
            await harness.endInput();
            expect(harness.outputValues().sort()).toEqual(expectedSums(assigner, readings).sort());
            // Results carry their window's max timestamp.
            for (const { value, timestamp } of harness.output()) {
              expect(timestamp).toBe(Number(value.split(' ')[1]!.split('-')[1]) - 1);
            }
          }),
          { numRuns: 40 },
        );
      });
    }
  }

  for (const [assignerName, assigner] of Object.entries(ASSIGNERS)) {
    it(`${assignerName} windows: a snapshot and restore mid-window changes nothing in the output`, async () => {
      const build = windowFunctions(assigner).aggregate!;
      await fc.assert(
        fc.asyncProperty(readingsArbitrary, fc.nat(), async (readings, cutAt) => {
          const ordered = [...readings].sort((a, b) => a.ts - b.ts);
          const cut = ordered.length === 0 ? 0 : cutAt % ordered.length;
          const whole = await createOperatorHarness(build);
          feed(whole, ordered, 3);
          await whole.endInput();

          const first = await createOperatorHarness(build);
          feed(first, ordered.slice(0, cut), 3);
          const second = await createOperatorHarness(build, { restore: await first.snapshot() });
          // The restored subtask learns the watermark again from its input, as after a job restore.
          const lastWatermark = first.watermarks().at(-1);
          if (lastWatermark !== undefined) second.processWatermark(lastWatermark);
          feed(second, ordered.slice(cut), 3);
          await second.endInput();
          // Timers due at the same time fire in an order the restore may change: compare by time, then value.
          expect(byTime([...first.output(), ...second.output()])).toEqual(byTime(whole.output()));
        }),
        { numRuns: 60 },
      );
    });
  }

  it('re-fires a window for a record within the allowed lateness; later ones go to the late side output', async () => {
    const late = outputTag<Reading>('late');
    const harness = await createOperatorHarness((input: DataStream<Reading>) =>
      input
        .keyBy((r) => r.sensor)
        .window(tumbling(10))
        .allowedLateness(5)
        .sideOutputLateData(late)
        .aggregate(count(), (sensor, window, n) => line(sensor, window, n)),
    );
    harness.processElement({ sensor: 's1', ts: 1, value: 0 }, 1);
    harness.processElement({ sensor: 's1', ts: 2, value: 0 }, 2);
    harness.processWatermark(9);
    expect(harness.output()).toEqual([{ value: 's1 0-10 2', timestamp: 9 }]);
    harness.processElement({ sensor: 's1', ts: 3, value: 0 }, 3); // late, within the lateness
    expect(harness.outputValues()).toEqual(['s1 0-10 2', 's1 0-10 3']);
    harness.processWatermark(14); // the window's state is dropped
    harness.processElement({ sensor: 's1', ts: 4, value: 0 }, 4);
    expect(harness.outputValues()).toEqual(['s1 0-10 2', 's1 0-10 3']);
    expect(harness.sideOutput(late)).toEqual([{ value: { sensor: 's1', ts: 4, value: 0 }, timestamp: 4 }]);
    expect(harness.lateRecordsDropped).toBe(0);
  });

  it('counts late records it drops when no late side output is set', async () => {
    const harness = await createOperatorHarness((input: DataStream<Reading>) =>
      input
        .keyBy((r) => r.sensor)
        .window(session(5))
        .aggregate(count(), (sensor, window, n) => line(sensor, window, n)),
    );
    harness.processElement({ sensor: 's1', ts: 10, value: 0 }, 10);
    harness.processWatermark(20);
    harness.processElement({ sensor: 's1', ts: 11, value: 0 }, 11);
    harness.processElement({ sensor: 's2', ts: 3, value: 0 }, 3);
    expect(harness.outputValues()).toEqual(['s1 10-15 1']);
    expect(harness.lateRecordsDropped).toBe(2);
  });

  it('fires processing-time windows from the harness clock alone', async () => {
    const harness = await createOperatorHarness(
      (input: DataStream<string>) =>
        input
          .keyBy((word) => word)
          .window(tumbling(100, { time: 'processing' }))
          .aggregate(count(), (word, window, n) => line(word, window, n)),
      { processingTimeMs: 1_000 },
    );
    harness.processElement('a'); // no timestamps: processing time decides the window
    harness.processElement('b');
    harness.setProcessingTime(1_050);
    harness.processElement('a');
    harness.setProcessingTime(1_098);
    expect(harness.output()).toEqual([]);
    harness.setProcessingTime(1_099);
    expect(harness.output()).toEqual([
      { value: 'a 1000-1100 2', timestamp: 1_099 },
      { value: 'b 1000-1100 1', timestamp: 1_099 },
    ]);
    harness.setProcessingTime(1_100);
    harness.processElement('a');
    harness.setProcessingTime(1_199);
    expect(harness.outputValues().slice(2)).toEqual(['a 1100-1200 1']);
  });

  it('merges processing-time sessions by the harness clock', async () => {
    const harness = await createOperatorHarness((input: DataStream<string>) =>
      input
        .keyBy((word) => word)
        .window(session(30, { time: 'processing' }))
        .aggregate(count(), (word, window, n) => line(word, window, n)),
    );
    for (const at of [0, 20, 45]) {
      harness.setProcessingTime(at);
      harness.processElement('a');
    }
    harness.setProcessingTime(73);
    expect(harness.output()).toEqual([]);
    harness.setProcessingTime(74); // the session's max timestamp: its end - 1
    expect(harness.output()).toEqual([{ value: 'a 0-75 3', timestamp: 74 }]);
  });

  it('rejects allowed lateness on processing-time windows, as the API does', async () => {
    await expect(
      createOperatorHarness((input: DataStream<string>) =>
        input
          .keyBy((word) => word)
          .window(tumbling(100, { time: 'processing' }))
          .allowedLateness(5)
          .aggregate(count()),
      ),
    ).rejects.toThrow(ConfigError);
  });

  it('names the window operator when its function fails', async () => {
    const harness = await createOperatorHarness((input: DataStream<Reading>) =>
      input
        .keyBy((r) => r.sensor)
        .window(tumbling(10))
        .reduce((a, b) => {
          if (b.value < 0) throw new Error('negative reading');
          return { sensor: a.sensor, ts: a.ts, value: a.value + b.value };
        }),
    );
    harness.processElement({ sensor: 's1', ts: 1, value: 1 }, 1);
    expect(() => harness.processElement({ sensor: 's1', ts: 2, value: -1 }, 2)).toThrow(JobExecutionError);
    expect(() => harness.processElement({ sensor: 's1', ts: 2, value: -1 }, 2)).toThrow(
      /^operator 'window-1' \(window\(TumblingEventTimeWindows\(size=10ms.*\)\)\) subtask 1\/1 .* while processing record \{ sensor: 's1', ts: 2, value: -1 \}: negative reading$/,
    );
  });
});
