/**
 * The heap backend's state objects: one per registered descriptor, reading and writing the
 * current key of a shared {@link KeyContext} and their own namespace. Internal to `state/`.
 *
 * Hot path (`value()`/`update()`/`add()` on the default namespace): one field check, one array
 * load, one Map lookup; no allocation except what the stored value itself needs.
 */

import type {
  AggregateFunction,
  AggregatingStateDescriptor,
  ReducingStateDescriptor,
  StateDescriptor,
  StateKind,
  ValueStateDescriptor,
} from '../descriptors.ts';
import { StateError } from '../errors.ts';
import { hashKey, type Key } from '../key-groups.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from '../state.ts';
import type { KeyContext, StateTable } from './state-table.ts';

function noCurrentKey(stateName: string): StateError {
  return new StateError(
    'SLUICE_STATE_NO_CURRENT_KEY',
    `state '${stateName}' was used before a current key was set; keyed state is only available ` +
      'while processing a keyed record or timer (after keyBy)',
  );
}

function restoreInvalid(stateName: string, kind: StateKind, expected: string, got: unknown): StateError {
  return new StateError(
    'SLUICE_STATE_RESTORE_INVALID',
    `cannot restore ${kind} state '${stateName}': expected ${expected}, got ${Array.isArray(got) ? 'array' : typeof got}; ` +
      'was this state registered with another kind when the checkpoint was taken?',
  );
}

/**
 * Base of every heap state: storage, namespace, and the (de)serialised snapshot form of values.
 * `V` is what the table stores for this kind (the value, a list array, a Map, an accumulator).
 */
export abstract class HeapState<V> {
  abstract readonly kind: StateKind;
  namespace = '';

  readonly name: string;
  protected readonly ctx: KeyContext;
  readonly table: StateTable<V>;

  constructor(name: string, ctx: KeyContext, table: StateTable<V>) {
    this.name = name;
    this.ctx = ctx;
    this.table = table;
  }

  setNamespace(namespace: string): void {
    this.namespace = namespace;
  }

  /** The form a value takes in a snapshot: plain arrays and primitives, safe to serialise. */
  encode(value: V): unknown {
    return value;
  }

  /** The inverse of {@link encode}; `undefined` for an empty value (not stored). */
  decode(encoded: unknown): V | undefined {
    return encoded as V;
  }

  /** Current key group index; throws if no key was set (an index of -1 would read nothing). */
  protected index(): number {
    const index = this.ctx.index;
    if (index < 0) throw noCurrentKey(this.name);
    return index;
  }

  protected read(): V | undefined {
    return this.table.get(this.index(), this.ctx.key, this.namespace);
  }

  /** Writes `value`; `undefined` removes the entry, so the table never stores `undefined`. */
  protected write(value: V | undefined): void {
    const index = this.index();
    if (value === undefined) this.table.delete(index, this.ctx.key, this.namespace);
    else this.table.set(index, this.ctx.key, this.namespace, value);
  }

  clear(): void {
    this.table.delete(this.index(), this.ctx.key, this.namespace);
  }

  /**
   * Shared shape of every `mergeNamespaces`: takes out each source (skipping `target`), folds it
   * into the target's value with `combine`, writes the result to `target`.
   */
  protected mergeInto(target: string, sources: readonly string[], combine: (into: V, from: V) => V): void {
    const index = this.index();
    const key = this.ctx.key;
    let merged = this.table.get(index, key, target);
    for (const source of sources) {
      if (source === target) continue;
      const value = this.table.delete(index, key, source);
      if (value === undefined) continue;
      merged = merged === undefined ? value : combine(merged, value);
    }
    if (merged === undefined) this.table.delete(index, key, target);
    else this.table.set(index, key, target, merged);
  }
}

export class HeapValueState<T> extends HeapState<T> implements InternalValueState<T> {
  readonly kind = 'value';
  readonly #defaultValue: T | undefined;

  constructor(descriptor: ValueStateDescriptor<T>, ctx: KeyContext, table: StateTable<T>) {
    super(descriptor.name, ctx, table);
    this.#defaultValue = descriptor.defaultValue;
  }

  value(): T | undefined {
    const value = this.read();
    return value === undefined ? this.#defaultValue : value;
  }

  update(value: T): void {
    this.write(value);
  }
}

export class HeapListState<T> extends HeapState<T[]> implements InternalListState<T> {
  readonly kind = 'list';

  get(): T[] {
    const list = this.read();
    return list === undefined ? [] : list.slice();
  }

  add(value: T): void {
    const list = this.read();
    // The stored array is ours alone (get() copies), so append in place.
    if (list === undefined) this.write([value]);
    else list.push(value);
  }

  addAll(values: readonly T[]): void {
    if (values.length === 0) return;
    const list = this.read();
    if (list === undefined) this.write(values.slice());
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
    return encoded.length === 0 ? undefined : (encoded.slice() as T[]);
  }
}

const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();

export class HeapMapState<UK extends Key, UV>
  extends HeapState<Map<UK, UV>>
  implements InternalMapState<UK, UV>
{
  readonly kind = 'map';

  get(key: UK): UV | undefined {
    return this.read()?.get(key);
  }

  put(key: UK, value: UV): void {
    const map = this.read();
    if (map === undefined) this.write(new Map([[key, value]]));
    else map.set(key, value);
  }

  has(key: UK): boolean {
    return this.read()?.has(key) ?? false;
  }

  remove(key: UK): void {
    const map = this.read();
    if (map === undefined || !map.delete(key)) return;
    // Keep the invariant that present means non-empty: isEmpty() and keys() rely on it.
    if (map.size === 0) this.clear();
  }

  entries(): IterableIterator<[UK, UV]> {
    return (this.read() ?? EMPTY_MAP).entries();
  }

  keys(): IterableIterator<UK> {
    return (this.read() ?? EMPTY_MAP).keys();
  }

  values(): IterableIterator<UV> {
    return (this.read() ?? EMPTY_MAP).values();
  }

  isEmpty(): boolean {
    return this.read() === undefined;
  }

  override encode(map: Map<UK, UV>): unknown {
    // Pairs, not a Map: every serialiser (msgpackr, structuredClone, JSON) round-trips arrays.
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

export class HeapReducingState<T> extends HeapState<T> implements InternalReducingState<T> {
  readonly kind = 'reducing';
  readonly #reduce: (a: T, b: T) => T;

  constructor(descriptor: ReducingStateDescriptor<T>, ctx: KeyContext, table: StateTable<T>) {
    super(descriptor.name, ctx, table);
    this.#reduce = descriptor.reduce;
  }

  get(): T | undefined {
    return this.read();
  }

  add(value: T): boolean {
    const current = this.read();
    this.write(current === undefined ? value : this.#reduce(current, value));
    return current === undefined;
  }

  mergeNamespaces(target: string, sources: readonly string[]): void {
    this.mergeInto(target, sources, this.#reduce);
  }
}

export class HeapAggregatingState<IN, ACC, OUT>
  extends HeapState<ACC>
  implements InternalAggregatingState<IN, ACC, OUT>
{
  readonly kind = 'aggregating';
  readonly #agg: AggregateFunction<IN, ACC, OUT>;

  constructor(descriptor: AggregatingStateDescriptor<IN, ACC, OUT>, ctx: KeyContext, table: StateTable<ACC>) {
    super(descriptor.name, ctx, table);
    this.#agg = descriptor.aggregateFunction;
  }

  get(): OUT | undefined {
    const acc = this.read();
    return acc === undefined ? undefined : this.#agg.getResult(acc);
  }

  getAccumulator(): ACC | undefined {
    return this.read();
  }

  add(value: IN): boolean {
    const acc = this.read();
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

/** Any heap state; what the backend's registry holds. */
export type AnyHeapState = HeapState<unknown> & { readonly kind: StateKind };

/** Creates the state object for a descriptor over `table`. */
export function createHeapState(
  descriptor: StateDescriptor,
  ctx: KeyContext,
  table: StateTable<unknown>,
): AnyHeapState {
  // The casts only re-type the table's values: one table holds one state's values.
  switch (descriptor.kind) {
    case 'value':
      return new HeapValueState(descriptor, ctx, table) as AnyHeapState;
    case 'list':
      return new HeapListState(descriptor.name, ctx, table as StateTable<unknown[]>) as AnyHeapState;
    case 'map':
      return new HeapMapState(descriptor.name, ctx, table as StateTable<Map<Key, unknown>>) as AnyHeapState;
    case 'reducing':
      return new HeapReducingState(descriptor, ctx, table) as AnyHeapState;
    case 'aggregating':
      return new HeapAggregatingState(descriptor, ctx, table) as AnyHeapState;
  }
}
