import { ConfigError } from '../errors.ts';
import type {
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  ValueStateDescriptor,
} from '../state/descriptors.ts';
import { reducingState } from '../state/descriptors.ts';
import type { AggregatingState, ListState, MapState, ReducingState, ValueState } from '../state/state.ts';
import type { TimeWindow } from '../time/windows.ts';

/**
 * What a trigger decides for a window (Flink's `TriggerResult`): `FIRE` evaluates the window
 * function on its contents, `PURGE` drops the contents (the window itself lives on until its
 * cleanup time), `FIRE_AND_PURGE` does both, `CONTINUE` neither.
 */
export type TriggerResult = 'CONTINUE' | 'FIRE' | 'PURGE' | 'FIRE_AND_PURGE';

/** State of a trigger, scoped to the current key and window. */
export interface TriggerStateAccess {
  getPartitionedState<T>(descriptor: ValueStateDescriptor<T>): ValueState<T>;
  getPartitionedState<T>(descriptor: ListStateDescriptor<T>): ListState<T>;
  getPartitionedState<UK extends string | number, UV>(
    descriptor: MapStateDescriptor<UK, UV>,
  ): MapState<UK, UV>;
  getPartitionedState<T>(descriptor: ReducingStateDescriptor<T>): ReducingState<T>;
  getPartitionedState<IN, ACC, OUT>(
    descriptor: AggregatingStateDescriptor<IN, ACC, OUT>,
  ): AggregatingState<IN, OUT>;
}

/** What a trigger method may do: read the clocks, set timers and keep state for its window and key. */
export interface TriggerContext extends TriggerStateAccess {
  currentWatermark(): number;
  currentProcessingTime(): number;
  /** Calls the trigger's `onEventTime` for this window when the watermark reaches `time`. */
  registerEventTimeTimer(time: number): void;
  deleteEventTimeTimer(time: number): void;
  /** Calls the trigger's `onProcessingTime` for this window when processing time reaches `time`. */
  registerProcessingTimeTimer(time: number): void;
  deleteProcessingTimeTimer(time: number): void;
}

/** Given to `onMerge` when session windows merge: the context of the merged window. */
export interface OnMergeContext extends TriggerContext {
  /**
   * Folds this state of the windows being merged into the merged window's (a reducing,
   * aggregating or list state descriptor).
   */
  mergePartitionedState(descriptor: {
    readonly kind: 'reducing' | 'aggregating' | 'list';
    readonly name: string;
  }): void;
}

/**
 * Decides when a window fires and when its contents are purged (Flink's `Trigger`). Each method
 * runs for one key and window; timers and state set through the context belong to that window.
 * Keep a trigger's own data in partitioned state, not in fields: one trigger object serves all
 * keys and windows of a subtask, and only state goes into checkpoints.
 *
 * @example
 * ```ts
 * // Fires every 3 elements and at the end of the window.
 * const everyThird: Trigger<unknown> = {
 *   onElement(_e, _ts, window, ctx) {
 *     const seen = ctx.getPartitionedState(seenState);
 *     seen.add(1);
 *     ctx.registerEventTimeTimer(window.end - 1);
 *     return seen.get()! % 3 === 0 ? 'FIRE' : 'CONTINUE';
 *   },
 *   onEventTime: (time, window) => (time === window.end - 1 ? 'FIRE' : 'CONTINUE'),
 *   onProcessingTime: () => 'CONTINUE',
 *   clear(window, ctx) {
 *     ctx.getPartitionedState(seenState).clear();
 *     ctx.deleteEventTimeTimer(window.end - 1);
 *   },
 * };
 * ```
 */
export interface Trigger<T> {
  /** An element was added to `window`; `timestamp` is its event time (NaN when the stream has none). */
  onElement(element: T, timestamp: number, window: TimeWindow, ctx: TriggerContext): TriggerResult;
  onEventTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult;
  onProcessingTime(time: number, window: TimeWindow, ctx: TriggerContext): TriggerResult;
  /** Needed with merging (session) windows: set up the merged window's timers and state. */
  onMerge?(window: TimeWindow, ctx: OnMergeContext): void;
  /** The window is gone: delete its timers and state. */
  clear(window: TimeWindow, ctx: TriggerContext): void;
  /** For plans and error messages, e.g. `CountTrigger(100)`. */
  describe?(): string;
}

// ---------------------------------------------------------------------------------------------
// The built-in triggers, written against the interface above as a user would write their own.

/**
 * Fires when the watermark passes the window's end, and at once for an element that arrives
 * after that (within the allowed lateness). The default of event-time windows.
 */
export function eventTimeTrigger(): Trigger<unknown> {
  return {
    onElement(_element, _timestamp, window, ctx) {
      if (window.end - 1 <= ctx.currentWatermark()) return 'FIRE';
      ctx.registerEventTimeTimer(window.end - 1);
      return 'CONTINUE';
    },
    onEventTime: (time, window) => (time === window.end - 1 ? 'FIRE' : 'CONTINUE'),
    onProcessingTime: () => 'CONTINUE',
    onMerge(window, ctx) {
      if (window.end - 1 > ctx.currentWatermark()) ctx.registerEventTimeTimer(window.end - 1);
    },
    clear(window, ctx) {
      ctx.deleteEventTimeTimer(window.end - 1);
    },
    describe: () => 'EventTimeTrigger',
  };
}

/** Fires when processing time reaches the window's end. The default of processing-time windows. */
export function processingTimeTrigger(): Trigger<unknown> {
  return {
    onElement(_element, _timestamp, window, ctx) {
      ctx.registerProcessingTimeTimer(window.end - 1);
      return 'CONTINUE';
    },
    onEventTime: () => 'CONTINUE',
    onProcessingTime: (time, window) => (time === window.end - 1 ? 'FIRE' : 'CONTINUE'),
    onMerge(window, ctx) {
      if (window.end - 1 > ctx.currentProcessingTime()) ctx.registerProcessingTimeTimer(window.end - 1);
    },
    clear(window, ctx) {
      ctx.deleteProcessingTimeTimer(window.end - 1);
    },
    describe: () => 'ProcessingTimeTrigger',
  };
}

/** Never fires: the default of the global window, which needs a trigger of its own. */
export function neverTrigger(): Trigger<unknown> {
  return {
    onElement: () => 'CONTINUE',
    onEventTime: () => 'CONTINUE',
    onProcessingTime: () => 'CONTINUE',
    onMerge: () => {},
    clear: () => {},
    describe: () => 'NeverTrigger',
  };
}

const countState = reducingState<number>('__count-trigger', (a, b) => a + b);

/** Fires each time the window has received `count` more elements (its count restarts at each firing). */
export function countTrigger(count: number): Trigger<unknown> {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new ConfigError(`countTrigger: count must be an integer >= 1, got ${String(count)}`);
  }
  return {
    onElement(_element, _timestamp, _window, ctx) {
      const seen = ctx.getPartitionedState(countState);
      seen.add(1);
      if (seen.get()! >= count) {
        seen.clear();
        return 'FIRE';
      }
      return 'CONTINUE';
    },
    onEventTime: () => 'CONTINUE',
    onProcessingTime: () => 'CONTINUE',
    onMerge(_window, ctx) {
      ctx.mergePartitionedState(countState);
    },
    clear(_window, ctx) {
      ctx.getPartitionedState(countState).clear();
    },
    describe: () => `CountTrigger(${count})`,
  };
}

/** `trigger`, with every FIRE turned into FIRE_AND_PURGE: each firing sees only what came since the last. */
export function purgingTrigger<T>(trigger: Trigger<T>): Trigger<T> {
  const purging = (result: TriggerResult): TriggerResult => (result === 'FIRE' ? 'FIRE_AND_PURGE' : result);
  const merge = trigger.onMerge;
  return {
    onElement: (element, timestamp, window, ctx) =>
      purging(trigger.onElement(element, timestamp, window, ctx)),
    onEventTime: (time, window, ctx) => purging(trigger.onEventTime(time, window, ctx)),
    onProcessingTime: (time, window, ctx) => purging(trigger.onProcessingTime(time, window, ctx)),
    ...(merge === undefined
      ? {}
      : { onMerge: (window: TimeWindow, ctx: OnMergeContext) => merge.call(trigger, window, ctx) }),
    clear: (window, ctx) => trigger.clear(window, ctx),
    describe: () => `PurgingTrigger(${trigger.describe?.() ?? 'trigger'})`,
  };
}

/** Checks that `trigger` has the methods a trigger must have, naming what is missing. */
export function validateTrigger(trigger: unknown, where: string): asserts trigger is Trigger<unknown> {
  if (trigger === null || typeof trigger !== 'object') {
    throw new ConfigError(
      `${where}: expected a Trigger object such as countTrigger(10), got ${String(trigger)}`,
    );
  }
  for (const method of ['onElement', 'onEventTime', 'onProcessingTime', 'clear'] as const) {
    if (typeof (trigger as Record<string, unknown>)[method] !== 'function') {
      throw new ConfigError(`${where}: the trigger has no ${method}() method`);
    }
  }
}
