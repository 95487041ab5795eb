/**
 * State descriptors: what a user declares to get keyed state (Flink's `StateDescriptor`).
 *
 * A descriptor is plain, frozen data plus the functions the state needs (`reduce`, an
 * `AggregateFunction`). It holds no state itself: a backend turns it into a state object scoped
 * to the current key. The `name` identifies the state inside its operator, in checkpoints too,
 * so keep it stable across versions of a job.
 *
 * @example
 * const count = valueState<number>('count', { defaultValue: 0 });
 * const seen = mapState<string, number>('seen');
 * const total = reducingState<number>('total', (a, b) => a + b);
 * const recent = listState<string>('recent', { ttl: { ttlMs: 60_000 } }); // elements live one minute
 */

import { StateArgumentError } from './errors.ts';
import type { Key } from './key-groups.ts';
import { type ResolvedTtlConfig, resolveTtlConfig, type StateTtlConfig } from './ttl/ttl-config.ts';

/** The kinds of keyed state. */
export type StateKind = 'value' | 'list' | 'map' | 'reducing' | 'aggregating';

/**
 * Incremental aggregation with an accumulator (Flink's `AggregateFunction`).
 *
 * `add` may mutate and return `acc` or return a new accumulator. `merge` is needed only when
 * accumulators of different namespaces are combined: by merging windows (session windows).
 *
 * @example
 * const average: AggregateFunction<number, { sum: number; n: number }, number> = {
 *   createAccumulator: () => ({ sum: 0, n: 0 }),
 *   add: (v, acc) => ({ sum: acc.sum + v, n: acc.n + 1 }),
 *   getResult: (acc) => acc.sum / acc.n,
 *   merge: (a, b) => ({ sum: a.sum + b.sum, n: a.n + b.n }),
 * };
 */
export interface AggregateFunction<IN, ACC, OUT> {
  createAccumulator(): ACC;
  add(value: IN, acc: ACC): ACC;
  getResult(acc: ACC): OUT;
  merge?(a: ACC, b: ACC): ACC;
}

// Type-level only, never present at runtime: carries the value types of descriptors that hold no
// function mentioning them, so that `getState(listState<number>('x'))` infers `ListState<number>`.
// Written as a function type so the descriptor is invariant in T, like the state it describes.
declare const stateTypes: unique symbol;

export interface ValueStateDescriptor<T> {
  readonly kind: 'value';
  readonly name: string;
  /** Time-to-live of its values (validated, defaults filled in); absent: values never expire. */
  readonly ttl?: ResolvedTtlConfig;
  /**
   * Returned by `value()` while the key has no value. Shared by every key: use a primitive or a
   * frozen object, never one you mutate.
   */
  readonly defaultValue: T | undefined;
  readonly [stateTypes]?: (value: T) => T;
}

export interface ListStateDescriptor<T> {
  readonly kind: 'list';
  readonly name: string;
  /** Time-to-live of its values (validated, defaults filled in); absent: values never expire. */
  readonly ttl?: ResolvedTtlConfig;
  readonly [stateTypes]?: (value: T) => T;
}

export interface MapStateDescriptor<UK extends Key, UV> {
  readonly kind: 'map';
  readonly name: string;
  /** Time-to-live of its values (validated, defaults filled in); absent: values never expire. */
  readonly ttl?: ResolvedTtlConfig;
  readonly [stateTypes]?: (key: UK, value: UV) => [UK, UV];
}

export interface ReducingStateDescriptor<T> {
  readonly kind: 'reducing';
  readonly name: string;
  /** Time-to-live of its values (validated, defaults filled in); absent: values never expire. */
  readonly ttl?: ResolvedTtlConfig;
  readonly reduce: (a: T, b: T) => T;
}

export interface AggregatingStateDescriptor<IN, ACC, OUT> {
  readonly kind: 'aggregating';
  readonly name: string;
  /** Time-to-live of its values (validated, defaults filled in); absent: values never expire. */
  readonly ttl?: ResolvedTtlConfig;
  readonly aggregateFunction: AggregateFunction<IN, ACC, OUT>;
}

/** Any state descriptor; narrow on `kind`. */
export type StateDescriptor =
  // biome-ignore lint/suspicious/noExplicitAny: descriptors are invariant in their types; `any` is the only top type here.
  | ValueStateDescriptor<any>
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  | ListStateDescriptor<any>
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  | MapStateDescriptor<Key, any>
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  | ReducingStateDescriptor<any>
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  | AggregatingStateDescriptor<any, any, any>;

/** Options every kind of state descriptor takes. */
export interface StateOptions {
  /** Values expire this long after they were written (or read); see {@link StateTtlConfig}. */
  readonly ttl?: StateTtlConfig;
}

/** `{ ttl }` when the options have one (validated), else nothing: descriptors without TTL stay as they were. */
function ttlOf(name: string, options: StateOptions | undefined): { ttl?: ResolvedTtlConfig } {
  if (options === undefined || options === null || options.ttl === undefined) return {};
  return { ttl: resolveTtlConfig(name, options.ttl) };
}

function validateName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new StateArgumentError(
      'name',
      `must be a non-empty string naming the state, got ${typeof name === 'string' ? "''" : typeof name}`,
    );
  }
}

/**
 * A single value per key (and namespace).
 *
 * @example
 * const lastSeen = valueState<number>('last-seen');
 * const count = valueState('count', { defaultValue: 0 }); // ValueStateDescriptor<number>
 */
export function valueState<T>(
  name: string,
  options?: { defaultValue?: T } & StateOptions,
): ValueStateDescriptor<T> {
  validateName(name);
  return Object.freeze({ kind: 'value', name, defaultValue: options?.defaultValue, ...ttlOf(name, options) });
}

/**
 * A list of elements per key (and namespace), appended to cheaply.
 *
 * @example
 * const buffered = listState<Click>('buffered');
 */
export function listState<T>(name: string, options?: StateOptions): ListStateDescriptor<T> {
  validateName(name);
  return Object.freeze({ kind: 'list', name, ...ttlOf(name, options) });
}

/**
 * A map per key (and namespace). User keys are primitive {@link Key}s, like stream keys.
 *
 * @example
 * const perPage = mapState<string, number>('per-page');
 */
export function mapState<UK extends Key, UV>(
  name: string,
  options?: StateOptions,
): MapStateDescriptor<UK, UV> {
  validateName(name);
  return Object.freeze({ kind: 'map', name, ...ttlOf(name, options) });
}

/**
 * One value per key (and namespace), combined with each added element by `reduce`.
 *
 * @example
 * const max = reducingState<number>('max', Math.max);
 */
export function reducingState<T>(
  name: string,
  reduce: (a: T, b: T) => T,
  options?: StateOptions,
): ReducingStateDescriptor<T> {
  validateName(name);
  if (typeof reduce !== 'function') {
    throw new StateArgumentError('reduce', `must be a function (a, b) => reduced, got ${typeof reduce}`);
  }
  return Object.freeze({ kind: 'reducing', name, reduce, ...ttlOf(name, options) });
}

/**
 * One accumulator per key (and namespace), built by an {@link AggregateFunction}; reads return
 * `getResult(acc)`.
 *
 * @example
 * const avg = aggregatingState('avg-latency', average);
 */
export function aggregatingState<IN, ACC, OUT>(
  name: string,
  agg: AggregateFunction<IN, ACC, OUT>,
  options?: StateOptions,
): AggregatingStateDescriptor<IN, ACC, OUT> {
  validateName(name);
  if (agg === null || (typeof agg !== 'object' && typeof agg !== 'function')) {
    throw new StateArgumentError(
      'agg',
      `must be an AggregateFunction object, got ${agg === null ? 'null' : typeof agg}`,
    );
  }
  for (const method of ['createAccumulator', 'add', 'getResult'] as const) {
    if (typeof agg[method] !== 'function') {
      throw new StateArgumentError('agg', `must have a ${method} method`);
    }
  }
  if (agg.merge !== undefined && typeof agg.merge !== 'function') {
    throw new StateArgumentError('agg', 'merge must be a function when present');
  }
  return Object.freeze({ kind: 'aggregating', name, aggregateFunction: agg, ...ttlOf(name, options) });
}
