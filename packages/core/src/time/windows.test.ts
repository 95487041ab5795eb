import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hours, seconds } from './duration.ts';
import {
  eventTimeSessionWindows,
  getWindowStartWithOffset,
  maxTimestamp,
  parseWindowNamespace,
  processingTimeSessionWindows,
  session,
  sliding,
  slidingEventTimeWindows,
  slidingProcessingTimeWindows,
  type TimeWindow,
  tumbling,
  tumblingEventTimeWindows,
  tumblingProcessingTimeWindows,
  windowAssignerFromSpec,
  windowCover,
  windowNamespace,
  windowsIntersect,
} from './windows.ts';

const ts = fc.integer({ min: -1_000_000, max: 1_000_000 });
const size = fc.integer({ min: 1, max: 1000 });
const contains = (w: TimeWindow, t: number) => w.start <= t && t < w.end;

describe('getWindowStartWithOffset', () => {
  it('matches Flink on examples, including negatives', () => {
    expect(getWindowStartWithOffset(0, 0, 10)).toBe(0);
    expect(getWindowStartWithOffset(9, 0, 10)).toBe(0);
    expect(getWindowStartWithOffset(10, 0, 10)).toBe(10);
    expect(getWindowStartWithOffset(-1, 0, 10)).toBe(-10);
    expect(getWindowStartWithOffset(-10, 0, 10)).toBe(-10);
    expect(getWindowStartWithOffset(-11, 0, 10)).toBe(-20);
    expect(getWindowStartWithOffset(2, 3, 10)).toBe(-7);
    expect(getWindowStartWithOffset(3, 3, 10)).toBe(3);
    expect(getWindowStartWithOffset(3, -3, 10)).toBe(-3);
    expect(getWindowStartWithOffset(7, -3, 10)).toBe(7);
  });

  it('equals the (x % size + size) % size form it replaced on whole milliseconds, epoch-sized ones included (property)', () => {
    const twoModulos = (t: number, o: number, s: number): number => t - ((((t - o) % s) + s) % s);
    fc.assert(
      fc.property(
        fc.oneof(ts, fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 })),
        fc.integer({ min: -86_400_000, max: 86_400_000 }),
        fc.integer({ min: 1, max: 86_400_000 }),
        (t, o, s) => {
          expect(getWindowStartWithOffset(t, o, s)).toBe(twoModulos(t, o, s));
        },
      ),
    );
  });

  it('aligns a fractional timestamp exactly: the start is a whole multiple of the size', () => {
    expect(getWindowStartWithOffset(2000.1, 0, 2000)).toBe(2000);
    expect(getWindowStartWithOffset(-0.5, 0, 2000)).toBe(-2000);
  });
});

describe('tumbling windows', () => {
  it('put every timestamp in exactly one window of the grid that contains it', () => {
    fc.assert(
      fc.property(ts, size, fc.integer({ min: -999, max: 999 }), (t, s, o) => {
        fc.pre(Math.abs(o) < s);
        const windows = tumblingEventTimeWindows(s, o).assignWindows(t);
        expect(windows).toHaveLength(1);
        const [w] = windows as [TimeWindow];
        expect(contains(w, t)).toBe(true);
        expect(w.end - w.start).toBe(s);
        // aligned to the offset: start ≡ offset (mod size)
        expect((((w.start - o) % s) + s) % s).toBe(0);
      }),
    );
  });

  it('give neighbouring timestamps the same or the adjacent window (a partition of the line)', () => {
    fc.assert(
      fc.property(ts, size, (t, s) => {
        const a = tumbling(s).assignWindows(t)[0]!;
        const b = tumbling(s).assignWindows(t + 1)[0]!;
        expect(a.start === b.start || a.end === b.start).toBe(true);
      }),
    );
  });

  it('know their shape', () => {
    const a = tumbling(seconds(10), { offset: -seconds(2) });
    expect(a).toMatchObject({
      kind: 'tumbling',
      isEventTime: true,
      isMerging: false,
      size: 10_000,
      offset: -2000,
    });
    expect(a.describe()).toBe('TumblingEventTimeWindows(size=10s, offset=-2s)');
    expect(tumbling(hours(1), { time: 'processing' }).describe()).toBe(
      'TumblingProcessingTimeWindows(size=1h, offset=0ms)',
    );
    expect(tumblingProcessingTimeWindows(5).isEventTime).toBe(false);
    expect(tumbling(10).assignWindows(-1)).toEqual([{ start: -10, end: 0 }]);
  });
});

describe('sliding windows', () => {
  it('put a timestamp in exactly size/slide windows when slide divides size, all containing it', () => {
    fc.assert(
      fc.property(
        ts,
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer(),
        (t, slide, k, o) => {
          const s = slide * k;
          const offset = o % slide;
          const windows = slidingEventTimeWindows(s, slide, offset).assignWindows(t);
          expect(windows).toHaveLength(k);
          for (const w of windows) {
            expect(contains(w, t)).toBe(true);
            expect(w.end - w.start).toBe(s);
            expect((((w.start - offset) % slide) + slide) % slide).toBe(0);
          }
          expect(new Set(windows.map(windowNamespace)).size).toBe(k);
        },
      ),
    );
  });

  it('assign every grid window that contains the timestamp, and only those, for any slide', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -300, max: 300 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        (t, s, slide, o) => {
          const offset = o % slide;
          const got = slidingEventTimeWindows(s, slide, offset).assignWindows(t).map(windowNamespace).sort();
          // brute force over all window starts on the grid near t
          const expected: string[] = [];
          for (let start = t - 200; start <= t + 200; start++) {
            const onGrid = (((start - offset) % slide) + slide) % slide === 0;
            if (onGrid && contains({ start, end: start + s }, t)) expected.push(`${start}:${start + s}`);
          }
          expect(got).toEqual(expected.sort());
        },
      ),
    );
  });

  it('follow Flink when slide does not divide size, and when slide > size', () => {
    // size 10, slide 3: windows start at multiples of 3; ts 0 is in [-9,1), [-6,4), [-3,7), [0,10)
    expect(sliding(10, 3).assignWindows(0)).toEqual([
      { start: 0, end: 10 },
      { start: -3, end: 7 },
      { start: -6, end: 4 },
      { start: -9, end: 1 },
    ]);
    expect(sliding(10, 3).assignWindows(1)).toHaveLength(3);
    // size 5, slide 10: gaps between windows
    expect(sliding(5, 10).assignWindows(3)).toEqual([{ start: 0, end: 5 }]);
    expect(sliding(5, 10).assignWindows(7)).toEqual([]);
  });

  it('know their shape', () => {
    const a = sliding(seconds(10), seconds(5), { time: 'processing', offset: 1 });
    expect(a).toMatchObject({
      kind: 'sliding',
      isEventTime: false,
      isMerging: false,
      size: 10_000,
      slide: 5000,
    });
    expect(a.describe()).toBe('SlidingProcessingTimeWindows(size=10s, slide=5s, offset=1ms)');
    expect(slidingProcessingTimeWindows(10, 5).isEventTime).toBe(false);
  });
});

describe('session windows', () => {
  it('open [ts, ts + gap) and merge', () => {
    const a = eventTimeSessionWindows(30);
    expect(a).toMatchObject({ kind: 'session', isEventTime: true, isMerging: true, gap: 30 });
    expect(a.assignWindows(-5)).toEqual([{ start: -5, end: 25 }]);
    expect(a.describe()).toBe('EventTimeSessionWindows(gap=30ms)');
    expect(processingTimeSessionWindows(1000).describe()).toBe('ProcessingTimeSessionWindows(gap=1s)');
    expect(session(10, { time: 'processing' }).isEventTime).toBe(false);
  });
});

describe('assigner validation', () => {
  it.each([
    [() => tumblingEventTimeWindows(0), /TumblingEventTimeWindows: size/],
    [() => tumblingEventTimeWindows(-5), /TumblingEventTimeWindows: size/],
    [() => tumblingEventTimeWindows(Number.NaN), /TumblingEventTimeWindows: size/],
    [() => tumblingEventTimeWindows(1.5), /TumblingEventTimeWindows: size/],
    [() => tumblingEventTimeWindows(10, 10), /TumblingEventTimeWindows: offset/],
    [() => tumblingEventTimeWindows(10, -10), /TumblingEventTimeWindows: offset/],
    [() => tumblingProcessingTimeWindows(Number.POSITIVE_INFINITY), /TumblingProcessingTimeWindows: size/],
    [() => slidingEventTimeWindows(0, 1), /SlidingEventTimeWindows: size/],
    [() => slidingEventTimeWindows(10, 0), /SlidingEventTimeWindows: slide/],
    [() => slidingEventTimeWindows(10, -1), /SlidingEventTimeWindows: slide/],
    [() => slidingEventTimeWindows(10, 5, 5), /SlidingEventTimeWindows: offset.*slide/],
    [() => slidingProcessingTimeWindows(10, 5, -7), /SlidingProcessingTimeWindows: offset/],
    [() => eventTimeSessionWindows(0), /EventTimeSessionWindows: gap/],
    [() => processingTimeSessionWindows(-1), /ProcessingTimeSessionWindows: gap/],
    [() => tumbling(10, { time: 'wall' as 'event' }), /time must be/],
  ])('%#: rejects bad arguments with a RangeError naming assigner and argument', (make, message) => {
    expect(make).toThrow(RangeError);
    expect(make).toThrow(message);
  });

  it('rejects timestamps that are not finite', () => {
    expect(() => tumbling(10).assignWindows(Number.NEGATIVE_INFINITY)).toThrow(/assignTimestamps/);
    expect(() => sliding(10, 5).assignWindows(Number.NaN)).toThrow(RangeError);
    expect(() => session(10).assignWindows(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

describe('specs', () => {
  it('round-trip through plain data', () => {
    for (const a of [
      tumbling(10, { offset: 3 }),
      sliding(10, 5, { time: 'processing', offset: -2 }),
      session(7),
      session(7, { time: 'processing' }),
    ]) {
      const spec = structuredClone(a.toSpec());
      const b = windowAssignerFromSpec(spec);
      expect(b.describe()).toBe(a.describe());
      expect(b.assignWindows(42)).toEqual(a.assignWindows(42));
    }
    expect(() => windowAssignerFromSpec({ kind: 'tumbling', time: 'event', size: 10, offset: 10 })).toThrow(
      RangeError,
    );
  });
});

describe('TimeWindow helpers', () => {
  it('namespaces round-trip for any integer bounds, and bad strings are rejected', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (start, end) => {
        const w = { start, end };
        expect(parseWindowNamespace(windowNamespace(w))).toEqual(w);
      }),
    );
    expect(windowNamespace({ start: -10, end: -5 })).toBe('-10:-5');
    for (const bad of ['', '10', ':10', '10:', 'a:b', '1:2:3', '01:2', ' 1:2', '1e3:2000']) {
      expect(() => parseWindowNamespace(bad)).toThrow(RangeError);
    }
  });

  it('intersect when overlapping or touching (Flink), cover both, and end at maxTimestamp + 1', () => {
    expect(windowsIntersect({ start: 0, end: 10 }, { start: 10, end: 20 })).toBe(true);
    expect(windowsIntersect({ start: 0, end: 10 }, { start: 11, end: 20 })).toBe(false);
    expect(windowsIntersect({ start: 5, end: 6 }, { start: 0, end: 10 })).toBe(true);
    expect(windowCover({ start: 5, end: 6 }, { start: -1, end: 3 })).toEqual({ start: -1, end: 6 });
    expect(maxTimestamp({ start: 0, end: 10 })).toBe(9);
  });
});
