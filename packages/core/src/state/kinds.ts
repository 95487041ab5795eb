/**
 * The five kinds of keyed state (value, list, map, reducing, aggregating), written once for every
 * backend over a {@link StateCell}: the place where one state's values live, read and written for
 * the backend's current key. This is Flink's split between the state objects and the backend's
 * state tables (`AbstractHeapState` over a `StateTable`); here one set of state objects serves the
 * heap backend (cells over a heap state table) and the LevelDB backend (cells over its write-back
 * cache, which mark what they change dirty). Internal to `state/`.
 *
 * Hot path (`value()`/`update()`/`add()` on the default namespace): one call into the cell, which
 * is one field check, one array load and one lookup; no allocation except what the stored value
 * itself needs. A job uses one backend, so every call site below sees one cell class and stays
 * monomorphic.
 */

import type {
  AggregateFunction,
  AggregatingStateDescriptor,
  ReducingStateDescriptor,
  StateDescriptor,
  StateKind,
  ValueStateDescriptor,
} from './descriptors.ts';
import { StateError } from './errors.ts';
import { hashKey, type Key } from './key-groups.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from './state.ts';

/**
 * Where one state keeps its values, for the backend's current key; the namespace is the state
 * object's. Every method throws `SLUICE_STATE_NO_CURRENT_KEY` before the first `setCurrentKey`
 * (and the LevelDB cell `SLUICE_STATE_NOT_PREFETCHED` for a key that is not in memory).
 * `undefined` is never stored: {@link remove} is how an entry goes. The heap cell writes to its
 * table; the LevelDB cell writes to the write-back cache and marks what changes dirty.
 */
export interface StateCell<V> {
  /** The value in `namespace`, `undefined` if none. */
  get(namespace: string): V | undefined;
  /**
   * As {@link get}, for a value the caller is about to change in place (a list appended to, a
   * map put into): the LevelDB cell marks it for write-back, the heap cell is `get`. One call,
   * not a `get` and a second call to report the change: on the heap that second call cost ~10%
   * of a map `put` (measured), and a `set` of the same object costs a second lookup.
   */
  getForUpdate(namespace: string): V | undefined;
  /** Stores `value` (not `undefined`). */
  set(namespace: string, value: V): void;
  /** Removes the entry; returns what it held. */
  remove(namespace: string): V | undefined;
}

/**
 * Walks every entry of one state (every key, every namespace) a few at a time, resuming where
 * the last step stopped and starting over after the last entry: the background cleanup of TTL
 * state. Each backend has one over its storage (the LevelDB one over the keys in memory).
 */
export interface StateEntryCursor<V> {
  /**
   * Visits about `count` entries (a key's namespaces are visited together, so a step may go over
   * by those of one key; the LevelDB cursor counts each cached key it looks at, with or without
   * this state's entry, as one). `prune` returns the entry's value to keep: the same object for no
   * change, another object to store instead, `undefined` to remove the entry.
   */
  step(count: number, prune: (value: V) => V | undefined): void;
}

export function restoreInvalid(
  stateName: string,
  kind: StateKind,
  expected: string,
  got: unknown,
): StateError {
  return new StateError(
    'SLUICE_STATE_RESTORE_INVALID',
    `cannot restore ${kind} state '${stateName}': expected ${expected}, got ${Array.isArray(got) ? 'array' : typeof got}; ` +
      'was this state registered with another kind when the checkpoint was taken?',
  );
}

/**
 * Base of every state object: its cell, its namespace, and the snapshot form of its values.
 * `V` is what the cell stores for this kind (the value, a list array, a Map, an accumulator).
 */
export abstract class KeyedState<V> {
  abstract readonly kind: StateKind;
  namespace = '';

  readonly name: string;
  protected readonly cell: StateCell<V>;

  constructor(name: string, cell: StateCell<V>) {
    this.name = name;
    this.cell = cell;
  }

  setNamespace(namespace: string): void {
    this.namespace = namespace;
  }

  /**
   * The form a value takes in a snapshot: plain arrays and primitives, safe to serialise, sharing
   * no container with the state (the heap backend's snapshots are serialised after processing
   * goes on).
   */
  encode(value: V): unknown {
    return value;
  }

  /**
   * The snapshot form `encoded` (of {@link encode}) as a snapshot taken at `nowMs` writes it:
   * `undefined` to leave it out. Only state with TTL leaves anything out (its expired values).
   */
  pruneEncoded(encoded: unknown, _nowMs: number): unknown {
    return encoded;
  }

  /** The inverse of {@link encode}; `undefined` for an empty value (not stored). */
  decode(encoded: unknown): V | undefined {
    return encoded as V;
  }

  clear(): void {
    this.cell.remove(this.namespace);
  }

  /** Writes `value`; `undefined` removes the entry, so that no cell stores `undefined`. */
  protected write(value: V | undefined): void {
    if (value === undefined) this.cell.remove(this.namespace);
    else this.cell.set(this.namespace, value);
  }

  /**
   * Shared shape of every `mergeNamespaces`: takes out each source (skipping `target`), folds it
   * into the target's value with `combine`, writes the result to `target` (a `set` even when it is
   * the target's own object, appended to: the LevelDB cell must see the change).
   */
  protected mergeInto(target: string, sources: readonly string[], combine: (into: V, from: V) => V): void {
    const cell = this.cell;
    let merged = cell.get(target);
    for (const source of sources) {
      if (source === target) continue;
      const value = cell.remove(source);
      if (value === undefined) continue;
      merged = merged === undefined ? value : combine(merged, value);
    }
    if (merged !== undefined) cell.set(target, merged);
  }
}

export class KeyedValueState<T> extends KeyedState<T> implements InternalValueState<T> {
  readonly kind = 'value';
  readonly #defaultValue: T | undefined;

  constructor(descriptor: ValueStateDescriptor<T>, cell: StateCell<T>) {
    super(descriptor.name, cell);
    this.#defaultValue = descriptor.defaultValue;
  }

  value(): T | undefined {
    const value = this.cell.get(this.namespace);
    return value === undefined ? this.#defaultValue : value;
  }

  update(value: T): void {
    this.write(value);
  }
}

export class KeyedListState<T> extends KeyedState<T[]> implements InternalListState<T> {
  readonly kind = 'list';

  get(): T[] {
    const list = this.cell.get(this.namespace);
    return list === undefined ? [] : list.slice();
  }

  add(value: T): void {
    const cell = this.cell;
    const list = cell.getForUpdate(this.namespace);
    // The stored array is ours alone (get() copies), so append in place.
    if (list === undefined) cell.set(this.namespace, [value]);
    else list.push(value);
  }

  addAll(values: readonly T[]): void {
    if (values.length === 0) return;
    const cell = this.cell;
    const list = cell.getForUpdate(this.namespace);
    if (list === undefined) cell.set(this.namespace, values.slice());
    else for (const value of values) list.push(value);
  }

  update(values: readonly T[]): void {
    this.write(values.length === 0 ? undefined : values.slice());
  }

  mergeNamespaces(target: string, sources: readonly string[]): void {
    this.mergeInto(target, sources, (into, from) => {
      // A loop, not push(...from): spreading a long list overflows the call stack.
      for (const value of from) into.push(value);
      return into;
    });
  }

  override encode(list: T[]): unknown {
    return list.slice();
  }

  override decode(encoded: unknown): T[] | undefined {
    if (!Array.isArray(encoded)) throw restoreInvalid(this.name, this.kind, 'an array of elements', encoded);
    // Copied: restored entries may be the caller's arrays.
    return encoded.length === 0 ? undefined : (encoded.slice() as T[]);
  }
}

const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();

export class KeyedMapState<UK extends Key, UV>
  extends KeyedState<Map<UK, UV>>
  implements InternalMapState<UK, UV>
{
  readonly kind = 'map';

  get(key: UK): UV | undefined {
    return this.cell.get(this.namespace)?.get(key);
  }

  put(key: UK, value: UV): void {
    const cell = this.cell;
    const map = cell.getForUpdate(this.namespace);
    if (map === undefined) cell.set(this.namespace, new Map([[key, value]]));
    else map.set(key, value);
  }

  has(key: UK): boolean {
    return this.cell.get(this.namespace)?.has(key) ?? false;
  }

  remove(key: UK): void {
    const cell = this.cell;
    // For update: a LevelDB entry is then written back even if `key` was not in it (harmless).
    const map = cell.getForUpdate(this.namespace);
    if (map === undefined || !map.delete(key)) return;
    // Keep the invariant that present means non-empty: isEmpty() and keys() rely on it.
    if (map.size === 0) cell.remove(this.namespace);
  }

  entries(): IterableIterator<[UK, UV]> {
    return (this.cell.get(this.namespace) ?? EMPTY_MAP).entries();
  }

  keys(): IterableIterator<UK> {
    return (this.cell.get(this.namespace) ?? EMPTY_MAP).keys();
  }

  values(): IterableIterator<UV> {
    return (this.cell.get(this.namespace) ?? EMPTY_MAP).values();
  }

  isEmpty(): boolean {
    return this.cell.get(this.namespace) === undefined;
  }

  override encode(map: Map<UK, UV>): unknown {
    // Pairs, not a Map: every serialiser (msgpackr, structuredClone, JSON) round-trips arrays, and
    // msgpack has one map type while user keys may be numbers or bigints.
    return Array.from(map);
  }

  override decode(encoded: unknown): Map<UK, UV> | undefined {
    if (!Array.isArray(encoded))
      throw restoreInvalid(this.name, this.kind, 'an array of [key, value] pairs', encoded);
    if (encoded.length === 0) return undefined;
    const map = new Map<UK, UV>();
    for (const pair of encoded) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw restoreInvalid(this.name, this.kind, 'an array of [key, value] pairs', pair);
      }
      hashKey(pair[0]); // validates the user key's type
      map.set(pair[0] as UK, pair[1] as UV);
    }
    return map;
  }
}

export class KeyedReducingState<T> extends KeyedState<T> implements InternalReducingState<T> {
  readonly kind = 'reducing';
  readonly #reduce: (a: T, b: T) => T;

  constructor(descriptor: ReducingStateDescriptor<T>, cell: StateCell<T>) {
    super(descriptor.name, cell);
    this.#reduce = descriptor.reduce;
  }

  get(): T | undefined {
    return this.cell.get(this.namespace);
  }

  add(value: T): boolean {
    const current = this.cell.get(this.namespace);
    this.write(current === undefined ? value : this.#reduce(current, value));
    return current === undefined;
  }

  mergeNamespaces(target: string, sources: readonly string[]): void {
    this.mergeInto(target, sources, this.#reduce);
  }
}

export class KeyedAggregatingState<IN, ACC, OUT>
  extends KeyedState<ACC>
  implements InternalAggregatingState<IN, ACC, OUT>
{
  readonly kind = 'aggregating';
  readonly #agg: AggregateFunction<IN, ACC, OUT>;

  constructor(descriptor: AggregatingStateDescriptor<IN, ACC, OUT>, cell: StateCell<ACC>) {
    super(descriptor.name, cell);
    this.#agg = descriptor.aggregateFunction;
  }

  get(): OUT | undefined {
    const acc = this.cell.get(this.namespace);
    return acc === undefined ? undefined : this.#agg.getResult(acc);
  }

  getAccumulator(): ACC | undefined {
    return this.cell.get(this.namespace);
  }

  add(value: IN): boolean {
    const acc = this.cell.get(this.namespace);
    // write(), not getForUpdate(): add() may return a new accumulator or mutate and return `acc`.
    this.write(this.#agg.add(value, acc === undefined ? this.#agg.createAccumulator() : acc));
    return acc === undefined;
  }

  mergeNamespaces(target: string, sources: readonly string[]): void {
    const agg = this.#agg;
    // Checked up front, not only when two accumulators meet: a job without `merge` must fail on
    // its first merge, not on the first one that happens to find data in two windows.
    if (agg.merge === undefined) {
      throw new StateError(
        'SLUICE_STATE_NO_MERGE',
        `aggregating state '${this.name}' cannot merge namespaces: its AggregateFunction has no merge(a, b) method, ` +
          'which merging windows (session windows) need; add one that combines two accumulators',
      );
    }
    this.mergeInto(target, sources, (into, from) => agg.merge!(into, from));
  }
}

/** Any state object; what a backend's registry holds. */
export type AnyKeyedState = KeyedState<unknown> & { readonly kind: StateKind };

/** The state object for a descriptor, over `cell` (one cell holds one state's values). */
export function createKeyedState(descriptor: StateDescriptor, cell: StateCell<unknown>): AnyKeyedState {
  // The casts only re-type the cell's values.
  switch (descriptor.kind) {
    case 'value':
      return new KeyedValueState(descriptor, cell) as AnyKeyedState;
    case 'list':
      return new KeyedListState(descriptor.name, cell as StateCell<unknown[]>) as AnyKeyedState;
    case 'map':
      return new KeyedMapState(descriptor.name, cell as StateCell<Map<Key, unknown>>) as AnyKeyedState;
    case 'reducing':
      return new KeyedReducingState(descriptor, cell) as AnyKeyedState;
    case 'aggregating':
      return new KeyedAggregatingState(descriptor, cell) as AnyKeyedState;
  }
}
