import { ConfigError } from '../errors.ts';
import type { TimeWindow } from '../time/windows.ts';

/** An element in a window with its event timestamp (`undefined` when the stream has none). */
export interface TimestampedValue<T> {
  readonly value: T;
  readonly timestamp: number | undefined;
}

export interface EvictorContext {
  currentWatermark(): number;
  currentProcessingTime(): number;
}

/**
 * Removes elements from a window when it fires (Flink's `Evictor`): `evictBefore` before the
 * window function sees them, `evictAfter` after it. Each returns the elements to keep, in order;
 * the rest are gone from the window for good. A window with an evictor keeps all its elements
 * (a reduce or aggregate then runs over them at each firing).
 */
export interface Evictor<T> {
  evictBefore(
    elements: readonly TimestampedValue<T>[],
    window: TimeWindow,
    ctx: EvictorContext,
  ): readonly TimestampedValue<T>[];
  evictAfter(
    elements: readonly TimestampedValue<T>[],
    window: TimeWindow,
    ctx: EvictorContext,
  ): readonly TimestampedValue<T>[];
  /** For plans and error messages, e.g. `CountEvictor(10)`. */
  describe?(): string;
}

export interface EvictorOptions {
  /** Evict after the window function instead of before it (default false: before). */
  readonly evictAfter?: boolean;
}

const keepAll = <T>(elements: readonly TimestampedValue<T>[]): readonly TimestampedValue<T>[] => elements;

function evictor<T>(
  evict: (elements: readonly TimestampedValue<T>[]) => readonly TimestampedValue<T>[],
  after: boolean,
  name: string,
): Evictor<T> {
  return {
    evictBefore: after ? keepAll : evict,
    evictAfter: after ? evict : keepAll,
    describe: () => name,
  };
}

/** Keeps the last `maxCount` elements of a window (those that arrived last). */
export function countEvictor<T = unknown>(maxCount: number, options: EvictorOptions = {}): Evictor<T> {
  if (!Number.isSafeInteger(maxCount) || maxCount < 1) {
    throw new ConfigError(`countEvictor: maxCount must be an integer >= 1, got ${String(maxCount)}`);
  }
  return evictor<T>(
    (elements) => (elements.length <= maxCount ? elements : elements.slice(elements.length - maxCount)),
    options.evictAfter === true,
    `CountEvictor(${maxCount})`,
  );
}

/**
 * Keeps the elements whose timestamp is within `windowSizeMs` of the window's latest: those at
 * or before `max timestamp - windowSizeMs` go (Flink's `TimeEvictor`). Elements without a
 * timestamp are kept, and a window whose first element has none is left as it is.
 */
export function timeEvictor<T = unknown>(windowSizeMs: number, options: EvictorOptions = {}): Evictor<T> {
  if (!Number.isFinite(windowSizeMs) || windowSizeMs < 0) {
    throw new ConfigError(
      `timeEvictor: windowSizeMs must be a finite number >= 0, got ${String(windowSizeMs)}`,
    );
  }
  return evictor<T>(
    (elements) => {
      if (elements.length === 0 || elements[0]!.timestamp === undefined) return elements;
      let latest = Number.NEGATIVE_INFINITY;
      for (const e of elements) if (e.timestamp !== undefined && e.timestamp > latest) latest = e.timestamp;
      const cutoff = latest - windowSizeMs;
      return elements.filter((e) => e.timestamp === undefined || e.timestamp > cutoff);
    },
    options.evictAfter === true,
    `TimeEvictor(${windowSizeMs}ms)`,
  );
}

/** Checks that `evictor` has both methods, naming what is missing. */
export function validateEvictor(value: unknown, where: string): asserts value is Evictor<unknown> {
  if (value === null || typeof value !== 'object') {
    throw new ConfigError(`${where}: expected an Evictor such as countEvictor(10), got ${String(value)}`);
  }
  for (const method of ['evictBefore', 'evictAfter'] as const) {
    if (typeof (value as Record<string, unknown>)[method] !== 'function') {
      throw new ConfigError(`${where}: the evictor has no ${method}() method`);
    }
  }
}
