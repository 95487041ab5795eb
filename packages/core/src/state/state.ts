/**
 * Keyed state as user functions see it (Flink's `ValueState`, `ListState`, ...), and the internal
 * variants operators use.
 *
 * Every state object is scoped to the key currently being processed: the runtime sets the key
 * before calling the user function, and the same object reads and writes another key's state for
 * the next record. Keep the object (e.g. in `open()`), not the values it returns.
 *
 * `undefined` means "absent" throughout: it cannot be stored as a value. The heap backend keeps
 * values by reference; mutating an object read from state without writing it back is not
 * portable to serialising backends (LevelDB) — always `update`/`put` what you changed.
 */

import type { StateKind } from './descriptors.ts';
import type { Key } from './key-groups.ts';

/** A single value per key. */
export interface ValueState<T> {
  /** The value for the current key, else the descriptor's `defaultValue` (else `undefined`). */
  value(): T | undefined;
  /** Sets the value for the current key; `update(undefined)` is the same as `clear()`. */
  update(value: T): void;
  /** Removes the value for the current key. */
  clear(): void;
}

/** A list of elements per key. */
export interface ListState<T> {
  /**
   * The elements for the current key, oldest first; `[]` if none. Always a fresh copy, which the
   * caller may keep or mutate: later `add`s do not show in it, and changing it does not change
   * the state.
   */
  get(): T[];
  /** Appends one element. */
  add(value: T): void;
  /** Appends the elements in order. */
  addAll(values: readonly T[]): void;
  /** Replaces the elements (copied); `update([])` is the same as `clear()`. */
  update(values: readonly T[]): void;
  clear(): void;
}

/** A map per key; user keys are primitive {@link Key}s. */
export interface MapState<UK extends Key, UV> {
  get(key: UK): UV | undefined;
  put(key: UK, value: UV): void;
  has(key: UK): boolean;
  remove(key: UK): void;
  /**
   * Iterate the current key's map in insertion order. Live iterators: an entry put or removed
   * during iteration behaves as in a `Map`. Obtain them after `setCurrentKey`, use them before the
   * next one.
   */
  entries(): IterableIterator<[UK, UV]>;
  keys(): IterableIterator<UK>;
  values(): IterableIterator<UV>;
  isEmpty(): boolean;
  clear(): void;
}

/** One value per key, combined with each added element by the descriptor's `reduce`. */
export interface ReducingState<T> {
  get(): T | undefined;
  add(value: T): void;
  clear(): void;
}

/** One accumulator per key; `get()` is the AggregateFunction's `getResult`. */
export interface AggregatingState<IN, OUT> {
  /** `getResult(acc)` for the current key, or `undefined` if nothing was added. */
  get(): OUT | undefined;
  add(value: IN): void;
  clear(): void;
}

// ---------------------------------------------------------------------------------------------
// Internal variants: the same state objects, with the namespace operators need. A namespace
// partitions a key's state further; window operators use one namespace per window. Not for
// user functions: they always see the default namespace.
// ---------------------------------------------------------------------------------------------

/** The namespace of state that is not scoped to anything below the key. */
export const DEFAULT_NAMESPACE = '';

/** What every internal state has. */
export interface InternalKvState {
  readonly name: string;
  readonly kind: StateKind;
  /** The namespace reads and writes go to; {@link DEFAULT_NAMESPACE} until set. */
  readonly namespace: string;
  /** Scopes later reads and writes to `namespace` (sticky until set again). */
  setNamespace(namespace: string): void;
}

/** State whose namespaces can be merged (for merging windows, i.e. session windows). */
export interface InternalMergingState extends InternalKvState {
  /**
   * For the current key, folds the state of every `sources` namespace into `target` and removes
   * the sources. A source equal to `target` is skipped. Does not change the current namespace.
   */
  mergeNamespaces(target: string, sources: readonly string[]): void;
}

export interface InternalValueState<T> extends ValueState<T>, InternalKvState {
  readonly kind: 'value';
}

export interface InternalListState<T> extends ListState<T>, InternalMergingState {
  readonly kind: 'list';
}

export interface InternalMapState<UK extends Key, UV> extends MapState<UK, UV>, InternalKvState {
  readonly kind: 'map';
}

export interface InternalReducingState<T> extends ReducingState<T>, InternalMergingState {
  readonly kind: 'reducing';
  /**
   * As {@link ReducingState.add}; returns true when the namespace held nothing before (the first
   * element of a window), which saves operators a read to find out.
   */
  add(value: T): boolean;
}

export interface InternalAggregatingState<IN, ACC, OUT>
  extends AggregatingState<IN, OUT>,
    InternalMergingState {
  readonly kind: 'aggregating';
  /** As {@link AggregatingState.add}; returns true when the namespace held no accumulator before. */
  add(value: IN): boolean;
  /**
   * Merges accumulators with the AggregateFunction's `merge`.
   * @throws {StateError} `SLUICE_STATE_NO_MERGE` if the AggregateFunction has no `merge`.
   */
  mergeNamespaces(target: string, sources: readonly string[]): void;
  /** The raw accumulator for the current key and namespace (for operators and tests). */
  getAccumulator(): ACC | undefined;
}

/** Any internal state. */
export type InternalState =
  // biome-ignore lint/suspicious/noExplicitAny: state objects are invariant in their types; `any` is the only top type here.
  | InternalValueState<any>
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  | InternalListState<any>
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  | InternalMapState<Key, any>
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  | InternalReducingState<any>
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  | InternalAggregatingState<any, any, any>;
