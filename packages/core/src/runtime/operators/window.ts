import type {
  Collector,
  ProcessWindowFunction,
  ReduceFunction,
  WindowContext,
  WindowResultFunction,
} from '../../api/functions.ts';
import type { OutputTag } from '../../api/output-tag.ts';
import {
  type AggregateFunction,
  aggregatingState,
  listState,
  reducingState,
  valueState,
} from '../../state/descriptors.ts';
import type { Key } from '../../state/key-groups.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalReducingState,
  InternalValueState,
} from '../../state/state.ts';
import { MergingWindowSet, type MergingWindowSetPlain } from '../../time/merging-window-set.ts';
import {
  maxTimestamp,
  parseWindowNamespace,
  type TimeWindow,
  type WindowAssigner,
  windowNamespace,
} from '../../time/windows.ts';
import { AbstractKeyedOperator } from './keyed.ts';

export type WindowFunctionSpec =
  | {
      kind: 'reduce';
      reduce: ReduceFunction<unknown>;
      result: WindowResultFunction<unknown, unknown, Key> | undefined;
    }
  | {
      kind: 'aggregate';
      aggregate: AggregateFunction<unknown, unknown, unknown>;
      result: WindowResultFunction<unknown, unknown, Key> | undefined;
    }
  | { kind: 'process'; process: ProcessWindowFunction<unknown, unknown, Key> };

export interface WindowOperatorOptions {
  readonly assigner: WindowAssigner;
  readonly allowedLatenessMs: number;
  readonly lateTag: string | undefined;
  readonly keySelector: (value: unknown) => Key;
  readonly fn: WindowFunctionSpec;
}

type ContentsState =
  | InternalReducingState<unknown>
  | InternalAggregatingState<unknown, unknown, unknown>
  | InternalListState<unknown>;

/**
 * Windows as Flink builds them: window contents in keyed state under the window's namespace,
 * one timer per window at its end (event or processing time), another at the end of its
 * allowed lateness to drop its state. Session windows merge through a MergingWindowSet kept in
 * keyed state per key. Results carry the window's max timestamp.
 */
export class WindowOperator extends AbstractKeyedOperator<unknown, unknown> implements Collector<unknown> {
  readonly #assigner: WindowAssigner;
  readonly #isEventTime: boolean;
  readonly #allowedLatenessMs: number;
  readonly #lateTag: string | undefined;
  readonly #fn: WindowFunctionSpec;
  #contents!: ContentsState;
  #sessions: InternalValueState<MergingWindowSetPlain> | undefined;
  #firingTimestamp = 0;
  readonly #windowContext: WindowContextImpl;
  /**
   * Namespace strings by window start, for fixed-size windows: most records fall in a window
   * seen just before, and reusing its string saves building and hashing a new one per record.
   */
  readonly #namespaces = new Map<number, string>();
  /** Tumbling windows without offset take a path without the assigner's array; 0 otherwise. */
  readonly #tumblingSize: number;
  readonly #scratchWindow = { start: 0, end: 0 };

  constructor(options: WindowOperatorOptions) {
    super(options.keySelector);
    this.#assigner = options.assigner;
    this.#isEventTime = options.assigner.isEventTime;
    this.#allowedLatenessMs = options.allowedLatenessMs;
    this.#lateTag = options.lateTag;
    this.#fn = options.fn;
    this.#windowContext = new WindowContextImpl(this);
    const assigner = options.assigner;
    this.#tumblingSize = assigner.kind === 'tumbling' && assigner.offset === 0 ? assigner.size : 0;
  }

  #namespaceOf(window: TimeWindow): string {
    const cached = this.#namespaces.get(window.start);
    if (cached !== undefined) return cached;
    const namespace = windowNamespace(window);
    // Bounded: windows move on with time; an old start is simply built again if it comes back.
    if (this.#namespaces.size >= 4096) this.#namespaces.clear();
    this.#namespaces.set(window.start, namespace);
    return namespace;
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
          aggregatingState('__window-contents', fn.aggregate),
        ) as ContentsState;
        break;
      case 'process':
        this.#contents = this.backend.getState(listState<unknown>('__window-contents')) as ContentsState;
        fn.process.open?.(this.runtime);
        break;
    }
    if (this.#assigner.isMerging) {
      this.#sessions = this.backend.getState(
        valueState<MergingWindowSetPlain>('__window-sessions'),
      ) as InternalValueState<MergingWindowSetPlain>;
    }
  }

  /** @internal */ get watermark(): number {
    return this.currentWatermark;
  }
  /** @internal */ now(): number {
    return this.clock();
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

  processElement(value: unknown, timestamp: number): void {
    const key = this.setKeyOf(value);
    const time = this.#isEventTime ? timestamp : this.clock();
    let accepted: boolean;
    const size = this.#tumblingSize;
    if (size > 0 && Number.isFinite(time)) {
      // The common case without the assigner's array: one window, its start computed here.
      const start = time - (((time % size) + size) % size);
      this.#scratchWindow.start = start;
      this.#scratchWindow.end = start + size;
      accepted = this.#addToWindow(key, value, this.#scratchWindow);
    } else {
      const windows = this.#assigner.assignWindows(time);
      accepted =
        this.#sessions === undefined
          ? this.#addToWindows(key, value, windows)
          : this.#addToSessions(key, value, windows);
    }
    if (!accepted) {
      if (this.#lateTag !== undefined) this.output.collectSide(this.#lateTag, value, timestamp);
      else this.metrics.lateRecordsDropped++;
    }
  }

  #addToWindows(key: Key, value: unknown, windows: readonly TimeWindow[]): boolean {
    let accepted = false;
    for (const window of windows) if (this.#addToWindow(key, value, window)) accepted = true;
    return accepted;
  }

  /** Fixed-size windows (tumbling, sliding): each lives under its own namespace. */
  #addToWindow(key: Key, value: unknown, window: TimeWindow): boolean {
    if (this.#isLate(window)) return false;
    const namespace = this.#namespaceOf(window);
    const contents = this.#contents;
    contents.setNamespace(namespace);
    // Timers are registered with a window's first record; later records find them in place.
    // (List contents cannot be checked without a copy; the timer service dedups those.)
    const first =
      contents.kind === 'aggregating'
        ? contents.getAccumulator() === undefined
        : contents.kind === 'reducing'
          ? contents.get() === undefined
          : true;
    contents.add(value);
    if (first) this.#registerTimers(key, namespace, window);
    // A late record within the allowed lateness re-fires its window with the update.
    if (this.#isEventTime && maxTimestamp(window) <= this.currentWatermark) {
      this.#fire(key, { start: window.start, end: window.end }, namespace);
    }
    return true;
  }

  #addToSessions(key: Key, value: unknown, windows: readonly TimeWindow[]): boolean {
    const sessions = this.#sessions!;
    const set = MergingWindowSet.fromPlain(sessions.value() ?? []);
    let accepted = false;
    for (const window of windows) {
      const merged = set.addWindow(window, (_result, mergedWindows, stateResult, mergedStateWindows) => {
        for (const w of mergedWindows) this.#deleteTimers(key, windowNamespace(w), w);
        this.#contents.mergeNamespaces(
          windowNamespace(stateResult),
          mergedStateWindows.map((w) => windowNamespace(w)),
        );
      });
      const stateWindow = set.getStateWindow(merged)!;
      const stateNamespace = windowNamespace(stateWindow);
      if (this.#isLate(merged)) {
        // The whole session is past its lateness: drop what merged into it, as Flink does.
        this.#contents.setNamespace(stateNamespace);
        this.#contents.clear();
        set.retireWindow(merged);
        continue;
      }
      accepted = true;
      this.#contents.setNamespace(stateNamespace);
      this.#contents.add(value);
      this.#registerTimers(key, windowNamespace(merged), merged);
      if (this.#isEventTime && maxTimestamp(merged) <= this.currentWatermark)
        this.#fire(key, merged, stateNamespace);
    }
    if (set.size === 0) sessions.clear();
    else sessions.update(set.toPlain());
    return accepted;
  }

  #registerTimers(key: Key, namespace: string, window: TimeWindow): void {
    if (this.#isEventTime) {
      this.timers.registerEventTimeTimer(key, namespace, maxTimestamp(window));
      if (this.#allowedLatenessMs > 0)
        this.timers.registerEventTimeTimer(key, namespace, this.#cleanupTime(window));
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
    const window = parseWindowNamespace(namespace);
    let set: MergingWindowSet | undefined;
    let stateNamespace = namespace;
    if (this.#sessions !== undefined) {
      set = MergingWindowSet.fromPlain(this.#sessions.value() ?? []);
      const stateWindow = set.getStateWindow(window);
      if (stateWindow === undefined) return;
      stateNamespace = windowNamespace(stateWindow);
    }
    if (timestamp === maxTimestamp(window)) this.#fire(key, window, stateNamespace);
    if (timestamp === this.#cleanupTime(window)) {
      this.#contents.setNamespace(stateNamespace);
      this.#contents.clear();
      if (set !== undefined) {
        set.retireWindow(window);
        if (set.size === 0) this.#sessions!.clear();
        else this.#sessions!.update(set.toPlain());
      }
    }
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

class WindowContextImpl implements WindowContext<Key> {
  key: Key = '';
  window: TimeWindow = { start: 0, end: 0 };
  readonly #operator: WindowOperator;

  constructor(operator: WindowOperator) {
    this.#operator = operator;
  }

  currentWatermark(): number {
    return this.#operator.watermark;
  }

  currentProcessingTime(): number {
    return this.#operator.now();
  }

  output<X>(tag: OutputTag<X>, value: X): void {
    this.#operator.emitSide(tag.id, value);
  }
}
