import type { AggregateFunction, Collector } from '../../contracts/functions.ts';
import type { WindowFunctionSpec } from '../../plan/stream-node.ts';
import { decodeValue, encodeValue } from '../../records/record-codec.ts';
import type { KeyedStateBackend } from '../../state/backend/keyed-state-backend.ts';
import { aggregatingState, listState, reducingState, valueState } from '../../state/descriptors.ts';
import type { Key } from '../../state/key-groups.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalReducingState,
  InternalValueState,
} from '../../state/state.ts';
import {
  addWindowToPairs,
  findWindowInPairs,
  retireWindowFromPairs,
  type WindowMapping,
} from '../../time/merging-window-set.ts';
import {
  getWindowStartWithOffset,
  maxTimestamp,
  parseWindowNamespace,
  type SessionWindowAssigner,
  type SlidingWindowAssigner,
  type TimeWindow,
  type TumblingWindowAssigner,
  windowNamespace,
} from '../../time/windows.ts';
import { type LocalAggregationPartial, partialKey } from '../local-window-aggregation.ts';
import { AbstractKeyedOperator } from './keyed.ts';
import { type WindowContextHost, WindowContextImpl } from './window-context.ts';

/** The assigners whose windows fire by time alone (the default triggers): the others go to TriggeredWindowOperator. */
export type TimeWindowAssigner = TumblingWindowAssigner | SlidingWindowAssigner | SessionWindowAssigner;

export interface WindowOperatorOptions {
  readonly assigner: TimeWindowAssigner;
  readonly allowedLatenessMs: number;
  readonly lateTag: string | undefined;
  readonly keySelector: (value: unknown) => Key;
  readonly fn: WindowFunctionSpec;
  /**
   * The input is pre-aggregated before the exchange (`runtime/local-window-aggregation.ts`): it
   * carries partial accumulators to merge, and records passed through whole.
   */
  readonly mergesPartials?: boolean;
}

type ContentsState =
  | InternalReducingState<unknown>
  | InternalAggregatingState<unknown, unknown, unknown>
  | InternalListState<unknown>;

/**
 * Windows as Flink builds them with their default trigger (EventTimeTrigger or
 * ProcessingTimeTrigger), shaped for speed; windows with another trigger, an evictor or the
 * global window run in TriggeredWindowOperator. Window contents live in keyed state under the
 * window's namespace, with one timer per window at its max timestamp (event or processing time)
 * and another at the end of its allowed lateness to drop its state (with no lateness the first
 * timer drops it). A record that arrives after the watermark passed its window's end (within the
 * lateness) fires the window at once and registers no firing timer. Session windows merge: each
 * key's sessions are `[window, stateWindow]` pairs in keyed state, merged by `addWindowToPairs`
 * (the merging-window-set module). Results carry the window's max timestamp. With
 * `mergesPartials` its input was pre-aggregated before the exchange: it merges partial
 * accumulators per key and pane, and processes the records passed through whole as always
 * (`runtime/local-window-aggregation.ts`).
 */
export class WindowOperator
  extends AbstractKeyedOperator<unknown, unknown>
  implements Collector<unknown>, WindowContextHost
{
  readonly #assigner: TimeWindowAssigner;
  readonly #isEventTime: boolean;
  readonly #allowedLatenessMs: number;
  readonly #lateTag: string | undefined;
  readonly #fn: WindowFunctionSpec;
  #contents!: ContentsState;
  #sessions: InternalValueState<WindowMapping[]> | undefined;
  #firingTimestamp = 0;
  readonly #windowContext: WindowContextImpl;
  /**
   * Namespace strings of fixed-size windows: most records fall in windows seen just before, and
   * reusing their strings saves building and hashing a new one per record and window.
   */
  readonly #namespaces = new NamespaceCache();
  /** Fixed-size windows by namespace, filled as their timers are registered: timers find their window without parsing. */
  readonly #windowsByNamespace = new Map<string, TimeWindow>();
  /** Fixed-size windows: size, slide (= size for tumbling) and offset; 0 for sessions. */
  readonly #size: number;
  readonly #slide: number;
  readonly #offset: number;
  /** Session windows: the gap; 0 otherwise. */
  readonly #sessionGap: number;
  /** An AggregateFunction without merge(): every merge must still call mergeNamespaces, to fail. */
  readonly #contentsMayThrowOnMerge: boolean;
  /** The window of the record being added; read, never kept (the merging set copies it). */
  readonly #scratchWindow = { start: 0, end: 0 };
  /**
   * Namespaces of session windows: a session's state window is used by each of its records, and
   * its current window's string is built to register its timer and needed again to delete it
   * when the next record extends it.
   */
  readonly #sessionNamespaces = new NamespaceCache();
  /** The key and outcome of the {@link addWindowToPairs} call in progress, for {@link #onMerge}. */
  #mergeKey: Key = '';
  #merged = false;
  readonly #mergesPartials: boolean;
  /** Set while a partial accumulator (not a record) is added to the contents: see {@link #partialMerging}. */
  #addingPartial = false;

  constructor(options: WindowOperatorOptions) {
    super(options.mergesPartials === true ? partialKey : options.keySelector);
    this.#mergesPartials = options.mergesPartials === true;
    this.#assigner = options.assigner;
    this.#isEventTime = options.assigner.isEventTime;
    this.#allowedLatenessMs = options.allowedLatenessMs;
    this.#lateTag = options.lateTag;
    this.#fn = options.fn;
    this.#windowContext = new WindowContextImpl(this, options.assigner.isMerging);
    const assigner = options.assigner;
    this.#size = assigner.kind === 'session' ? 0 : assigner.size;
    this.#slide = assigner.kind === 'sliding' ? assigner.slide : this.#size;
    this.#offset = assigner.kind === 'session' ? 0 : assigner.offset;
    this.#sessionGap = assigner.kind === 'session' ? assigner.gap : 0;
    this.#contentsMayThrowOnMerge =
      options.fn.kind === 'aggregate' && options.fn.aggregate.merge === undefined;
  }

  /** Remembers a fixed-size window for its timers (bounded: windows move on with time). */
  #rememberWindow(namespace: string, window: TimeWindow): void {
    const windows = this.#windowsByNamespace;
    if (windows.has(namespace)) return;
    if (windows.size >= 4096) windows.clear();
    windows.set(namespace, { start: window.start, end: window.end });
  }

  #sessionNamespaceOf(window: TimeWindow): string {
    return this.#sessionNamespaces.of(window.start, window.end);
  }

  override open(): void {
    const fn = this.#fn;
    switch (fn.kind) {
      case 'reduce':
        this.#contents = this.backend.getState(
          reducingState('__window-contents', fn.reduce),
        ) as ContentsState;
        break;
      case 'aggregate':
        this.#contents = this.backend.getState(
          aggregatingState(
            '__window-contents',
            this.#mergesPartials ? this.#partialMerging(fn.aggregate) : fn.aggregate,
          ),
        ) as ContentsState;
        break;
      case 'process':
        this.#contents = this.backend.getState(listState<unknown>('__window-contents')) as ContentsState;
        fn.process.open?.(this.runtime);
        break;
    }
    if (this.#assigner.isMerging) {
      this.#sessions = this.backend.getState(
        valueState<WindowMapping[]>('__window-sessions'),
      ) as InternalValueState<WindowMapping[]>;
    }
  }

  /** @internal */ get watermark(): number {
    return this.currentWatermark;
  }
  /** @internal */ now(): number {
    return this.clock();
  }
  /** @internal */ get stateBackend(): KeyedStateBackend {
    return this.backend;
  }
  /** @internal */ get operatorName(): string {
    return `window operator '${this.runtime.operatorId}'`;
  }
  /** @internal */ emitSide(tag: string, value: unknown): void {
    this.output.collectSide(tag, value, this.#firingTimestamp);
  }

  collect(value: unknown): void {
    this.output.collect(value, this.#firingTimestamp);
  }

  #cleanupTime(window: TimeWindow): number {
    return this.#isEventTime ? maxTimestamp(window) + this.#allowedLatenessMs : maxTimestamp(window);
  }

  #isLate(window: TimeWindow): boolean {
    return this.#isEventTime && this.#cleanupTime(window) <= this.currentWatermark;
  }

  /**
   * The contents' AggregateFunction when partials arrive: a partial's accumulator is merged into
   * the window's (or becomes it, as the first record's accumulator would have), a record passed
   * through whole is added as always. Same state name and accumulators as without partials, so
   * a checkpoint restores with local aggregation on or off.
   */
  #partialMerging(
    aggregate: AggregateFunction<unknown, unknown, unknown>,
  ): AggregateFunction<unknown, unknown, unknown> {
    const merge = aggregate.merge!;
    return {
      createAccumulator: () => NO_ACCUMULATOR,
      add: (input, acc) => {
        if (this.#addingPartial) return acc === NO_ACCUMULATOR ? input : merge(acc, input);
        return aggregate.add(input, acc === NO_ACCUMULATOR ? aggregate.createAccumulator() : acc);
      },
      getResult: (acc) => aggregate.getResult(acc),
      merge,
    };
  }

  processKeyedElement(value: unknown, timestamp: number, key: Key, keyGroup: number): void {
    // Partials travel without a timestamp; records passed whole have theirs (`LocalAggregationPartial`).
    if (this.#mergesPartials && Number.isNaN(timestamp)) {
      const partial = value as LocalAggregationPartial;
      this.#mergePartial(partial[2], partial[1], partial[3], key, keyGroup);
      return;
    }
    this.#processRecord(value, timestamp, key, keyGroup);
  }

  /**
   * A partial accumulator of one pane of fixed-size windows (`runtime/local-window-aggregation.ts`):
   * merged into each window of the pane, latest first, as its records would have been added.
   * Its sender folded only records whose windows end after this operator's watermark, so no
   * window is late or due; were all of them late, its records are dropped and counted as they
   * would have been. Each window after the first gets a copy: windows must not share an
   * accumulator that a later `merge` or `add` may change in place.
   */
  #mergePartial(accumulator: unknown, paneStart: number, records: number, key: Key, keyGroup: number): void {
    this.backend.setCurrentKey(key, keyGroup);
    const size = this.#size;
    const slide = this.#slide;
    const window = this.#scratchWindow;
    const shared = typeof accumulator === 'object' && accumulator !== null;
    let accepted = false;
    let first = true;
    this.#addingPartial = true;
    for (
      let start = getWindowStartWithOffset(paneStart, this.#offset, slide);
      start > paneStart - size;
      start -= slide
    ) {
      window.start = start;
      window.end = start + size;
      const value = first || !shared ? accumulator : decodeValue(encodeValue(accumulator, 'accumulator'));
      first = false;
      if (this.#addToWindow(key, value, window)) accepted = true;
    }
    this.#addingPartial = false;
    if (!accepted) this.metrics.countLateRecordDropped(records);
  }

  #processRecord(value: unknown, timestamp: number, key: Key, keyGroup: number): void {
    this.backend.setCurrentKey(key, keyGroup);
    const time = this.#isEventTime ? timestamp : this.clock();
    let accepted = false;
    // The assigners' arithmetic inline, without their arrays: they run for a non-finite time
    // only, to throw their error.
    if (!Number.isFinite(time)) {
      this.#assigner.assignWindows(time);
    } else if (this.#sessionGap > 0) {
      this.#scratchWindow.start = time;
      this.#scratchWindow.end = time + this.#sessionGap;
      accepted = this.#addToSession(key, value, this.#scratchWindow);
    } else {
      const size = this.#size;
      const slide = this.#slide;
      const window = this.#scratchWindow;
      // As the assigners (Flink's): from the latest window start at or before the time, one
      // slide back at a time while the window still contains it; tumbling: slide = size.
      const offset = this.#offset;
      for (let start = getWindowStartWithOffset(time, offset, slide); start > time - size; start -= slide) {
        window.start = start;
        window.end = start + size;
        if (this.#addToWindow(key, value, window)) accepted = true;
      }
    }
    if (!accepted) {
      if (this.#lateTag !== undefined) this.output.collectSide(this.#lateTag, value, timestamp);
      else this.metrics.countLateRecordDropped();
    }
  }

  /** Fixed-size windows (tumbling, sliding): each lives under its own namespace. */
  #addToWindow(key: Key, value: unknown, window: TimeWindow): boolean {
    if (this.#isLate(window)) return false;
    const namespace = this.#namespaces.of(window.start, window.end);
    const contents = this.#contents;
    contents.setNamespace(namespace);
    // Timers are registered with a window's first record (add says whether it was); later
    // records find them in place. (List contents are not checked; the timer service dedups those.)
    let first = true;
    if (contents.kind === 'list') contents.add(value);
    else first = contents.add(value);
    // A record within the allowed lateness (its window's end already passed) fires the window at
    // once, as Flink's EventTimeTrigger.onElement does, and registers no firing timer: a timer
    // at or below the watermark would fire the window a second time at the next watermark.
    const firesNow = this.#isEventTime && maxTimestamp(window) <= this.currentWatermark;
    if (first) {
      this.#rememberWindow(namespace, window);
      // An aggregate's first record means the window had no state, so no timer either (its
      // timers go with its state): they are new, and skip the timer service's duplicate check.
      this.#registerTimers(key, namespace, window, !firesNow, contents.kind !== 'list');
    }
    if (firesNow) this.#fire(key, { start: window.start, end: window.end }, namespace);
    return true;
  }

  /**
   * Session windows. The key's in-flight windows are the stored `[window, stateWindow]` pairs
   * themselves, changed in place and written back only when they changed: no per-record copy
   * into another structure and back. Most records fall inside the key's last session or extend it.
   */
  #addToSession(key: Key, value: unknown, window: TimeWindow): boolean {
    const sessions = this.#sessions!;
    const stored = sessions.value();
    const pairs: WindowMapping[] = stored ?? [];
    const sizeBefore = pairs.length;
    this.#mergeKey = key;
    this.#merged = false;
    const mapping = addWindowToPairs(pairs, window, this.#onMerge);
    const merged = mapping[0];
    const stateNamespace = this.#sessionNamespaceOf(mapping[1]);
    let accepted = true;
    if (this.#isLate(merged)) {
      // The whole session is past its lateness: drop what merged into it, as Flink does.
      this.#contents.setNamespace(stateNamespace);
      this.#contents.clear();
      retireWindowFromPairs(pairs, merged);
      accepted = false;
    } else {
      this.#contents.setNamespace(stateNamespace);
      this.#contents.add(value);
      // As for fixed-size windows: a session whose end the watermark passed fires now and gets
      // no firing timer (Flink's EventTimeTrigger onMerge and onElement). A session that did not
      // change already has its timers: its firing timer is pending, or it fired and this record
      // fires it now. Processing-time sessions register again, which the timer service dedups.
      const firesNow = this.#isEventTime && maxTimestamp(merged) <= this.currentWatermark;
      if (this.#merged || pairs.length !== sizeBefore || !this.#isEventTime) {
        this.#registerTimers(key, this.#sessionNamespaceOf(merged), merged, !firesNow);
      }
      if (firesNow) this.#fire(key, merged, stateNamespace);
    }
    if (pairs.length === 0) {
      if (stored !== undefined) sessions.clear();
    } else if (this.#merged || pairs.length !== sizeBefore || stored === undefined) {
      sessions.update(pairs);
    }
    return accepted;
  }

  /** The merge callback of {@link addWindowToPairs}: one function for the operator's life. */
  readonly #onMerge = (
    _result: TimeWindow,
    mergedWindows: readonly TimeWindow[],
    stateResult: TimeWindow,
    mergedStateWindows: readonly TimeWindow[],
  ): void => {
    const key = this.#mergeKey;
    this.#merged = true;
    for (const w of mergedWindows) this.#deleteTimers(key, this.#sessionNamespaceOf(w), w);
    // Nothing to move when the state window stays in place and no other merged into it; the
    // call is still made for an AggregateFunction without merge(), which must fail as before.
    if (mergedStateWindows.length > 0 || this.#contentsMayThrowOnMerge) {
      this.#contents.mergeNamespaces(
        this.#sessionNamespaceOf(stateResult),
        mergedStateWindows.map((w) => this.#sessionNamespaceOf(w)),
      );
    }
  };

  /** The cleanup timer, and the firing timer unless `withFiringTimer` is false (the window fires now). */
  #registerTimers(
    key: Key,
    namespace: string,
    window: TimeWindow,
    withFiringTimer: boolean,
    knownNew = false,
  ): void {
    if (this.#isEventTime) {
      const timers = this.timers;
      if (knownNew) {
        if (withFiringTimer) timers.registerNewEventTimeTimer(key, namespace, maxTimestamp(window));
        if (this.#allowedLatenessMs > 0)
          timers.registerNewEventTimeTimer(key, namespace, this.#cleanupTime(window));
      } else {
        if (withFiringTimer) timers.registerEventTimeTimer(key, namespace, maxTimestamp(window));
        if (this.#allowedLatenessMs > 0)
          timers.registerEventTimeTimer(key, namespace, this.#cleanupTime(window));
      }
    } else {
      this.timers.registerProcessingTimeTimer(key, namespace, maxTimestamp(window));
    }
  }

  #deleteTimers(key: Key, namespace: string, window: TimeWindow): void {
    if (this.#isEventTime) {
      this.timers.deleteEventTimeTimer(key, namespace, maxTimestamp(window));
      if (this.#allowedLatenessMs > 0)
        this.timers.deleteEventTimeTimer(key, namespace, this.#cleanupTime(window));
    } else {
      this.timers.deleteProcessingTimeTimer(key, namespace, maxTimestamp(window));
    }
  }

  protected onEventTime(key: Key, namespace: string, timestamp: number): void {
    this.#onTimer(key, namespace, timestamp);
  }

  protected onProcessingTime(key: Key, namespace: string, timestamp: number): void {
    this.#onTimer(key, namespace, timestamp);
  }

  /** Timers are registered under the window's namespace; its contents live under its state window. */
  #onTimer(key: Key, namespace: string, timestamp: number): void {
    const known = this.#windowsByNamespace.get(namespace);
    // A copy: the window goes to user functions, which must not reach the cache.
    const window =
      known === undefined ? parseWindowNamespace(namespace) : { start: known.start, end: known.end };
    let pairs: WindowMapping[] | undefined;
    let stateNamespace = namespace;
    if (this.#sessions !== undefined) {
      pairs = this.#sessions.value();
      const mapping = pairs === undefined ? undefined : findWindowInPairs(pairs, window);
      if (mapping === undefined) return;
      stateNamespace = this.#sessionNamespaceOf(mapping[1]);
    }
    if (timestamp === maxTimestamp(window)) this.#fire(key, window, stateNamespace);
    if (timestamp === this.#cleanupTime(window)) {
      this.#contents.setNamespace(stateNamespace);
      this.#contents.clear();
      if (this.#fn.kind === 'process') this.#clearProcessState(key, window, stateNamespace);
      if (pairs !== undefined) {
        retireWindowFromPairs(pairs, window);
        if (pairs.length === 0) this.#sessions!.clear();
        else this.#sessions!.update(pairs);
      }
    }
  }

  /** The ProcessWindowFunction's clear(), then the window state it used (Flink's clearAllState). */
  #clearProcessState(key: Key, window: TimeWindow, stateNamespace: string): void {
    const fn = this.#fn as Extract<WindowFunctionSpec, { kind: 'process' }>;
    const context = this.#windowContext;
    context.key = key;
    context.window = window;
    context.namespace = stateNamespace;
    fn.process.clear?.(key, context);
    context.clearWindowState(stateNamespace);
  }

  #fire(key: Key, window: TimeWindow, stateNamespace: string): void {
    this.#contents.setNamespace(stateNamespace);
    this.#firingTimestamp = maxTimestamp(window);
    const fn = this.#fn;
    if (fn.kind === 'process') {
      const elements = (this.#contents as InternalListState<unknown>).get();
      if (elements.length === 0) return;
      this.#windowContext.key = key;
      this.#windowContext.window = window;
      this.#windowContext.namespace = stateNamespace;
      fn.process.process(key, this.#windowContext, elements, this);
      return;
    }
    const result = (this.#contents as InternalReducingState<unknown>).get();
    if (result === undefined) return;
    this.collect(fn.result === undefined ? result : fn.result(key, window, result));
  }

  override close(): void {
    if (this.#fn.kind === 'process') this.#fn.process.close?.();
  }
}

/** The accumulator of a window that has none yet, when partials merge (never stored). */
const NO_ACCUMULATOR: unique symbol = Symbol('no accumulator');

/**
 * A direct-mapped cache of window namespace strings by (start, end): one slot per hash, a
 * collision simply replaces the slot. Cheaper than any Map or WeakMap lookup (no hashing of a
 * heap number, no allocation), and than building the string, which converts two 13-digit
 * numbers; it also gives state and timers the same string object, whose hash is then computed once.
 */
class NamespaceCache {
  static readonly #SLOTS = 8192; // a power of two; windows alive at once in a busy subtask
  readonly #starts = new Float64Array(NamespaceCache.#SLOTS).fill(Number.NaN);
  readonly #ends = new Float64Array(NamespaceCache.#SLOTS);
  readonly #namespaces: string[] = new Array<string>(NamespaceCache.#SLOTS).fill('');

  of(start: number, end: number): string {
    // `| 0` keeps the low 32 bits of a whole number of ms; mixing in the end separates sessions
    // that start together. NaN in the empty slots never equals a start.
    const slot = ((start | 0) ^ Math.imul(end | 0, 0x9e3779b1)) & (NamespaceCache.#SLOTS - 1);
    if (this.#starts[slot] === start && this.#ends[slot] === end) return this.#namespaces[slot]!;
    const namespace = windowNamespace({ start, end });
    this.#starts[slot] = start;
    this.#ends[slot] = end;
    this.#namespaces[slot] = namespace;
    return namespace;
  }
}
