import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { count } from '../../api/aggregates.ts';
import type { DataStream } from '../../api/data-stream.ts';
import type { ProcessWindowFunction } from '../../contracts/functions.ts';
import { countEvictor, timeEvictor } from '../../contracts/window-evictor.ts';
import {
  countTrigger,
  eventTimeTrigger,
  purgingTrigger,
  type Trigger,
} from '../../contracts/window-trigger.ts';
import { ConfigError } from '../../errors.ts';
import { reducingState, valueState } from '../../state/descriptors.ts';
import { createOperatorHarness } from '../../testing/index.ts';
import { globalWindows, session, tumbling } from '../../time/windows.ts';
import { decodeTaskSnapshot } from '../checkpointing.ts';

interface Item {
  readonly key: string;
  readonly v: number;
}

const itemsArbitrary = fc.array(
  fc.record({ key: fc.constantFrom('a', 'b', 'c'), v: fc.integer({ min: -50, max: 50 }) }),
  { maxLength: 120 },
);

/** The values of each key in input order. */
function byKey(items: readonly Item[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const { key, v } of items) out.set(key, [...(out.get(key) ?? []), v]);
  return out;
}

const listValues: ProcessWindowFunction<Item, string, string> = {
  process(key, _ctx, elements, out) {
    out.collect(`${key}:${elements.map((e) => e.v).join(',')}`);
  },
};

describe('count windows (global windows with count triggers)', () => {
  it('countWindow(size) fires every `size` elements of a key with just those elements, as a plain loop groups them', async () => {
    await fc.assert(
      fc.asyncProperty(itemsArbitrary, fc.integer({ min: 1, max: 5 }), async (items, size) => {
        const harness = await createOperatorHarness((input: DataStream<Item>) =>
          input
            .keyBy((i) => i.key)
            .countWindow(size)
            .reduce((a, b) => ({ key: a.key, v: a.v + b.v })),
        );
        for (const item of items) harness.processElement(item);
        await harness.endInput(); // an unfinished window is not emitted (as Flink)
        const expected: string[] = [];
        for (const [key, values] of byKey(items)) {
          for (let i = size; i <= values.length; i += size) {
            expected.push(`${key}:${values.slice(i - size, i).reduce((a, b) => a + b, 0)}`);
          }
        }
        const got = harness.outputValues().map((r) => `${r.key}:${r.v}`);
        expect(got.sort()).toEqual(expected.sort());
        await harness.close();
      }),
      { numRuns: 40 },
    );
  });

  it('countWindow(size, slide) fires every `slide` elements with the last `size`', async () => {
    await fc.assert(
      fc.asyncProperty(
        itemsArbitrary,
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        async (items, size, slide) => {
          const harness = await createOperatorHarness((input: DataStream<Item>) =>
            input
              .keyBy((i) => i.key)
              .countWindow(size, slide)
              .process(listValues),
          );
          for (const item of items) harness.processElement(item);
          await harness.endInput();
          const expected: string[] = [];
          for (const [key, values] of byKey(items)) {
            for (let n = slide; n <= values.length; n += slide) {
              expected.push(`${key}:${values.slice(Math.max(0, n - size), n).join(',')}`);
            }
          }
          expect(harness.outputValues().sort()).toEqual(expected.sort());
          await harness.close();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('keeps a count window across a snapshot and restore', async () => {
    const build = (input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .countWindow(3)
        .aggregate(count(), (key, _w, n) => `${key}:${n}`);
    const first = await createOperatorHarness(build);
    first.processElement({ key: 'a', v: 1 });
    first.processElement({ key: 'a', v: 2 });
    const second = await createOperatorHarness(build, { restore: await first.snapshot() });
    second.processElement({ key: 'a', v: 3 });
    expect(second.outputValues()).toEqual(['a:3']);
    expect(second.output()[0]!.timestamp).toBe(Number.POSITIVE_INFINITY); // the global window's max timestamp
  });

  it('refuses bad sizes, naming the argument', async () => {
    await expect(
      createOperatorHarness((input: DataStream<Item>) =>
        input
          .keyBy((i) => i.key)
          .countWindow(0)
          .process(listValues),
      ),
    ).rejects.toThrow(new ConfigError('countWindow: size must be an integer >= 1, got 0'));
    await expect(
      createOperatorHarness((input: DataStream<Item>) =>
        input
          .keyBy((i) => i.key)
          .countWindow(2, 1.5)
          .process(listValues),
      ),
    ).rejects.toThrow(/countWindow: slide must be an integer >= 1, got 1.5/);
  });
});

/** Fires early every `every` elements, and at the end of the event-time window, purging then. */
function earlyAndOnTime(every: number): Trigger<unknown> {
  const seen = reducingState<number>('seen', (a, b) => a + b);
  return {
    onElement(_e, _ts, window, ctx) {
      ctx.registerEventTimeTimer(window.end - 1);
      const state = ctx.getPartitionedState(seen);
      state.add(1);
      return state.get()! % every === 0 ? 'FIRE' : 'CONTINUE';
    },
    onEventTime: (time, window) => (time === window.end - 1 ? 'FIRE_AND_PURGE' : 'CONTINUE'),
    onProcessingTime: () => 'CONTINUE',
    onMerge(window, ctx) {
      ctx.mergePartitionedState(seen);
      ctx.registerEventTimeTimer(window.end - 1);
    },
    clear(window, ctx) {
      ctx.getPartitionedState(seen).clear();
      ctx.deleteEventTimeTimer(window.end - 1);
    },
  };
}

describe('custom triggers', () => {
  it('fire early by their per-window state, on time by their timer, and keep both across a restore', async () => {
    const build = (input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .window(tumbling(100))
        .trigger(earlyAndOnTime(2))
        .process(listValues);
    const first = await createOperatorHarness(build);
    first.processElement({ key: 'a', v: 1 }, 10);
    first.processElement({ key: 'a', v: 2 }, 20); // 2nd: early firing
    first.processElement({ key: 'a', v: 3 }, 150); // another window
    first.processElement({ key: 'a', v: 4 }, 30); // 3rd of [0,100): no firing
    expect(first.outputValues()).toEqual(['a:1,2']);
    const second = await createOperatorHarness(build, { restore: await first.snapshot() });
    second.processElement({ key: 'a', v: 5 }, 40); // 4th: early firing, with the restored count
    expect(second.outputValues()).toEqual(['a:1,2,4,5']);
    second.processWatermark(99); // on time: fire and purge
    expect(second.output().slice(1)).toEqual([{ value: 'a:1,2,4,5', timestamp: 99 }]);
    second.processWatermark(199);
    expect(second.outputValues().slice(2)).toEqual(['a:3']);
  });

  it('merge their state with session windows', async () => {
    const harness = await createOperatorHarness((input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .window(session(10))
        .trigger(countTrigger(3))
        .process(listValues),
    );
    harness.processElement({ key: 'a', v: 1 }, 0);
    harness.processElement({ key: 'a', v: 2 }, 20);
    expect(harness.outputValues()).toEqual([]);
    harness.processElement({ key: 'a', v: 3 }, 10); // bridges [0,10) and [20,30): counts 1 + 1 + 1
    expect(harness.outputValues()).toEqual(['a:1,2,3']);
  });

  it('need onMerge with session windows', async () => {
    const { onMerge: _, ...noMerge } = earlyAndOnTime(2);
    await expect(
      createOperatorHarness((input: DataStream<Item>) =>
        input
          .keyBy((i) => i.key)
          .window(session(10))
          .trigger(noMerge)
          .process(listValues),
      ),
    ).rejects.toThrow(
      /trigger: EventTimeSessionWindows\(gap=.*\) merge windows, so the trigger needs an onMerge\(\) method/,
    );
  });

  it('fail the job naming the operator when they return something else', async () => {
    const harness = await createOperatorHarness((input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .window(globalWindows())
        .trigger({
          onElement: () => 'FIRE!' as never,
          onEventTime: () => 'CONTINUE',
          onProcessingTime: () => 'CONTINUE',
          clear: () => {},
        })
        .process(listValues),
    );
    expect(() => harness.processElement({ key: 'a', v: 1 })).toThrow(
      /trigger \(custom\) of window operator '.*window.*': onElement returned FIRE!; expected 'CONTINUE', 'FIRE', 'PURGE' or 'FIRE_AND_PURGE'/,
    );
  });

  it('fire on processing time from the harness clock alone', async () => {
    const next = valueState<number>('next-firing');
    // Every 100 ms of processing time after a key's first element (Flink's ContinuousProcessingTimeTrigger).
    const every100ms: Trigger<unknown> = {
      onElement(_e, _ts, _w, ctx) {
        const state = ctx.getPartitionedState(next);
        if (state.value() === undefined) {
          state.update(ctx.currentProcessingTime() + 100);
          ctx.registerProcessingTimeTimer(state.value()!);
        }
        return 'CONTINUE';
      },
      onEventTime: () => 'CONTINUE',
      onProcessingTime(time, _w, ctx) {
        ctx.getPartitionedState(next).update(time + 100);
        ctx.registerProcessingTimeTimer(time + 100);
        return 'FIRE_AND_PURGE';
      },
      clear(_w, ctx) {
        ctx.getPartitionedState(next).clear();
      },
    };
    const harness = await createOperatorHarness(
      (input: DataStream<Item>) =>
        input
          .keyBy((i) => i.key)
          .window(globalWindows())
          .trigger(every100ms)
          .process(listValues),
      { processingTimeMs: 1_000 },
    );
    harness.processElement({ key: 'a', v: 1 });
    harness.setProcessingTime(1_050);
    harness.processElement({ key: 'a', v: 2 });
    harness.setProcessingTime(1_099);
    expect(harness.outputValues()).toEqual([]);
    harness.setProcessingTime(1_100);
    expect(harness.outputValues()).toEqual(['a:1,2']);
    harness.processElement({ key: 'a', v: 3 });
    harness.setProcessingTime(1_200);
    expect(harness.outputValues()).toEqual(['a:1,2', 'a:3']);
    harness.setProcessingTime(1_300); // nothing in the window: a firing emits nothing
    expect(harness.outputValues()).toEqual(['a:1,2', 'a:3']);
  });
});

describe('evictors', () => {
  it('timeEvictor keeps the elements within its span of the latest', async () => {
    const harness = await createOperatorHarness((input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .window(tumbling(100))
        .evictor(timeEvictor(30))
        .reduce((a, b) => ({ key: a.key, v: a.v + b.v })),
    );
    for (const [ts, v] of [
      [5, 1],
      [60, 10],
      [80, 100],
      [90, 1000],
    ] as const) {
      harness.processElement({ key: 'a', v }, ts);
    }
    harness.processWatermark(99);
    // latest 90: elements at or before 60 go.
    expect(harness.outputValues()).toEqual([{ key: 'a', v: 1100 }]);
  });

  it('evictAfter: the function sees everything, then only the kept elements stay', async () => {
    const harness = await createOperatorHarness((input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .window(globalWindows())
        .trigger(countTrigger(3))
        .evictor(countEvictor(2, { evictAfter: true }))
        .process(listValues),
    );
    for (let v = 1; v <= 6; v++) harness.processElement({ key: 'a', v });
    expect(harness.outputValues()).toEqual(['a:1,2,3', 'a:2,3,4,5,6']);
  });

  it('with a purging trigger, each firing starts afresh', async () => {
    const harness = await createOperatorHarness((input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .window(globalWindows())
        .trigger(purgingTrigger(countTrigger(2)))
        .evictor(countEvictor(1))
        .process(listValues),
    );
    for (let v = 1; v <= 4; v++) harness.processElement({ key: 'a', v });
    expect(harness.outputValues()).toEqual(['a:2', 'a:4']);
  });
});

describe('per-window state in a ProcessWindowFunction', () => {
  const firings = valueState<number>('firings', { defaultValue: 0 });
  const total = valueState<number>('total-firings', { defaultValue: 0 });
  const cleared: string[] = [];
  const counting: ProcessWindowFunction<Item, string, string> = {
    process(key, ctx, elements, out) {
      const own = ctx.windowState().getState(firings);
      own.update(own.value()! + 1);
      const all = ctx.globalState().getState(total);
      all.update(all.value()! + 1);
      out.collect(`${key} ${ctx.window.start} n=${elements.length} window#${own.value()} key#${all.value()}`);
    },
    clear(key, ctx) {
      cleared.push(`${key} ${ctx.window.start} after ${ctx.windowState().getState(firings).value()}`);
    },
  };

  /** Entries of state `name` in a harness snapshot. */
  async function entriesOf(harness: Awaited<ReturnType<typeof createOperatorHarness>>, name: string) {
    const snapshot = await harness.snapshot();
    const state = decodeTaskSnapshot(snapshot.bytes)[snapshot.operatorId];
    return (state?.keyGroups ?? []).flatMap((g) => g.entries.filter((e) => e[0] === name));
  }

  for (const [name, withTrigger] of [
    ['time windows', false],
    ['windows with a trigger', true],
  ] as const) {
    it(`${name}: window state lasts across late firings and goes with the window; global state stays`, async () => {
      cleared.length = 0;
      const harness = await createOperatorHarness((input: DataStream<Item>) => {
        const windowed = input
          .keyBy((i) => i.key)
          .window(tumbling(10))
          .allowedLateness(20);
        if (withTrigger) windowed.trigger(eventTimeTrigger()); // runs in the triggered window operator
        return windowed.process(counting);
      });
      harness.processElement({ key: 'a', v: 1 }, 1);
      harness.processWatermark(9);
      harness.processElement({ key: 'a', v: 2 }, 2); // late, within the lateness
      harness.processElement({ key: 'a', v: 3 }, 12);
      harness.processWatermark(19);
      expect(harness.outputValues()).toEqual([
        'a 0 n=1 window#1 key#1',
        'a 0 n=2 window#2 key#2',
        'a 10 n=1 window#1 key#3',
      ]);
      expect((await entriesOf(harness, 'firings')).map((e) => e[2]).sort()).toEqual(['0:10', '10:20']);
      harness.processWatermark(29); // [0,10) is cleaned up: clear() sees its state, then it goes
      expect(cleared).toEqual(['a 0 after 2']);
      expect((await entriesOf(harness, 'firings')).map((e) => e[2])).toEqual(['10:20']);
      expect(await entriesOf(harness, 'total-firings')).toHaveLength(1);
    });
  }

  it('is refused with session windows, as in Flink', async () => {
    const harness = await createOperatorHarness((input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .window(session(10))
        .process(counting),
    );
    harness.processElement({ key: 'a', v: 1 }, 1);
    await expect(harness.endInput()).rejects.toThrow(
      /windowState\(\) is not available with merging \(session\) windows/,
    );
  });
});

describe('rescaling', () => {
  const timedItems = fc.array(
    fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
      v: fc.integer({ min: 0, max: 99 }),
      ts: fc.integer({ min: 0, max: 400 }),
    }),
    { maxLength: 80 },
  );

  it('a custom trigger’s state and timers move with their keys when restored at parallelism 2 and 3', async () => {
    const build = (input: DataStream<Item>) =>
      input
        .keyBy((i) => i.key)
        .window(tumbling(100))
        .trigger(earlyAndOnTime(3))
        .process(listValues);
    await fc.assert(
      fc.asyncProperty(timedItems, fc.nat(), fc.constantFrom(2, 3), async (items, cutAt, parallelism) => {
        const sorted = [...items].sort((x, y) => x.ts - y.ts);
        const cut = sorted.length === 0 ? 0 : cutAt % sorted.length;
        const feed = (
          harness: Awaited<ReturnType<typeof createOperatorHarness<Item, string>>>,
          part: typeof sorted,
        ) => {
          for (const { ts, ...item } of part) {
            if (!harness.owns(item)) continue;
            harness.processElement(item, ts);
            harness.processWatermark(ts - 50);
          }
        };
        const whole = await createOperatorHarness(build);
        feed(whole, sorted);
        await whole.endInput();

        const first = await createOperatorHarness(build);
        feed(first, sorted.slice(0, cut));
        const snapshot = await first.snapshot();
        const rest: string[] = [];
        for (let subtaskIndex = 0; subtaskIndex < parallelism; subtaskIndex++) {
          const part = await createOperatorHarness(build, { restore: snapshot, parallelism, subtaskIndex });
          const lastWatermark = first.watermarks().at(-1);
          if (lastWatermark !== undefined) part.processWatermark(lastWatermark);
          feed(part, sorted.slice(cut));
          await part.endInput();
          rest.push(...part.outputValues());
        }
        expect([...first.outputValues(), ...rest].sort()).toEqual(whole.outputValues().sort());
      }),
      { numRuns: 40 },
    );
  });
});
