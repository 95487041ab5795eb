import { formatDuration } from './duration.ts';

/**
 * A window of time `[start, end)`: `start` inclusive, `end` exclusive, in milliseconds.
 * The last timestamp inside it is {@link maxTimestamp} `= end - 1`, the time at which an
 * event-time window fires. Windows are plain data so they can live in keyed state and
 * checkpoints; compare them with {@link sameWindow}, never with `===`.
 */
export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

/** The largest timestamp that belongs to the window (`end - 1`). */
export function maxTimestamp(window: TimeWindow): number {
  return window.end - 1;
}

export function sameWindow(a: TimeWindow, b: TimeWindow): boolean {
  return a.start === b.start && a.end === b.end;
}

/**
 * Flink's `TimeWindow.intersects`: true when the windows overlap **or touch**
 * (`a.end === b.start` counts). This is what makes two session windows exactly `gap` apart merge.
 */
export function windowsIntersect(a: TimeWindow, b: TimeWindow): boolean {
  return a.start <= b.end && a.end >= b.start;
}

/** The smallest window containing both. */
export function windowCover(a: TimeWindow, b: TimeWindow): TimeWindow {
  return { start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}

/**
 * The namespace string under which a window's state and timers are kept: `${start}:${end}`.
 * Stable across processes and releases (it is stored in checkpoints); see {@link parseWindowNamespace}.
 */
export function windowNamespace(window: TimeWindow): string {
  return `${window.start}:${window.end}`;
}

/** Inverse of {@link windowNamespace}. Throws a RangeError on anything it did not produce. */
export function parseWindowNamespace(namespace: string): TimeWindow {
  // Search from index 1: a negative start begins with '-', never with ':'.
  const colon = namespace.indexOf(':', 1);
  const start = colon > 0 ? Number(namespace.slice(0, colon)) : Number.NaN;
  const end = colon > 0 ? Number(namespace.slice(colon + 1)) : Number.NaN;
  const window = { start, end };
  if (Number.isNaN(start) || Number.isNaN(end) || windowNamespace(window) !== namespace) {
    throw new RangeError(`parseWindowNamespace: '${namespace}' is not a window namespace ('<start>:<end>')`);
  }
  return window;
}

/**
 * Flink's `TimeWindow.getWindowStartWithOffset`: the start of the window of size `size`
 * (aligned to `offset`) that contains `timestamp`. Correct for negative timestamps and offsets:
 * JS `%` keeps the dividend's sign, so a negative remainder is brought up by one `size`, as
 * Flink does. One `%`, where this used `(x % size + size) % size`: a `%` of doubles is a call to
 * C's fmod in V8, ~10–17 ns (measured), and this runs once or twice per record of every window;
 * for a fractional timestamp it is also exact where the second `%` rounded.
 */
export function getWindowStartWithOffset(timestamp: number, offset: number, size: number): number {
  const remainder = (timestamp - offset) % size;
  return timestamp - (remainder < 0 ? remainder + size : remainder);
}

// ---------------------------------------------------------------------------------------------
// Window assigners

export type WindowTime = 'event' | 'processing';

/** Plain-data description of an assigner, for the job plan; rebuild with {@link windowAssignerFromSpec}. */
export type WindowAssignerSpec =
  | { readonly kind: 'tumbling'; readonly time: WindowTime; readonly size: number; readonly offset: number }
  | {
      readonly kind: 'sliding';
      readonly time: WindowTime;
      readonly size: number;
      readonly slide: number;
      readonly offset: number;
    }
  | { readonly kind: 'session'; readonly time: WindowTime; readonly gap: number }
  | { readonly kind: 'global' };

interface WindowAssignerBase {
  /** Event time (timestamps of records) or processing time (the task's clock). */
  readonly isEventTime: boolean;
  /**
   * The windows an element with this timestamp belongs to. For processing-time assigners the
   * operator passes its current processing time. Throws a RangeError for a non-finite timestamp
   * (usually: a record without a timestamp reached an event-time window).
   */
  assignWindows(timestamp: number): TimeWindow[];
  /** E.g. `TumblingEventTimeWindows(size=10s, offset=0ms)`. */
  describe(): string;
  toSpec(): WindowAssignerSpec;
}

export interface TumblingWindowAssigner extends WindowAssignerBase {
  readonly kind: 'tumbling';
  readonly isMerging: false;
  readonly size: number;
  readonly offset: number;
}

export interface SlidingWindowAssigner extends WindowAssignerBase {
  readonly kind: 'sliding';
  readonly isMerging: false;
  readonly size: number;
  readonly slide: number;
  readonly offset: number;
}

export interface SessionWindowAssigner extends WindowAssignerBase {
  readonly kind: 'session';
  /** Session windows merge: see `MergingWindowSet`. */
  readonly isMerging: true;
  readonly gap: number;
}

/**
 * Every element of a key in one window that never ends ({@link GLOBAL_WINDOW}), as Flink's
 * `GlobalWindows`: it fires only through a trigger (`countWindow` uses a count trigger), never by time.
 */
export interface GlobalWindowAssigner extends WindowAssignerBase {
  readonly kind: 'global';
  readonly isMerging: false;
}

export type WindowAssigner =
  | TumblingWindowAssigner
  | SlidingWindowAssigner
  | SessionWindowAssigner
  | GlobalWindowAssigner;

function checkPositiveMs(assigner: string, name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(
      `${assigner}: ${name} must be a whole number of milliseconds > 0, got ${String(value)}`,
    );
  }
}

function checkOffset(assigner: string, offset: number, bound: number, boundName: string): void {
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || Math.abs(offset) >= bound) {
    throw new RangeError(
      `${assigner}: offset must be a whole number of milliseconds with |offset| < ${boundName} (${bound}), got ${String(offset)}`,
    );
  }
}

function checkTimestamp(assigner: string, timestamp: number): void {
  if (!Number.isFinite(timestamp)) {
    throw new RangeError(
      `${assigner}: cannot assign windows to timestamp ${String(timestamp)}; ` +
        'does the stream have timestamps (assignTimestamps) before an event-time window?',
    );
  }
}

function assignerName(kind: 'Tumbling' | 'Sliding' | 'Session', time: WindowTime): string {
  if (time !== 'event' && time !== 'processing') {
    throw new RangeError(`${kind} windows: time must be 'event' or 'processing', got ${String(time)}`);
  }
  const domain = time === 'event' ? 'EventTime' : 'ProcessingTime';
  return kind === 'Session' ? `${domain}SessionWindows` : `${kind}${domain}Windows`;
}

function makeTumbling(size: number, offset: number, time: WindowTime): TumblingWindowAssigner {
  const name = assignerName('Tumbling', time);
  checkPositiveMs(name, 'size', size);
  checkOffset(name, offset, size, 'size');
  return {
    kind: 'tumbling',
    isEventTime: time === 'event',
    isMerging: false,
    size,
    offset,
    assignWindows(timestamp) {
      checkTimestamp(name, timestamp);
      const start = getWindowStartWithOffset(timestamp, offset, size);
      return [{ start, end: start + size }];
    },
    describe: () => `${name}(size=${formatDuration(size)}, offset=${formatDuration(offset)})`,
    toSpec: () => ({ kind: 'tumbling', time, size, offset }),
  };
}

function makeSliding(size: number, slide: number, offset: number, time: WindowTime): SlidingWindowAssigner {
  const name = assignerName('Sliding', time);
  checkPositiveMs(name, 'size', size);
  checkPositiveMs(name, 'slide', slide);
  // Flink requires |offset| < slide here (an offset is only meaningful modulo the slide).
  checkOffset(name, offset, slide, 'slide');
  return {
    kind: 'sliding',
    isEventTime: time === 'event',
    isMerging: false,
    size,
    slide,
    offset,
    assignWindows(timestamp) {
      checkTimestamp(name, timestamp);
      // As Flink: from the latest window start at or before the timestamp, step back one slide
      // at a time while the window still contains it. Gives ceil(size/slide) or floor(size/slide)
      // windows when slide does not divide size, and 0 or 1 when slide > size.
      const windows: TimeWindow[] = [];
      const lastStart = getWindowStartWithOffset(timestamp, offset, slide);
      for (let start = lastStart; start > timestamp - size; start -= slide) {
        windows.push({ start, end: start + size });
      }
      return windows;
    },
    describe: () =>
      `${name}(size=${formatDuration(size)}, slide=${formatDuration(slide)}, offset=${formatDuration(offset)})`,
    toSpec: () => ({ kind: 'sliding', time, size, slide, offset }),
  };
}

function makeSession(gap: number, time: WindowTime): SessionWindowAssigner {
  const name = assignerName('Session', time);
  checkPositiveMs(name, 'gap', gap);
  return {
    kind: 'session',
    isEventTime: time === 'event',
    isMerging: true,
    gap,
    assignWindows(timestamp) {
      checkTimestamp(name, timestamp);
      return [{ start: timestamp, end: timestamp + gap }];
    },
    describe: () => `${name}(gap=${formatDuration(gap)})`,
    toSpec: () => ({ kind: 'session', time, gap }),
  };
}

/** Fixed-size, non-overlapping event-time windows `[k*size + offset, (k+1)*size + offset)`. */
export function tumblingEventTimeWindows(size: number, offset = 0): TumblingWindowAssigner {
  return makeTumbling(size, offset, 'event');
}

/** Windows of `size`, one starting every `slide`; an element belongs to about size/slide of them. */
export function slidingEventTimeWindows(size: number, slide: number, offset = 0): SlidingWindowAssigner {
  return makeSliding(size, slide, offset, 'event');
}

/** Sessions: an element opens `[ts, ts + gap)`; windows that overlap or touch are merged. */
export function eventTimeSessionWindows(gap: number): SessionWindowAssigner {
  return makeSession(gap, 'event');
}

export function tumblingProcessingTimeWindows(size: number, offset = 0): TumblingWindowAssigner {
  return makeTumbling(size, offset, 'processing');
}

export function slidingProcessingTimeWindows(size: number, slide: number, offset = 0): SlidingWindowAssigner {
  return makeSliding(size, slide, offset, 'processing');
}

export function processingTimeSessionWindows(gap: number): SessionWindowAssigner {
  return makeSession(gap, 'processing');
}

export interface WindowOptions {
  /** Alignment of window starts, in ms (default 0, i.e. aligned to the epoch). */
  offset?: number;
  /** Which clock the windows follow (default `'event'`). */
  time?: WindowTime;
}

/**
 * Tumbling windows; event time unless `time: 'processing'`.
 *
 * @example
 * ```ts
 * stream.keyBy((c) => c.page).window(tumbling(seconds(10)));
 * tumbling(hours(1), { offset: -hours(8) });     // hourly, aligned to UTC-8
 * ```
 */
export function tumbling(size: number, options: WindowOptions = {}): TumblingWindowAssigner {
  return makeTumbling(size, options.offset ?? 0, options.time ?? 'event');
}

/**
 * Sliding windows; event time unless `time: 'processing'`.
 *
 * @example
 * ```ts
 * sliding(minutes(10), minutes(1));   // the last 10 minutes, every minute
 * ```
 */
export function sliding(size: number, slide: number, options: WindowOptions = {}): SlidingWindowAssigner {
  return makeSliding(size, slide, options.offset ?? 0, options.time ?? 'event');
}

/**
 * Session windows that close after `gap` ms without elements; event time unless `time: 'processing'`.
 *
 * @example
 * ```ts
 * session(minutes(30));
 * ```
 */
export function session(gap: number, options: Pick<WindowOptions, 'time'> = {}): SessionWindowAssigner {
  return makeSession(gap, options.time ?? 'event');
}

/**
 * The one window of {@link globalWindows}: from -Infinity to Infinity, so its max timestamp is
 * Infinity (Flink's `GlobalWindow.maxTimestamp()` is `Long.MAX_VALUE`) and it is never cleaned up.
 */
export const GLOBAL_WINDOW: TimeWindow = Object.freeze({
  start: Number.NEGATIVE_INFINITY,
  end: Number.POSITIVE_INFINITY,
});

/**
 * One window per key holding all its elements; give it a trigger (`.trigger(countTrigger(100))`),
 * without one it never fires. Not event time: records need no timestamps.
 *
 * @example
 * ```ts
 * stream.keyBy((o) => o.customer).window(globalWindows()).trigger(countTrigger(3)).reduce(add);
 * ```
 */
export function globalWindows(): GlobalWindowAssigner {
  return {
    kind: 'global',
    isEventTime: false,
    isMerging: false,
    assignWindows: () => [GLOBAL_WINDOW],
    describe: () => 'GlobalWindows',
    toSpec: () => ({ kind: 'global' }),
  };
}

/** Rebuilds an assigner from its {@link WindowAssignerSpec} (validating it again). */
export function windowAssignerFromSpec(spec: WindowAssignerSpec): WindowAssigner {
  switch (spec.kind) {
    case 'tumbling':
      return makeTumbling(spec.size, spec.offset, spec.time);
    case 'sliding':
      return makeSliding(spec.size, spec.slide, spec.offset, spec.time);
    case 'session':
      return makeSession(spec.gap, spec.time);
    case 'global':
      return globalWindows();
    default:
      throw new RangeError(
        `windowAssignerFromSpec: unknown kind ${String((spec as { kind: unknown }).kind)}`,
      );
  }
}
