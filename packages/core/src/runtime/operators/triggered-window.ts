import type { Collector } from '../../contracts/functions.ts';
import type { Evictor, EvictorContext, TimestampedValue } from '../../contracts/window-evictor.ts';
import type { OnMergeContext, Trigger, TriggerResult } from '../../contracts/window-trigger.ts';
import { ConfigError } from '../../errors.ts';
import type { WindowFunctionSpec } from '../../plan/stream-node.ts';
import type { AnyStateDescriptor, KeyedStateBackend } from '../../state/backend/keyed-state-backend.ts';
import { aggregatingState, listState, reducingState, valueState } from '../../state/descriptors.ts';
import type { Key } from '../../state/key-groups.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalMergingState,
  InternalReducingState,
  InternalValueState,
} from '../../state/state.ts';
import { MergingWindowSet, type WindowMapping } from '../../time/merging-window-set.ts';
import type { InternalTimerService } from '../../time/timer-service.ts';
import {
  maxTimestamp,
  parseWindowNamespace,
  type TimeWindow,
  type WindowAssigner,
  windowNamespace,
} from '../../time/windows.ts';
import { AbstractKeyedOperator } from './keyed.ts';
import { type WindowContextHost, WindowContextImpl } from './window-context.ts';

export interface TriggeredWindowOperatorOptions {
  readonly assigner: WindowAssigner;
  readonly trigger: Trigger<unknown>;
  readonly evictor: Evictor<unknown> | undefined;
  readonly allowedLatenessMs: number;
  readonly lateTag: string | undefined;
  readonly keySelector: (value: unknown) => Key;
  readonly fn: WindowFunctionSpec;
}

type ContentsState =
  | InternalReducingState<unknown>
  | InternalAggregatingState<unknown, unknown, unknown>
  | InternalListState<unknown>;

/** An element kept by a window with an evictor: the value and its timestamp (NaN: none). */
type StoredElement = [value: unknown, timestamp: number];

const TRIGGER_RESULTS: ReadonlySet<string> = new Set(['CONTINUE', 'FIRE', 'PURGE', 'FIRE_AND_PURGE']);

/**
 * Flink's WindowOperator and EvictingWindowOperator, driven by a {@link Trigger} object: windows
 * with a custom trigger, an evictor, or the global window (`countWindow`). Follows Flink's
 * `processElement` / `onEventTime` / `onProcessingTime` step by step: the trigger decides FIRE
 * and PURGE; the operator keeps the contents and drops a window's state (contents, trigger state,
 * the ProcessWindowFunction's window state) at its cleanup time, max timestamp + allowed
 * lateness (event time) or max timestamp (processing time); the global window is never cleaned.
 *
 * Windows that fire by time alone (no trigger or evictor given) take {@link WindowOperator},
 * which is shaped for speed; this one allocates per record (window arrays, namespace strings)
 * in exchange for running any trigger.
 */
export class TriggeredWindowOperator
  extends AbstractKeyedOperator<unknown, unknown>
  implements Collector<unknown>, WindowContextHost
{
  readonly #assigner: WindowAssigner;
  readonly #trigger: Trigger<unknown>;
  readonly #evictor: Evictor<unknown> | undefined;
  readonly #allowedLatenessMs: number;
  readonly #lateTag: string | undefined;
  readonly #fn: WindowFunctionSpec;
  #contents!: ContentsState;
  #sessions: InternalValueState<WindowMapping[]> | undefined;
  #triggerContext!: TriggerContextImpl;
  readonly #windowContext: WindowContextImpl;
  #firingTimestamp = 0;
  readonly #evictorContext: EvictorContext = {
    currentWatermark: () => this.currentWatermark,
    currentProcessingTime: () => this.clock(),
  };

  constructor(options: TriggeredWindowOperatorOptions) {
    super(options.keySelector);
    this.#assigner = options.assigner;
    this.#trigger = options.trigger;
    this.#evictor = options.evictor;
    this.#allowedLatenessMs = options.allowedLatenessMs;
    this.#lateTag = options.lateTag;
    this.#fn = options.fn;
    this.#windowContext = new WindowContextImpl(this, options.assigner.isMerging);
  }

  override open(): void {
    const fn = this.#fn;
    if (this.#evictor !== undefined) {
      // An evictor needs every element (with its timestamp) at each firing.
      this.#contents = this.backend.getState(listState<StoredElement>('__window-contents')) as ContentsState;
    } else if (fn.kind === 'reduce') {
      this.#contents = this.backend.getState(reducingState('__window-contents', fn.reduce)) as ContentsState;
    } else if (fn.kind === 'aggregate') {
      this.#contents = this.backend.getState(
        aggregatingState('__window-contents', fn.aggregate),
      ) as ContentsState;
    } else {
      this.#contents = this.backend.getState(listState<unknown>('__window-contents')) as ContentsState;
    }
    if (fn.kind === 'process') fn.process.open?.(this.runtime);
    if (this.#assigner.isMerging) {
      this.#sessions = this.backend.getState(
        valueState<WindowMapping[]>('__window-sessions'),
      ) as InternalValueState<WindowMapping[]>;
    }
    this.#triggerContext = new TriggerContextImpl(this, this.timers, this.#describeTrigger());
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

  #describeTrigger(): string {
    return `trigger ${this.#trigger.describe?.() ?? '(custom)'} of window operator '${this.runtime.operatorId}'`;
  }

  /** Flink's cleanupTime: Infinity (never) for the global window. */
  #cleanupTime(window: TimeWindow): number {
    return this.#assigner.isEventTime ? maxTimestamp(window) + this.#allowedLatenessMs : maxTimestamp(window);
  }

  #isWindowLate(window: TimeWindow): boolean {
    return this.#assigner.isEventTime && this.#cleanupTime(window) <= this.currentWatermark;
  }

  #context(key: Key, window: TimeWindow): TriggerContextImpl {
    const context = this.#triggerContext;
    context.key = key;
    context.window = window;
    context.namespace = windowNamespace(window);
    return context;
  }

  processKeyedElement(value: unknown, timestamp: number, key: Key, keyGroup: number): void {
    this.backend.setCurrentKey(key, keyGroup);
    const assigner = this.#assigner;
    const time = assigner.kind === 'global' ? 0 : assigner.isEventTime ? timestamp : this.clock();
    const windows = assigner.assignWindows(time);
    let skipped = true;
    if (this.#sessions !== undefined) {
      const sessions = MergingWindowSet.fromPlain(this.#sessions.value() ?? []);
      for (const window of windows) {
        const actual = sessions.addWindow(window, (result, merged, stateResult, mergedState) =>
          this.#merge(key, result, merged, stateResult, mergedState),
        );
        if (this.#isWindowLate(actual)) {
          sessions.retireWindow(actual);
          continue;
        }
        skipped = false;
        const stateWindow = sessions.getStateWindow(actual)!;
        this.#addElement(key, value, timestamp, { start: actual.start, end: actual.end }, stateWindow);
      }
      this.#persist(sessions);
    } else {
      for (const window of windows) {
        if (this.#isWindowLate(window)) continue;
        skipped = false;
        this.#addElement(key, value, timestamp, window, window);
      }
    }
    if (skipped && assigner.isEventTime && timestamp + this.#allowedLatenessMs <= this.currentWatermark) {
      if (this.#lateTag !== undefined) this.output.collectSide(this.#lateTag, value, timestamp);
      else this.metrics.countLateRecordDropped();
    }
  }

  #addElement(
    key: Key,
    value: unknown,
    timestamp: number,
    window: TimeWindow,
    stateWindow: TimeWindow,
  ): void {
    const stateNamespace = windowNamespace(stateWindow);
    const contents = this.#contents;
    contents.setNamespace(stateNamespace);
    if (this.#evictor !== undefined) (contents as InternalListState<StoredElement>).add([value, timestamp]);
    else contents.add(value);
    const result = this.#trigger.onElement(value, timestamp, window, this.#context(key, window));
    this.#apply(result, 'onElement', key, window, stateNamespace);
    this.#registerCleanupTimer(key, window);
  }

  /** Flink's merge function: the trigger merges its timers and state, the merged windows go. */
  #merge(
    key: Key,
    result: TimeWindow,
    merged: readonly TimeWindow[],
    stateResult: TimeWindow,
    mergedState: readonly TimeWindow[],
  ): void {
    const context = this.#context(key, { start: result.start, end: result.end });
    context.mergedNamespaces = merged.map(windowNamespace);
    this.#trigger.onMerge!(context.window, context);
    context.mergedNamespaces = [];
    for (const window of merged) {
      const copy = { start: window.start, end: window.end };
      this.#trigger.clear(copy, this.#context(key, copy));
      this.#deleteCleanupTimer(key, copy);
    }
    this.#contents.mergeNamespaces(windowNamespace(stateResult), mergedState.map(windowNamespace));
  }

  #persist(sessions: MergingWindowSet): void {
    if (sessions.size === 0) this.#sessions!.clear();
    else this.#sessions!.update(sessions.toPlain());
  }

  #registerCleanupTimer(key: Key, window: TimeWindow): void {
    const time = this.#cleanupTime(window);
    if (!Number.isFinite(time)) return;
    const namespace = windowNamespace(window);
    if (this.#assigner.isEventTime) this.timers.registerEventTimeTimer(key, namespace, time);
    else this.timers.registerProcessingTimeTimer(key, namespace, time);
  }

  #deleteCleanupTimer(key: Key, window: TimeWindow): void {
    const time = this.#cleanupTime(window);
    if (!Number.isFinite(time)) return;
    const namespace = windowNamespace(window);
    if (this.#assigner.isEventTime) this.timers.deleteEventTimeTimer(key, namespace, time);
    else this.timers.deleteProcessingTimeTimer(key, namespace, time);
  }

  protected onEventTime(key: Key, namespace: string, timestamp: number): void {
    this.#onTimer(key, namespace, timestamp, true);
  }

  protected onProcessingTime(key: Key, namespace: string, timestamp: number): void {
    this.#onTimer(key, namespace, timestamp, false);
  }

  #onTimer(key: Key, namespace: string, timestamp: number, eventTime: boolean): void {
    const window = parseWindowNamespace(namespace);
    let sessions: MergingWindowSet | undefined;
    let stateNamespace = namespace;
    if (this.#sessions !== undefined) {
      sessions = MergingWindowSet.fromPlain(this.#sessions.value() ?? []);
      const stateWindow = sessions.getStateWindow(window);
      // A timer of a window merged away whose trigger did not delete it: nothing left to do.
      if (stateWindow === undefined) return;
      stateNamespace = windowNamespace(stateWindow);
    }
    const context = this.#context(key, window);
    const result = eventTime
      ? this.#trigger.onEventTime(timestamp, window, context)
      : this.#trigger.onProcessingTime(timestamp, window, context);
    this.#apply(result, eventTime ? 'onEventTime' : 'onProcessingTime', key, window, stateNamespace);
    if (eventTime === this.#assigner.isEventTime && timestamp === this.#cleanupTime(window)) {
      this.#clearAllState(key, window, stateNamespace, sessions);
    }
    if (sessions !== undefined) this.#persist(sessions);
  }

  #apply(result: TriggerResult, method: string, key: Key, window: TimeWindow, stateNamespace: string): void {
    if (!TRIGGER_RESULTS.has(result)) {
      throw new ConfigError(
        `${this.#describeTrigger()}: ${method} returned ${String(result)}; expected 'CONTINUE', 'FIRE', 'PURGE' or 'FIRE_AND_PURGE'`,
      );
    }
    if (result === 'FIRE' || result === 'FIRE_AND_PURGE') this.#fire(key, window, stateNamespace);
    if (result === 'PURGE' || result === 'FIRE_AND_PURGE') {
      this.#contents.setNamespace(stateNamespace);
      this.#contents.clear();
    }
  }

  /** Flink's clearAllState: contents, trigger, the function's window state, the session. */
  #clearAllState(
    key: Key,
    window: TimeWindow,
    stateNamespace: string,
    sessions: MergingWindowSet | undefined,
  ): void {
    this.#contents.setNamespace(stateNamespace);
    this.#contents.clear();
    this.#trigger.clear(window, this.#context(key, window));
    const fn = this.#fn;
    if (fn.kind === 'process') {
      const context = this.#windowContext;
      context.key = key;
      context.window = window;
      context.namespace = windowNamespace(window);
      fn.process.clear?.(key, context);
      context.clearWindowState(context.namespace);
    }
    sessions?.retireWindow(window);
  }

  #fire(key: Key, window: TimeWindow, stateNamespace: string): void {
    const contents = this.#contents;
    contents.setNamespace(stateNamespace);
    this.#firingTimestamp = maxTimestamp(window);
    if (this.#evictor !== undefined) {
      this.#fireEvicting(key, window, stateNamespace);
      return;
    }
    const fn = this.#fn;
    if (fn.kind === 'process') {
      const elements = (contents as InternalListState<unknown>).get();
      if (elements.length === 0) return;
      this.#process(key, window, elements);
      return;
    }
    const result = (contents as InternalReducingState<unknown>).get();
    if (result === undefined) return;
    this.collect(fn.result === undefined ? result : fn.result(key, window, result));
  }

  /** Flink's EvictingWindowOperator.emitWindowContents: evict, apply the function, evict, store what is left. */
  #fireEvicting(key: Key, window: TimeWindow, stateNamespace: string): void {
    const contents = this.#contents as InternalListState<StoredElement>;
    const stored = contents.get();
    if (stored.length === 0) return;
    const evictor = this.#evictor!;
    const elements: TimestampedValue<unknown>[] = stored.map(([value, timestamp]) => ({
      value,
      timestamp: Number.isNaN(timestamp) ? undefined : timestamp,
    }));
    const kept = evictor.evictBefore(elements, window, this.#evictorContext);
    const values = kept.map((e) => e.value);
    const fn = this.#fn;
    if (fn.kind === 'process') {
      this.#process(key, window, values);
    } else if (fn.kind === 'reduce') {
      if (values.length > 0) {
        let reduced = values[0];
        for (let i = 1; i < values.length; i++) reduced = fn.reduce(reduced, values[i]);
        this.collect(fn.result === undefined ? reduced : fn.result(key, window, reduced));
      }
    } else {
      const aggregate = fn.aggregate;
      let accumulator = aggregate.createAccumulator();
      for (const value of values) accumulator = aggregate.add(value, accumulator);
      const result = aggregate.getResult(accumulator);
      this.collect(fn.result === undefined ? result : fn.result(key, window, result));
    }
    const left = evictor.evictAfter(kept, window, this.#evictorContext);
    contents.setNamespace(stateNamespace);
    contents.update(left.map((e): StoredElement => [e.value, e.timestamp ?? Number.NaN]));
  }

  #process(key: Key, window: TimeWindow, elements: readonly unknown[]): void {
    const fn = this.#fn as Extract<WindowFunctionSpec, { kind: 'process' }>;
    const context = this.#windowContext;
    context.key = key;
    context.window = window;
    context.namespace = windowNamespace(window);
    fn.process.process(key, context, elements, this);
  }

  override close(): void {
    if (this.#fn.kind === 'process') this.#fn.process.close?.();
  }
}

/**
 * The trigger's view of one key and window: timers under the window's namespace, state
 * partitioned by it. One object per operator, pointed at each window in turn.
 */
class TriggerContextImpl implements OnMergeContext {
  key: Key = '';
  window: TimeWindow = { start: 0, end: 0 };
  namespace = '';
  /** While `onMerge` runs: the namespaces of the windows being merged. */
  mergedNamespaces: string[] = [];
  readonly #host: WindowContextHost;
  readonly #timers: InternalTimerService<Key>;
  readonly #name: string;

  constructor(host: WindowContextHost, timers: InternalTimerService<Key>, name: string) {
    this.#host = host;
    this.#timers = timers;
    this.#name = name;
  }

  currentWatermark(): number {
    return this.#host.watermark;
  }
  currentProcessingTime(): number {
    return this.#host.now();
  }
  registerEventTimeTimer(time: number): void {
    this.#timers.registerEventTimeTimer(this.key, this.namespace, time);
  }
  deleteEventTimeTimer(time: number): void {
    this.#timers.deleteEventTimeTimer(this.key, this.namespace, time);
  }
  registerProcessingTimeTimer(time: number): void {
    this.#timers.registerProcessingTimeTimer(this.key, this.namespace, time);
  }
  deleteProcessingTimeTimer(time: number): void {
    this.#timers.deleteProcessingTimeTimer(this.key, this.namespace, time);
  }

  getPartitionedState = ((descriptor: AnyStateDescriptor) => {
    const state = this.#host.stateBackend.getState(descriptor);
    state.setNamespace(this.namespace);
    return state;
  }) as unknown as OnMergeContext['getPartitionedState'];

  mergePartitionedState(descriptor: {
    readonly kind: 'reducing' | 'aggregating' | 'list';
    readonly name: string;
  }): void {
    if (descriptor.kind !== 'reducing' && descriptor.kind !== 'aggregating' && descriptor.kind !== 'list') {
      throw new ConfigError(
        `${this.#name}: mergePartitionedState('${String(descriptor.name)}') needs a reducing, aggregating or list state, not ${String(descriptor.kind)}`,
      );
    }
    const state = this.#host.stateBackend.getState(descriptor) as unknown as InternalMergingState;
    state.mergeNamespaces(this.namespace, this.mergedNamespaces);
  }
}
