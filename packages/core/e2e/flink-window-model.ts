/**
 * A plain sequential model of Flink's WindowOperator with its EventTimeTrigger, written from
 * Flink's source (WindowOperator.processElement / onEventTime, EventTimeTrigger, MergingWindowSet)
 * and independently of Sluice's operator: one key at a time, windows in a map, timers in a set,
 * the watermark a plain number. It gives the exact sequence of firings of each key, each with the
 * window's records at that moment, and the records sent to the late side output.
 *
 * What it models: a late-but-allowed record fires its window at once (onElement returns FIRE
 * when the window's max timestamp <= the watermark) and registers no timer; firing timers at the
 * max timestamp; cleanup timers at max timestamp + allowed lateness; session merging (the merge
 * result gets a firing timer if its end is still ahead, merged windows lose theirs and their
 * cleanup timers); records skipped by every window go to the side output when their own
 * timestamp + lateness <= watermark.
 */

export interface ModelEvent {
  readonly key: string;
  readonly ts: number;
  readonly v: number;
}

export type ModelAssigner =
  | { readonly kind: 'tumbling'; readonly size: number }
  | { readonly kind: 'sliding'; readonly size: number; readonly slide: number }
  | { readonly kind: 'session'; readonly gap: number };

export interface ModelFiring {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  /** The window's records (their `v`) when it fired, in no particular order. */
  readonly values: readonly number[];
}

export interface ModelResult {
  readonly firings: readonly ModelFiring[];
  readonly late: readonly ModelEvent[];
}

interface Window {
  start: number;
  end: number;
}

interface Timer {
  readonly ts: number;
  readonly key: string;
  readonly start: number;
  readonly end: number;
}

const maxTs = (w: Window): number => w.end - 1;
const windowId = (w: Window): string => `${w.start}:${w.end}`;

/**
 * Runs the model over `events` in order. Before each record the watermark is
 * `max(timestamps before it) - bound - 1` (a bounded-out-of-orderness generator emitting after
 * every record), or with `recordsPerWatermark` n, after every n records (a source reading n
 * records per poll, the generator emitting after each poll); after the last, the end-of-input
 * watermark fires everything.
 */
export function flinkWindowModel(
  events: readonly ModelEvent[],
  assigner: ModelAssigner,
  lateness: number,
  bound: number,
  recordsPerWatermark = 1,
): ModelResult {
  const firings: ModelFiring[] = [];
  const late: ModelEvent[] = [];
  /** Per key: window id → the window and its records (in flight). */
  const windows = new Map<string, Map<string, { window: Window; values: number[] }>>();
  const timers = new Map<string, Timer>();
  let watermark = Number.NEGATIVE_INFINITY;

  const windowsOf = (key: string) => {
    let own = windows.get(key);
    if (own === undefined) {
      own = new Map();
      windows.set(key, own);
    }
    return own;
  };
  const timerId = (key: string, ts: number, w: Window) => `${key}|${ts}|${windowId(w)}`;
  const addTimer = (key: string, ts: number, w: Window) => {
    timers.set(timerId(key, ts, w), { ts, key, start: w.start, end: w.end });
  };
  const deleteTimer = (key: string, ts: number, w: Window) => {
    timers.delete(timerId(key, ts, w));
  };
  const emit = (key: string, w: Window, values: readonly number[]) => {
    if (values.length > 0) firings.push({ key, start: w.start, end: w.end, values: [...values] });
  };

  /** EventTimeTrigger.onElement, then the cleanup timer (WindowOperator.registerCleanupTimer). */
  const onElement = (key: string, w: Window, values: readonly number[]) => {
    if (maxTs(w) <= watermark) emit(key, w, values);
    else addTimer(key, maxTs(w), w);
    addTimer(key, maxTs(w) + lateness, w);
  };

  const processElement = (e: ModelEvent) => {
    const own = windowsOf(e.key);
    let skipped = true;
    if (assigner.kind === 'session') {
      const fresh = { start: e.ts, end: e.ts + assigner.gap };
      // In-flight sessions never touch each other, so the new window merges with exactly those
      // it overlaps or touches (Flink's TimeWindow.intersects).
      const touching = [...own.values()].filter(
        (s) => s.window.start <= fresh.end && s.window.end >= fresh.start,
      );
      let actual: { window: Window; values: number[] };
      if (touching.length === 0) {
        actual = { window: fresh, values: [] };
        own.set(windowId(fresh), actual);
      } else {
        const cover = {
          start: Math.min(fresh.start, ...touching.map((s) => s.window.start)),
          end: Math.max(fresh.end, ...touching.map((s) => s.window.end)),
        };
        const only = touching[0]!;
        if (touching.length === 1 && only.window.start === cover.start && only.window.end === cover.end) {
          actual = only; // inside an existing session: no merge
        } else {
          // The merge function: EventTimeTrigger.onMerge, then clear the merged windows' triggers
          // and cleanup timers, and merge their state.
          if (maxTs(cover) > watermark) addTimer(e.key, maxTs(cover), cover);
          const values: number[] = [];
          for (const s of touching) {
            deleteTimer(e.key, maxTs(s.window), s.window);
            deleteTimer(e.key, maxTs(s.window) + lateness, s.window);
            own.delete(windowId(s.window));
            values.push(...s.values);
          }
          actual = { window: cover, values };
          own.set(windowId(cover), actual);
        }
      }
      if (maxTs(actual.window) + lateness <= watermark) {
        own.delete(windowId(actual.window)); // retireWindow
      } else {
        skipped = false;
        actual.values.push(e.v);
        onElement(e.key, actual.window, actual.values);
      }
    } else {
      const size = assigner.size;
      const slide = assigner.kind === 'sliding' ? assigner.slide : size;
      // The assigner's windows, latest start first (as Flink's SlidingEventTimeWindows lists them).
      for (let start = Math.floor(e.ts / slide) * slide; start > e.ts - size; start -= slide) {
        const w = { start, end: start + size };
        if (maxTs(w) + lateness <= watermark) continue; // isWindowLate
        skipped = false;
        let contents = own.get(windowId(w));
        if (contents === undefined) {
          contents = { window: w, values: [] };
          own.set(windowId(w), contents);
        }
        contents.values.push(e.v);
        onElement(e.key, w, contents.values);
      }
    }
    if (skipped && e.ts + lateness <= watermark) late.push(e);
  };

  /** WindowOperator.onEventTime for one timer. */
  const onEventTime = (timer: Timer) => {
    const w = { start: timer.start, end: timer.end };
    const own = windowsOf(timer.key);
    const contents = own.get(windowId(w));
    if (assigner.kind === 'session' && contents === undefined) return; // not in the merging set
    if (timer.ts === maxTs(w)) emit(timer.key, w, contents?.values ?? []);
    if (timer.ts === maxTs(w) + lateness) {
      own.delete(windowId(w));
      deleteTimer(timer.key, maxTs(w), w); // the trigger's clear
    }
  };

  const advanceWatermark = (to: number) => {
    if (to <= watermark) return;
    watermark = to;
    for (;;) {
      let next: Timer | undefined;
      for (const t of timers.values()) {
        if (t.ts <= to && (next === undefined || t.ts < next.ts)) next = t;
      }
      if (next === undefined) return;
      timers.delete(timerId(next.key, next.ts, next));
      onEventTime(next);
    }
  };

  let maxSeen = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    processElement(e);
    maxSeen = Math.max(maxSeen, e.ts);
    if ((i + 1) % recordsPerWatermark === 0) advanceWatermark(maxSeen - bound - 1);
  }
  advanceWatermark(Number.POSITIVE_INFINITY);
  return { firings, late };
}
