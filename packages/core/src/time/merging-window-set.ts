import { sameWindow, type TimeWindow, windowCover, windowNamespace, windowsIntersect } from './windows.ts';

/**
 * Told about every merge so the window operator can move state and timers:
 * - `mergeResult`: the window that now replaces `mergedWindows`;
 * - `mergedWindows`: the pre-existing windows that were merged away (never the new window);
 * - `stateWindowResult`: the state window of `mergeResult` — where the merged contents must end up
 *   (it is the state window of one of `mergedWindows`, so its state is already there);
 * - `mergedStateWindows`: the other state windows, whose contents must be merged into
 *   `stateWindowResult` and then cleared.
 *
 * The operator typically merges accumulators/lists from `mergedStateWindows` into
 * `stateWindowResult`, deletes the cleanup timers of `mergedWindows` and registers one for
 * `mergeResult`.
 */
export type MergeFunction = (
  mergeResult: TimeWindow,
  mergedWindows: readonly TimeWindow[],
  stateWindowResult: TimeWindow,
  mergedStateWindows: readonly TimeWindow[],
) => void;

/** Plain-data form: `[window, stateWindow]` pairs. */
export type MergingWindowSetPlain = Array<[window: TimeWindow, stateWindow: TimeWindow]>;

interface Mapping {
  readonly window: TimeWindow;
  readonly stateWindow: TimeWindow;
}

function copy(w: TimeWindow): TimeWindow {
  return { start: w.start, end: w.end };
}

/**
 * Flink's `TimeWindow.mergeWindows`: sorts by start and sweeps, grouping windows that
 * {@link windowsIntersect} the cover of the group so far. Returns every group of two or more
 * windows together with its cover; windows that merge with nothing are not listed.
 */
export function mergeWindows(
  windows: readonly TimeWindow[],
): Array<[cover: TimeWindow, group: TimeWindow[]]> {
  const sorted = windows.slice().sort((a, b) => a.start - b.start);
  const groups: Array<[TimeWindow, TimeWindow[]]> = [];
  let cover: TimeWindow | undefined;
  let group: TimeWindow[] = [];
  for (const w of sorted) {
    if (cover !== undefined && windowsIntersect(cover, w)) {
      cover = windowCover(cover, w);
      group.push(w);
    } else {
      if (cover !== undefined && group.length > 1) groups.push([cover, group]);
      cover = w;
      group = [w];
    }
  }
  if (cover !== undefined && group.length > 1) groups.push([cover, group]);
  return groups;
}

/**
 * The in-flight session windows of one key, in the manner of Flink's `MergingWindowSet`.
 *
 * Each window maps to a *state window*: the namespace under which its contents actually live.
 * When windows merge, the result keeps the state window of one of the merged windows, so only
 * the others' state has to be moved — merging never renames state that is already in place.
 *
 * The set is plain data underneath ({@link toPlain} / {@link fromPlain}) because the window
 * operator keeps it in keyed state, one per key, and checkpoints it.
 *
 * @example
 * ```ts
 * const set = MergingWindowSet.fromPlain(state.value() ?? []);
 * const target = set.addWindow({ start: ts, end: ts + gap }, (result, merged, stateResult, mergedState) => {
 *   for (const w of mergedState) moveState(w, stateResult);
 *   for (const w of merged) timers.deleteEventTimeTimer(key, windowNamespace(w), maxTimestamp(w));
 * });
 * appendToState(set.getStateWindow(target)!, element);
 * state.update(set.toPlain());
 * ```
 */
export class MergingWindowSet {
  /** `windowNamespace(window)` → mapping; a string key because windows are compared by value. */
  readonly #mapping = new Map<string, Mapping>();

  static fromPlain(plain: ReadonlyArray<readonly [TimeWindow, TimeWindow]>): MergingWindowSet {
    const set = new MergingWindowSet();
    for (const pair of plain) {
      if (!Array.isArray(pair) || pair.length !== 2 || !isWindow(pair[0]) || !isWindow(pair[1])) {
        throw new TypeError(
          `MergingWindowSet.fromPlain: expected [window, stateWindow] pairs, got ${String(pair)}`,
        );
      }
      set.#mapping.set(windowNamespace(pair[0]), { window: copy(pair[0]), stateWindow: copy(pair[1]) });
    }
    return set;
  }

  /** `[window, stateWindow]` pairs (fresh objects), ordered by window start. */
  toPlain(): MergingWindowSetPlain {
    const pairs: MergingWindowSetPlain = [];
    for (const { window, stateWindow } of this.#mapping.values())
      pairs.push([copy(window), copy(stateWindow)]);
    return pairs.sort((a, b) => a[0].start - b[0].start);
  }

  get size(): number {
    return this.#mapping.size;
  }

  /** The in-flight windows, ordered by start. */
  windows(): TimeWindow[] {
    return this.toPlain().map(([w]) => w);
  }

  /** Where the contents of `window` live, or undefined if the window is not in the set. */
  getStateWindow(window: TimeWindow): TimeWindow | undefined {
    const m = this.#mapping.get(windowNamespace(window));
    return m === undefined ? undefined : copy(m.stateWindow);
  }

  /**
   * Removes a window once it has fired and been purged (its state cleared by the caller).
   * Throws if the window is not in the set: that is a bug in the caller.
   */
  retireWindow(window: TimeWindow): void {
    if (!this.#mapping.delete(windowNamespace(window))) {
      throw new Error(`MergingWindowSet.retireWindow: window ${windowNamespace(window)} is not in flight`);
    }
  }

  /**
   * Adds the window of a new element and merges it with every in-flight window it overlaps or
   * touches, calling `mergeFunction` once per merge that involves pre-existing windows. Returns
   * the window the element now belongs to (the new window itself, or the merge result); its
   * state window is {@link getStateWindow}.
   *
   * `mergeFunction` is not called when the new window simply falls inside an existing window,
   * nor when nothing merges. When it is called the set is already updated.
   */
  addWindow(newWindow: TimeWindow, mergeFunction: MergeFunction): TimeWindow {
    // A private copy, so that "is this the new window?" is an identity test and cannot confuse
    // it with an in-flight window that happens to be equal.
    const fresh = copy(newWindow);
    const candidates: TimeWindow[] = [];
    for (const m of this.#mapping.values()) candidates.push(m.window);
    candidates.push(fresh);

    let resultWindow = fresh;
    let mergedNewWindow = false;
    for (const [mergeResult, group] of mergeWindows(candidates)) {
      const at = group.indexOf(fresh);
      if (at >= 0) {
        group.splice(at, 1);
        mergedNewWindow = true;
        resultWindow = mergeResult;
      }
      // group now holds in-flight windows only (a group has >= 2 members, one at most new).
      // The result keeps the state window of the first of them; the rest are merged into it.
      const stateWindowResult = this.#mapping.get(windowNamespace(group[0]!))!.stateWindow;
      const mergedStateWindows: TimeWindow[] = [];
      for (const w of group) {
        const ns = windowNamespace(w);
        const m = this.#mapping.get(ns)!;
        this.#mapping.delete(ns);
        if (!sameWindow(m.stateWindow, stateWindowResult)) mergedStateWindows.push(copy(m.stateWindow));
      }
      this.#mapping.set(windowNamespace(mergeResult), {
        window: mergeResult,
        stateWindow: stateWindowResult,
      });
      // If the only in-flight window involved is the result itself (the new window fell inside
      // it), nothing changed for the operator: no state to move, no timer to re-register.
      if (!(group.length === 1 && sameWindow(group[0]!, mergeResult))) {
        mergeFunction(copy(mergeResult), group.map(copy), copy(stateWindowResult), mergedStateWindows);
      }
    }

    if (!mergedNewWindow) {
      // A self-contained new window: its contents live under its own namespace.
      this.#mapping.set(windowNamespace(fresh), { window: fresh, stateWindow: fresh });
    }
    return copy(resultWindow);
  }
}

function isWindow(w: unknown): w is TimeWindow {
  return (
    typeof w === 'object' &&
    w !== null &&
    typeof (w as TimeWindow).start === 'number' &&
    typeof (w as TimeWindow).end === 'number'
  );
}
