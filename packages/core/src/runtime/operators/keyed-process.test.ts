import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DataStream } from '../../api/data-stream.ts';
import { RecordNotSerializableError } from '../../channels/record-codec.ts';
import type { KeyedProcessFunction } from '../../contracts/functions.ts';
import { ConfigError, JobExecutionError } from '../../errors.ts';
import { valueState } from '../../state/descriptors.ts';
import {
  createOperatorHarness,
  type OperatorHarness,
  type OperatorHarnessSnapshot,
} from '../../testing/index.ts';

interface Click {
  readonly user: string;
  readonly ts: number;
}

const clicks = valueState<number>('clicks', { defaultValue: 0 });

/**
 * Counts each user's clicks; an event-time timer 10 ms after each click reports the count so far,
 * and a processing-time timer 100 ms after the first click of a quiet spell reports it too.
 */
const countClicks: KeyedProcessFunction<string, Click, string> = {
  processElement(click, ctx) {
    const state = ctx.getState(clicks);
    state.update(state.value()! + 1);
    ctx.timerService.registerEventTimeTimer(click.ts + 10);
    ctx.timerService.registerProcessingTimeTimer(ctx.timerService.currentProcessingTime() + 100);
  },
  onTimer(timestamp, ctx, out) {
    out.collect(`${ctx.key} ${ctx.timeDomain} ${timestamp}: ${ctx.getState(clicks).value()}`);
  },
};

const build = (input: DataStream<Click>) => input.keyBy((click) => click.user).process(countClicks);

describe('KeyedProcessOperator through the operator harness', () => {
  it('fires event-time timers as the watermark passes them, with the timer as timestamp', async () => {
    const harness = await createOperatorHarness(build);
    harness.processElement({ user: 'ann', ts: 1 }, 1);
    harness.processElement({ user: 'bob', ts: 5 }, 5);
    harness.processElement({ user: 'ann', ts: 7 }, 7);
    harness.processWatermark(10);
    expect(harness.output()).toEqual([]);
    harness.processWatermark(15);
    expect(harness.output()).toEqual([
      { value: 'ann event-time 11: 2', timestamp: 11 },
      { value: 'bob event-time 15: 1', timestamp: 15 },
    ]);
    harness.processWatermark(17);
    expect(harness.outputValues().slice(2)).toEqual(['ann event-time 17: 2']);
    // Timers fire before the watermark goes on.
    expect(harness.events().at(-1)).toEqual({ kind: 'watermark', watermark: 17 });
    expect(harness.watermarks()).toEqual([10, 15, 17]);
    await harness.close();
  });

  it('fires processing-time timers when the harness clock reaches them, and only then', async () => {
    const harness = await createOperatorHarness(build, { processingTimeMs: 1_000 });
    harness.processElement({ user: 'ann', ts: 1 });
    harness.advanceProcessingTime(50);
    harness.processElement({ user: 'bob', ts: 2 });
    harness.setProcessingTime(1_099);
    expect(harness.output()).toEqual([]);
    harness.setProcessingTime(1_100);
    expect(harness.outputValues()).toEqual(['ann processing-time 1100: 1']);
    harness.setProcessingTime(10_000);
    expect(harness.output()).toEqual([
      { value: 'ann processing-time 1100: 1', timestamp: 1_100 },
      { value: 'bob processing-time 1150: 1', timestamp: 1_150 },
    ]);
    expect(() => harness.setProcessingTime(9_999)).toThrow(ConfigError);
    await harness.close();
  });

  it('fires pending processing-time timers once at end of input, after every event-time timer', async () => {
    const harness = await createOperatorHarness(build);
    harness.processElement({ user: 'ann', ts: 1 }, 1);
    await harness.endInput();
    expect(harness.outputValues()).toEqual(['ann event-time 11: 1', 'ann processing-time 100: 1']);
    expect(harness.watermarks()).toEqual([Number.POSITIVE_INFINITY]);
    expect(() => harness.processElement({ user: 'ann', ts: 2 }, 2)).toThrow(/past end of input/);
  });

  it('restores state and timers from a snapshot: the same output as a run without the restore', async () => {
    type Step = { kind: 'click'; user: string; ts: number } | { kind: 'watermark' } | { kind: 'time' };
    const step = fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant('click' as const),
          user: fc.constantFrom('ann', 'bob', 'cy', 'dee', 'ed'),
          ts: fc.integer({ min: 0, max: 20 }),
        }),
        weight: 4,
      },
      { arbitrary: fc.record({ kind: fc.constant('watermark' as const) }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('time' as const) }), weight: 1 },
    );
    const apply = (harness: OperatorHarness<Click, string>, steps: readonly Step[], from: number): void => {
      steps.forEach((s, i) => {
        const at = from + i;
        if (s.kind === 'click') harness.processElement({ user: s.user, ts: at * 5 + s.ts }, at * 5 + s.ts);
        else if (s.kind === 'watermark') harness.processWatermark(at * 5);
        else harness.advanceProcessingTime(40);
      });
    };
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), fc.nat(), async (steps, cutAt) => {
        const cut = steps.length === 0 ? 0 : cutAt % steps.length;
        const whole = await createOperatorHarness(build);
        apply(whole, steps, 0);
        await whole.endInput();

        const first = await createOperatorHarness(build);
        apply(first, steps.slice(0, cut), 0);
        const snapshot = await first.snapshot();
        const second = await createOperatorHarness(build, {
          restore: snapshot,
          processingTimeMs: first.processingTimeMs,
        });
        // A restored operator has not seen the watermark yet: the next one brings it up to date.
        apply(second, steps.slice(cut), cut);
        await second.endInput();
        expect([...first.outputValues(), ...second.outputValues()].sort()).toEqual(
          whole.outputValues().sort(),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('rescales: key groups move whole to the subtasks that own them, and back', async () => {
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const one = await createOperatorHarness(build);
    for (const [i, user] of users.entries()) one.processElement({ user, ts: i }, i);
    const atOne = await one.snapshot();

    const two: OperatorHarness<Click, string>[] = [];
    for (const subtaskIndex of [0, 1]) {
      two.push(await createOperatorHarness(build, { parallelism: 2, subtaskIndex, restore: atOne }));
    }
    // Every user clicks once more, on the subtask that owns it; each count must continue.
    for (const user of users)
      two.find((h) => h.owns({ user, ts: 0 }))!.processElement({ user, ts: 100 }, 100);
    const owned = two.map((h) => users.filter((user) => h.owns({ user, ts: 0 })).length);
    expect(owned[0]! + owned[1]!).toBe(users.length);
    expect(owned.every((n) => n > 0)).toBe(true);
    const snapshots: OperatorHarnessSnapshot[] = [];
    for (const h of two) snapshots.push(await h.snapshot());

    const back = await createOperatorHarness(build, { restore: snapshots });
    back.processWatermark(Number.POSITIVE_INFINITY);
    // The restored event-time timers: 10 ms after each user's first click and after its second.
    const expected = users.flatMap((user, i) => [
      `${user} event-time ${i + 10}: 2`,
      `${user} event-time 110: 2`,
    ]);
    expect(back.outputValues().sort()).toEqual(expected.sort());
  });

  it('refuses a record whose key another subtask owns, naming that subtask', async () => {
    const harness = await createOperatorHarness(build, { parallelism: 2, subtaskIndex: 0 });
    const foreign = Array.from({ length: 20 }, (_, i) => ({ user: `u${i}`, ts: 0 })).find(
      (click) => !harness.owns(click),
    )!;
    expect(() => harness.processElement(foreign, 0)).toThrow(ConfigError);
    expect(() => harness.processElement(foreign, 0)).toThrow(/belongs to subtask 1 of 2/);
  });

  it('reports a failing function with the operator, the subtask and the record', async () => {
    const check: KeyedProcessFunction<string, Click, string> = {
      processElement(click) {
        if (click.ts < 0) throw new RangeError('negative time');
      },
    };
    const harness = await createOperatorHarness((input: DataStream<Click>) =>
      input
        .keyBy((click) => click.user)
        .process(check)
        .uid('check-clicks')
        .name('Check clicks'),
    );
    harness.processElement({ user: 'ann', ts: 1 }, 1);
    let error: unknown;
    try {
      harness.processElement({ user: 'ann', ts: -1 }, 1);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(JobExecutionError);
    const failure = error as JobExecutionError;
    expect(failure.operatorId).toBe('check-clicks');
    expect(failure.operatorName).toBe('Check clicks');
    expect(failure.message).toContain("operator 'check-clicks' (Check clicks) subtask 1/1");
    expect(failure.message).toContain("while processing record { user: 'ann', ts: -1 }: negative time");
    expect(failure.cause).toBeInstanceOf(RangeError);
  });

  it('applies the record contract to what a function emits, as a record writer does', async () => {
    const withCallback: KeyedProcessFunction<string, Click, { user: string; callback: () => void }> = {
      processElement(click, _ctx, out) {
        out.collect({ user: click.user, callback: () => {} });
      },
    };
    const harness = await createOperatorHarness((input: DataStream<Click>) =>
      input.keyBy((click) => click.user).process(withCallback),
    );
    expect(() => harness.processElement({ user: 'ann', ts: 1 }, 1)).toThrow(
      expect.objectContaining({
        operatorId: 'process-1',
        cause: expect.any(RecordNotSerializableError),
      }),
    );
  });
});
