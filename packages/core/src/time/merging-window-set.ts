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
 * `mergeResult`. The windows passed are the set's own objects: read them, never change them.
 */
export type MergeFunction = (
  mergeResult: TimeWindow,
  mergedWindows: readonly TimeWindow[],
  stateWindowResult: TimeWindow,
  mergedStateWindows: readonly TimeWindow[],
) => void;

/** Plain-data form: `[window, stateWindow]` pairs. */
export type MergingWindowSetPlain = Array<[window: TimeWindow, stateWindow: TimeWindow]>;

/** One in-flight window and where its contents live. */
export type WindowMapping = [window: TimeWindow, stateWindow: TimeWindow];

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

/** Index of the mapping of `window` in `pairs`, or -1. */
function indexOfWindow(pairs: readonly WindowMapping[], window: TimeWindow): number {
  for (let i = 0; i < pairs.length; i++) if (sameWindow(pairs[i]![0], window)) return i;
  return -1;
}

/** Where `pair` goes to keep `pairs` ordered by window start (after equal starts). */
function insertSorted(pairs: WindowMapping[], pair: WindowMapping): void {
  let i = pairs.length;
  while (i > 0 && pairs[i - 1]![0].start > pair[0].start) i--;
  pairs.splice(i, 0, pair);
}

/**
 * {@link MergingWindowSet.addWindow} on the plain pairs themselves, changing them in place: the
 * window operator keeps the pairs in keyed state and calls this once per record, so it must not
 * copy them into another structure and back (that was most of the cost of session windows).
 * Returns the mapping the element now belongs to: `[its window, where its contents live]`.
 *
 * The pairs of a set built only by this function are ordered by start and pairwise disjoint
 * (in-flight windows neither overlap nor touch: those would have merged). Then the new window
 * merges with exactly the run of pairs it intersects, found in one pass — usually the last
 * session of the key, which it extends or falls inside. Pairs that break the invariant (plain
 * data from elsewhere) take Flink's general sweep ({@link mergeWindows}), as before.
 */
export function addWindowToPairs(
  pairs: WindowMapping[],
  newWindow: TimeWindow,
  mergeFunction: MergeFunction,
): WindowMapping {
  const n = pairs.length;
  let first = -1;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const w = pairs[i]![0];
    if (i > 0) {
      const previous = pairs[i - 1]![0];
      // Out of order or touching: not a set this function built; take the general path.
      if (previous.start > w.start || previous.end >= w.start)
        return addWindowGeneral(pairs, newWindow, mergeFunction);
    }
    if (windowsIntersect(w, newWindow)) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) {
    // Merges with nothing: a window of its own, its contents under its own namespace.
    const window = copy(newWindow);
    const pair: WindowMapping = [window, window];
    insertSorted(pairs, pair);
    return pair;
  }
  const head = pairs[first]!;
  if (first === last && head[0].start <= newWindow.start && newWindow.end <= head[0].end) {
    // Falls inside an in-flight window: nothing changes (no merge to report).
    return head;
  }
  // The run [first, last] merges with the new window; the result keeps the state window of the
  // first (the earliest start: the one Flink's sweep puts first in the group).
  const stateWindow = head[1];
  let start = newWindow.start;
  let end = newWindow.end;
  const merged: TimeWindow[] = [];
  const mergedStateWindows: TimeWindow[] = [];
  for (let i = first; i <= last; i++) {
    const [w, sw] = pairs[i]!;
    if (w.start < start) start = w.start;
    if (w.end > end) end = w.end;
    merged.push(w);
    if (!sameWindow(sw, stateWindow)) mergedStateWindows.push(sw);
  }
  const result: WindowMapping = [{ start, end }, stateWindow];
  pairs.splice(first, last - first + 1, result);
  mergeFunction(result[0], merged, stateWindow, mergedStateWindows);
  return result;
}

/**
 * The general algorithm, for pairs in any order (possibly overlapping): Flink's sweep over all
 * in-flight windows and the new one. Rebuilds `pairs` ordered by start.
 */
function addWindowGeneral(
  pairs: WindowMapping[],
  newWindow: TimeWindow,
  mergeFunction: MergeFunction,
): WindowMapping {
  // By namespace, later pairs replacing earlier ones with the same window (as a Map did).
  const mapping = new Map<string, WindowMapping>();
  for (const pair of pairs) mapping.set(windowNamespace(pair[0]), pair);
  // A private copy, so that "is this the new window?" is an identity test and cannot confuse
  // it with an in-flight window that happens to be equal.
  const fresh = copy(newWindow);
  const candidates: TimeWindow[] = [];
  for (const m of mapping.values()) candidates.push(m[0]);
  candidates.push(fresh);

  let resultWindow = fresh;
  let mergedNewWindow = false;
  const calls: Array<() => void> = [];
  for (const [mergeResult, group] of mergeWindows(candidates)) {
    const at = group.indexOf(fresh);
    if (at >= 0) {
      group.splice(at, 1);
      mergedNewWindow = true;
      resultWindow = mergeResult;
    }
    // group now holds in-flight windows only (a group has >= 2 members, one at most new).
    // The result keeps the state window of the first of them; the rest are merged into it.
    const stateWindowResult = mapping.get(windowNamespace(group[0]!))![1];
    const mergedStateWindows: TimeWindow[] = [];
    for (const w of group) {
      const ns = windowNamespace(w);
      const m = mapping.get(ns)!;
      mapping.delete(ns);
      if (!sameWindow(m[1], stateWindowResult)) mergedStateWindows.push(m[1]);
    }
    mapping.set(windowNamespace(mergeResult), [mergeResult, stateWindowResult]);
    // If the only in-flight window involved is the result itself (the new window fell inside
    // it), nothing changed for the operator: no state to move, no timer to re-register.
    if (!(group.length === 1 && sameWindow(group[0]!, mergeResult))) {
      calls.push(() => mergeFunction(mergeResult, group, stateWindowResult, mergedStateWindows));
    }
  }
  if (!mergedNewWindow) mapping.set(windowNamespace(fresh), [fresh, fresh]);
  const rebuilt = [...mapping.values()].sort((a, b) => a[0].start - b[0].start);
  pairs.length = 0;
  for (const pair of rebuilt) pairs.push(pair);
  // The set is updated before anyone is told.
  for (const call of calls) call();
  return mapping.get(windowNamespace(resultWindow))!;
}

/**
 * The in-flight session windows of one key, in the manner of Flink's `MergingWindowSet`.
 *
 * Each window maps to a *state window*: the namespace under which its contents actually live.
 * When windows merge, the result keeps the state window of one of the merged windows, so only
 * the others' state has to be moved — merging never renames state that is already in place.
 *
 * The set is plain data underneath ({@link toPlain} / {@link fromPlain}) because the window
 * operator keeps it in keyed state, one per key, and checkpoints it. The operator itself works
 * on that plain data in place ({@link addWindowToPairs}); this class is the same algorithm
 * behind a tidier surface.
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
  /** Ordered by window start; windows are never changed in place, only replaced. */
  readonly #pairs: WindowMapping[] = [];

  static fromPlain(plain: ReadonlyArray<readonly [TimeWindow, TimeWindow]>): MergingWindowSet {
    const set = new MergingWindowSet();
    const mapping = new Map<string, WindowMapping>();
    for (const pair of plain) {
      if (!Array.isArray(pair) || pair.length !== 2 || !isWindow(pair[0]) || !isWindow(pair[1])) {
        throw new TypeError(
          `MergingWindowSet.fromPlain: expected [window, stateWindow] pairs, got ${String(pair)}`,
        );
      }
      mapping.set(windowNamespace(pair[0]), [copy(pair[0]), copy(pair[1])]);
    }
    for (const pair of mapping.values()) set.#pairs.push(pair);
    set.#pairs.sort((a, b) => a[0].start - b[0].start);
    return set;
  }

  /** `[window, stateWindow]` pairs (fresh objects), ordered by window start. */
  toPlain(): MergingWindowSetPlain {
    return this.#pairs.map(([w, sw]) => [copy(w), copy(sw)]);
  }

  get size(): number {
    return this.#pairs.length;
  }

  /** The in-flight windows, ordered by start. */
  windows(): TimeWindow[] {
    return this.#pairs.map(([w]) => copy(w));
  }

  /** Where the contents of `window` live, or undefined if the window is not in the set. */
  getStateWindow(window: TimeWindow): TimeWindow | undefined {
    const i = indexOfWindow(this.#pairs, window);
    return i < 0 ? undefined : copy(this.#pairs[i]![1]);
  }

  /**
   * Removes a window once it has fired and been purged (its state cleared by the caller).
   * Throws if the window is not in the set: that is a bug in the caller.
   */
  retireWindow(window: TimeWindow): void {
    retireWindowFromPairs(this.#pairs, window);
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
    return copy(addWindowToPairs(this.#pairs, newWindow, mergeFunction)[0]);
  }
}

/** The mapping of `window` in plain pairs, or undefined. */
export function findWindowInPairs(
  pairs: readonly WindowMapping[],
  window: TimeWindow,
): WindowMapping | undefined {
  const i = indexOfWindow(pairs, window);
  return i < 0 ? undefined : pairs[i];
}

/** {@link MergingWindowSet.retireWindow} on plain pairs, in place. */
export function retireWindowFromPairs(pairs: WindowMapping[], window: TimeWindow): void {
  const i = indexOfWindow(pairs, window);
  if (i < 0) {
    throw new Error(`MergingWindowSet.retireWindow: window ${windowNamespace(window)} is not in flight`);
  }
  pairs.splice(i, 1);
}

function isWindow(w: unknown): w is TimeWindow {
  return (
    typeof w === 'object' &&
    w !== null &&
    typeof (w as TimeWindow).start === 'number' &&
    typeof (w as TimeWindow).end === 'number'
  );
}
