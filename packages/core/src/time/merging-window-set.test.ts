import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type MergeFunction, MergingWindowSet, mergeWindows } from './merging-window-set.ts';
import { type TimeWindow, windowNamespace } from './windows.ts';

/** Brute force: sort, split where the next timestamp is more than `gap` after the previous. */
function expectedSessions(
  timestamps: number[],
  gap: number,
): Array<{ window: TimeWindow; elements: number[] }> {
  const sorted = timestamps.slice().sort((a, b) => a - b);
  const sessions: number[][] = [];
  for (const t of sorted) {
    const current = sessions.at(-1);
    // Flink's windows [t, t + gap) merge when they overlap *or touch*, i.e. when t - prev <= gap.
    if (current !== undefined && t - current.at(-1)! <= gap) current.push(t);
    else sessions.push([t]);
  }
  return sessions.map((elements) => ({
    window: { start: elements[0]!, end: elements.at(-1)! + gap },
    elements,
  }));
}

/**
 * Plays a session window operator against the set: per state window a list of elements, moved
 * on merges exactly as the callback says. Checks the callback's contract as it goes.
 */
function runSessions(
  timestamps: number[],
  gap: number,
  roundTripEvery = 0,
): { set: MergingWindowSet; state: Map<string, number[]>; calls: number } {
  let set = new MergingWindowSet();
  const state = new Map<string, number[]>();
  let calls = 0;
  timestamps.forEach((t, i) => {
    const before = set.windows();
    const merge: MergeFunction = (mergeResult, mergedWindows, stateWindowResult, mergedStateWindows) => {
      calls++;
      // The set is already updated when we are told.
      expect(set.getStateWindow(mergeResult)).toEqual(stateWindowResult);
      for (const w of mergedWindows) {
        expect(before.map(windowNamespace)).toContain(windowNamespace(w));
        expect(mergeResult.start <= w.start && w.end <= mergeResult.end).toBe(true);
      }
      expect(mergedWindows.length).toBeGreaterThanOrEqual(1);
      expect(mergedStateWindows.map(windowNamespace)).not.toContain(windowNamespace(stateWindowResult));
      expect(state.has(windowNamespace(stateWindowResult))).toBe(true);
      const target = state.get(windowNamespace(stateWindowResult))!;
      for (const sw of mergedStateWindows) {
        const moved = state.get(windowNamespace(sw));
        expect(moved).toBeDefined();
        target.push(...moved!);
        state.delete(windowNamespace(sw));
      }
    };
    const result = set.addWindow({ start: t, end: t + gap }, merge);
    expect(result.start <= t && t < result.end).toBe(true);
    expect(set.windows().map(windowNamespace)).toContain(windowNamespace(result));
    const stateWindow = set.getStateWindow(result)!;
    const list = state.get(windowNamespace(stateWindow)) ?? [];
    list.push(t);
    state.set(windowNamespace(stateWindow), list);
    // In flight windows never overlap or touch each other.
    const ws = set.windows();
    for (let j = 1; j < ws.length; j++) expect(ws[j - 1]!.end).toBeLessThan(ws[j]!.start);
    if (roundTripEvery > 0 && i % roundTripEvery === 0) {
      set = MergingWindowSet.fromPlain(structuredClone(set.toPlain()));
    }
  });
  return { set, state, calls };
}

describe('MergingWindowSet vs brute force', () => {
  it('ends with the sessions of the sorted timestamps, each with exactly its elements', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -100, max: 100 }), { maxLength: 60, size: 'max' }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 5 }),
        (timestamps, gap, roundTripEvery) => {
          const { set, state } = runSessions(timestamps, gap, roundTripEvery);
          const expected = expectedSessions(timestamps, gap);
          expect(set.windows()).toEqual(expected.map((s) => s.window));
          expect(set.size).toBe(expected.length);
          for (const { window, elements } of expected) {
            const stateWindow = set.getStateWindow(window)!;
            expect(
              state
                .get(windowNamespace(stateWindow))!
                .slice()
                .sort((a, b) => a - b),
            ).toEqual(elements);
          }
          // no orphaned state
          expect(state.size).toBe(expected.length);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('MergingWindowSet', () => {
  const noMerge: MergeFunction = () => {
    throw new Error('unexpected merge');
  };

  it('adds a self-contained window as its own state window', () => {
    const set = new MergingWindowSet();
    expect(set.addWindow({ start: 0, end: 10 }, noMerge)).toEqual({ start: 0, end: 10 });
    expect(set.getStateWindow({ start: 0, end: 10 })).toEqual({ start: 0, end: 10 });
    expect(set.addWindow({ start: 11, end: 21 }, noMerge)).toEqual({ start: 11, end: 21 });
    expect(set.size).toBe(2);
  });

  it('does not call back when the new window falls inside an existing one (or equals it)', () => {
    const set = new MergingWindowSet();
    set.addWindow({ start: 0, end: 10 }, noMerge);
    expect(set.addWindow({ start: 2, end: 5 }, noMerge)).toEqual({ start: 0, end: 10 });
    expect(set.addWindow({ start: 0, end: 10 }, noMerge)).toEqual({ start: 0, end: 10 });
    expect(set.toPlain()).toEqual([
      [
        { start: 0, end: 10 },
        { start: 0, end: 10 },
      ],
    ]);
  });

  it('extends a window, keeping its state window', () => {
    const set = new MergingWindowSet();
    set.addWindow({ start: 0, end: 10 }, noMerge);
    const calls: unknown[] = [];
    const result = set.addWindow({ start: 5, end: 15 }, (...args) => calls.push(args));
    expect(result).toEqual({ start: 0, end: 15 });
    expect(calls).toEqual([[{ start: 0, end: 15 }, [{ start: 0, end: 10 }], { start: 0, end: 10 }, []]]);
    expect(set.getStateWindow(result)).toEqual({ start: 0, end: 10 });
    expect(set.getStateWindow({ start: 0, end: 10 })).toBeUndefined();
  });

  it('bridges two windows (touching counts, as in Flink) and merges the second state window into the first', () => {
    const set = new MergingWindowSet();
    set.addWindow({ start: 0, end: 10 }, noMerge);
    set.addWindow({ start: 20, end: 30 }, noMerge);
    const calls: unknown[] = [];
    const result = set.addWindow({ start: 10, end: 20 }, (...args) => calls.push(args));
    expect(result).toEqual({ start: 0, end: 30 });
    expect(calls).toEqual([
      [
        { start: 0, end: 30 },
        [
          { start: 0, end: 10 },
          { start: 20, end: 30 },
        ],
        { start: 0, end: 10 },
        [{ start: 20, end: 30 }],
      ],
    ]);
    expect(set.toPlain()).toEqual([
      [
        { start: 0, end: 30 },
        { start: 0, end: 10 },
      ],
    ]);
  });

  it('retires windows and refuses unknown ones', () => {
    const set = new MergingWindowSet();
    set.addWindow({ start: 0, end: 10 }, noMerge);
    set.retireWindow({ start: 0, end: 10 });
    expect(set.size).toBe(0);
    expect(() => set.retireWindow({ start: 0, end: 10 })).toThrow(/not in flight/);
  });

  it('round-trips through plain data and validates it', () => {
    const set = new MergingWindowSet();
    set.addWindow({ start: 0, end: 10 }, noMerge);
    set.addWindow({ start: 5, end: 12 }, () => {});
    set.addWindow({ start: -50, end: -40 }, noMerge);
    const plain = set.toPlain();
    expect(plain).toEqual([
      [
        { start: -50, end: -40 },
        { start: -50, end: -40 },
      ],
      [
        { start: 0, end: 12 },
        { start: 0, end: 10 },
      ],
    ]);
    expect(MergingWindowSet.fromPlain(JSON.parse(JSON.stringify(plain))).toPlain()).toEqual(plain);
    // toPlain hands out copies: mutating them does not reach the set.
    (plain[0]![0] as { start: number }).start = 999;
    expect(set.windows()[0]).toEqual({ start: -50, end: -40 });
    expect(() => MergingWindowSet.fromPlain([[{ start: 0 }, { start: 0, end: 1 }]] as never)).toThrow(
      TypeError,
    );
  });
});

describe('mergeWindows', () => {
  it('groups intersecting windows by sweep, ignoring singletons', () => {
    expect(
      mergeWindows([
        { start: 20, end: 25 },
        { start: 0, end: 5 },
        { start: 4, end: 8 },
        { start: 30, end: 35 },
        { start: 35, end: 36 },
      ]),
    ).toEqual([
      [
        { start: 0, end: 8 },
        [
          { start: 0, end: 5 },
          { start: 4, end: 8 },
        ],
      ],
      [
        { start: 30, end: 36 },
        [
          { start: 30, end: 35 },
          { start: 35, end: 36 },
        ],
      ],
    ]);
    expect(mergeWindows([])).toEqual([]);
  });
});
