import { PollStatus, type SourceReaderContext, silentLogger } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { nexmarkConfig, nexmarkEvent } from './generator.ts';
import { eventTimestamp, type NexmarkEvent } from './model.ts';
import { nexmarkEventTimeMs, nexmarkSource } from './source.ts';

function context(
  subtaskIndex: number,
  parallelism: number,
  restoredState?: readonly unknown[],
): SourceReaderContext {
  return {
    jobName: 'test',
    logger: silentLogger,
    operatorId: 'nexmark',
    subtaskIndex,
    parallelism,
    currentProcessingTime: () => 0,
    notifyAvailable: () => {},
    restoredState,
  };
}

describe('nexmarkEventTimeMs', () => {
  it('is the timestamp nexmarkEvent gives the event, in order and out of order', () => {
    for (const options of [{}, { outOfOrderGroupSize: 16, eventRatePerSecond: 333_333 }]) {
      const config = nexmarkConfig(options);
      for (let n = 0; n < 5000; n++)
        expect(nexmarkEventTimeMs(n, config)).toBe(eventTimestamp(nexmarkEvent(n, config)));
    }
  });
});

describe("nexmarkSource({ pace: 'event-time' })", () => {
  const baseTimeMs = 1_000_000;
  // 2000 events per second: events 2k and 2k + 1 share the millisecond baseTimeMs + k.
  const options = { events: 100, baseTimeMs, eventRatePerSecond: 2000, pace: 'event-time' } as const;

  it('releases event n not before its event time, and says how long to sleep until the next', () => {
    let now = baseTimeMs - 5;
    const source = nexmarkSource({ ...options, clock: () => now });
    expect(source.boundedness).toBe('bounded');
    const reader = source.createReader(context(0, 1));
    const out: Array<[NexmarkEvent, number | undefined, number]> = [];
    const output = {
      collect: (value: NexmarkEvent, timestamp?: number) => out.push([value, timestamp, now]),
      emitWatermark() {},
      markIdle() {},
    };
    expect(reader.poll(output, 512)).toEqual({ sleepMs: 5 });
    expect(out).toEqual([]);
    now = baseTimeMs;
    expect(reader.poll(output, 512)).toEqual({ sleepMs: 1 });
    expect(out.length).toBe(2);
    now = baseTimeMs + 10.5;
    expect(reader.poll(output, 512)).toEqual({ sleepMs: 0.5 });
    expect(out.length).toBe(22);
    now = baseTimeMs + 1000;
    expect(reader.poll(output, 512)).toBe(PollStatus.End);
    expect(out.length).toBe(100);
    for (const [event, timestamp, releasedAt] of out) {
      expect(timestamp).toBe(eventTimestamp(event));
      expect(releasedAt).toBeGreaterThanOrEqual(eventTimestamp(event));
    }
    const config = nexmarkConfig({ baseTimeMs, eventRatePerSecond: 2000 });
    expect(out.map(([e]) => e)).toEqual(Array.from({ length: 100 }, (_, n) => nexmarkEvent(n, config)));
  });

  it('respects the batch size, splits over subtasks, and resumes from its snapshot', () => {
    const now = baseTimeMs + 1000;
    const source = nexmarkSource({ ...options, clock: () => now });
    const seen: NexmarkEvent[] = [];
    const output = { collect: (value: NexmarkEvent) => seen.push(value), emitWatermark() {}, markIdle() {} };
    const first = source.createReader(context(0, 2));
    expect(first.poll(output, 7)).toBe(PollStatus.More);
    expect(seen.length).toBe(7);
    const restored = source.createReader(context(0, 1, structuredClone(first.snapshotState?.(1))));
    while (restored.poll(output, 7) !== PollStatus.End);
    const second = source.createReader(context(1, 2));
    while (second.poll(output, 7) !== PollStatus.End);
    expect(seen.length).toBe(100);
    const config = nexmarkConfig({ baseTimeMs, eventRatePerSecond: 2000 });
    expect(seen).toEqual(Array.from({ length: 100 }, (_, n) => nexmarkEvent(n, config)));
  });

  it('interleaves a bounded stream over subtasks when asked, paced or not', () => {
    const config = nexmarkConfig({ baseTimeMs, eventRatePerSecond: 2000 });
    for (const pace of [undefined, 'event-time'] as const) {
      const source = nexmarkSource({
        events: 100,
        baseTimeMs,
        eventRatePerSecond: 2000,
        split: 'interleaved',
        ...(pace === undefined ? {} : { pace, clock: () => baseTimeMs + 1000 }),
      });
      for (let s = 0; s < 3; s++) {
        const seen: Array<[NexmarkEvent, number | undefined]> = [];
        const output = {
          collect: (value: NexmarkEvent, timestamp?: number) => seen.push([value, timestamp]),
          emitWatermark() {},
          markIdle() {},
        };
        const reader = source.createReader(context(s, 3));
        while (reader.poll(output, 7) !== PollStatus.End);
        const expected = Array.from({ length: 100 }, (_, n) => n).filter((n) => n % 3 === s);
        expect(seen.map(([e]) => e)).toEqual(expected.map((n) => nexmarkEvent(n, config)));
        for (const [e, t] of seen) expect(t).toBe(eventTimestamp(e));
      }
    }
  });

  it('rejects pacing together with a rate', () => {
    expect(() => nexmarkSource({ pace: 'event-time', ratePerSecond: 10 })).toThrow(
      /"pace" and "ratePerSecond"/,
    );
    expect(() => nexmarkSource({ pace: 'wall' as never })).toThrow(/option "pace"/);
    expect(() => nexmarkSource({ split: 'random' as never })).toThrow(/option "split"/);
  });
});
