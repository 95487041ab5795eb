/**
 * The LevelDB backend's state objects: the same semantics as the heap backend's
 * (`heap-states.ts`), over the write-back cache (`leveldb-state-cache.ts`) instead of a heap
 * table. Internal to `state/`.
 *
 * Each access fetches the current key's cached entry (one field load; it throws
 * `SLUICE_STATE_NOT_PREFETCHED` for a key that is not cached) and then reads or writes its slot.
 * Every change marks the entry dirty: through `set` for a new value, through `touched` for a
 * change in place (a list appended to, a map put into), so that write-back sees it.
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
import type { LevelDbStateCache, StateCodec } from './state-cache.ts';

function restoreInvalid(stateName: string, kind: StateKind, expected: string, got: unknown): StateError {
  return new StateError(
    'SLUICE_STATE_RESTORE_INVALID',
    `cannot restore ${kind} state '${stateName}': expected ${expected}, got ${Array.isArray(got) ? 'array' : typeof got}; ` +
      'was this state registered with another kind when the checkpoint was taken?',
  );
}

/** Base of every LevelDB-backed state; `V` is what the cache holds for this kind. */
export abstract class LevelDbState<V> implements StateCodec {
  abstract readonly kind: StateKind;
  namespace = '';

  readonly name: string;
  /** The state's id in the cache (index of its slots in every cached key). */
  readonly id: number;
  protected readonly cache: LevelDbStateCache;

  constructor(name: string, id: number, cache: LevelDbStateCache) {
    this.name = name;
    this.id = id;
    this.cache = cache;
  }

  setNamespace(namespace: string): void {
    this.namespace = namespace;
  }

  /** The snapshot form of a cached value: plain data (msgpack writes it as is). */
  encode(value: unknown): unknown {
    return value;
  }

  /** The inverse of {@link encode}; `undefined` for an empty value (not stored). */
  decode(encoded: unknown): unknown {
    return encoded;
  }

  protected read(): V | undefined {
    const cache = this.cache;
    const e = cache.current(this.name);
    // Default namespace inline: the hot path is one array load.
    return (this.namespace === '' ? e.slots[this.id << 1] : cache.get(e, this.id, this.namespace)) as
      | V
      | undefined;
  }

  /** Writes `value`; `undefined` removes the entry. */
  protected write(value: V | undefined): void {
    const cache = this.cache;
    cache.set(cache.current(this.name), this.id, this.namespace, value);
  }

  clear(): void {
    this.write(undefined);
  }

  /** Same shape as the heap's: take out each source (not `target`), fold it into the target. */
  protected mergeInto(target: string, sources: readonly string[], combine: (into: V, from: V) => V): void {
    const cache = this.cache;
    const e = cache.current(this.name);
    const id = this.id;
    let merged = cache.get(e, id, target) as V | undefined;
    for (const source of sources) {
      if (source === target) continue;
      const value = cache.get(e, id, source) as V | undefined;
      if (value === undefined) continue;
      cache.set(e, id, source, undefined);
      merged = merged === undefined ? value : combine(merged, value);
    }
    // set() marks the target dirty even when `merged` is the same (appended-to) object.
    cache.set(e, id, target, merged);
  }
}

export class LevelDbValueState<T> extends LevelDbState<T> implements InternalValueState<T> {
  readonly kind = 'value';
  readonly #defaultValue: T | undefined;

  constructor(descriptor: ValueStateDescriptor<T>, id: number, cache: LevelDbStateCache) {
    super(descriptor.name, id, cache);
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

export class LevelDbListState<T> extends LevelDbState<T[]> implements InternalListState<T> {
  readonly kind = 'list';

  get(): T[] {
    const list = this.read();
    return list === undefined ? [] : list.slice();
  }

  add(value: T): void {
    const cache = this.cache;
    const e = cache.current(this.name);
    const list = cache.get(e, this.id, this.namespace) as T[] | undefined;
    if (list === undefined) cache.set(e, this.id, this.namespace, [value]);
    else {
      // The cached array is ours alone (get() copies), so append in place.
      list.push(value);
      cache.touched(e, this.id, this.namespace);
    }
  }

  addAll(values: readonly T[]): void {
    if (values.length === 0) return;
    const cache = this.cache;
    const e = cache.current(this.name);
    const list = cache.get(e, this.id, this.namespace) as T[] | undefined;
    if (list === undefined) cache.set(e, this.id, this.namespace, values.slice());
    else {
      for (const value of values) list.push(value);
      cache.touched(e, this.id, this.namespace);
    }
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

  override decode(encoded: unknown): T[] | undefined {
    if (!Array.isArray(encoded)) throw restoreInvalid(this.name, this.kind, 'an array of elements', encoded);
    // Copied: restored entries may be the caller's arrays.
    return encoded.length === 0 ? undefined : (encoded.slice() as T[]);
  }
}

const EMPTY_MAP: ReadonlyMap<never, never> = new Map<never, never>();

export class LevelDbMapState<UK extends Key, UV>
  extends LevelDbState<Map<UK, UV>>
  implements InternalMapState<UK, UV>
{
  readonly kind = 'map';

  get(key: UK): UV | undefined {
    return this.read()?.get(key);
  }

  put(key: UK, value: UV): void {
    const cache = this.cache;
    const e = cache.current(this.name);
    const map = cache.get(e, this.id, this.namespace) as Map<UK, UV> | undefined;
    if (map === undefined) cache.set(e, this.id, this.namespace, new Map([[key, value]]));
    else {
      map.set(key, value);
      cache.touched(e, this.id, this.namespace);
    }
  }

  has(key: UK): boolean {
    return this.read()?.has(key) ?? false;
  }

  remove(key: UK): void {
    const cache = this.cache;
    const e = cache.current(this.name);
    const map = cache.get(e, this.id, this.namespace) as Map<UK, UV> | undefined;
    if (map === undefined || !map.delete(key)) return;
    // Present means non-empty, as in the heap backend.
    if (map.size === 0) cache.set(e, this.id, this.namespace, undefined);
    else cache.touched(e, this.id, this.namespace);
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

  override encode(map: unknown): unknown {
    // Pairs, not a Map: msgpack has one map type, and user keys may be numbers or bigints.
    return Array.from(map as Map<UK, UV>);
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

export class LevelDbReducingState<T> extends LevelDbState<T> implements InternalReducingState<T> {
  readonly kind = 'reducing';
  readonly #reduce: (a: T, b: T) => T;

  constructor(descriptor: ReducingStateDescriptor<T>, id: number, cache: LevelDbStateCache) {
    super(descriptor.name, id, cache);
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

export class LevelDbAggregatingState<IN, ACC, OUT>
  extends LevelDbState<ACC>
  implements InternalAggregatingState<IN, ACC, OUT>
{
  readonly kind = 'aggregating';
  readonly #agg: AggregateFunction<IN, ACC, OUT>;

  constructor(descriptor: AggregatingStateDescriptor<IN, ACC, OUT>, id: number, cache: LevelDbStateCache) {
    super(descriptor.name, id, cache);
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
    // write(), not touched(): add() may return a new accumulator or mutate and return `acc`.
    this.write(this.#agg.add(value, acc === undefined ? this.#agg.createAccumulator() : acc));
    return acc === undefined;
  }

  mergeNamespaces(target: string, sources: readonly string[]): void {
    const agg = this.#agg;
    // Checked up front, as in the heap backend: fail on the first merge, not the first one with data.
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

/** Any LevelDB state; what the backend's registry holds. */
export type AnyLevelDbState = LevelDbState<unknown> & { readonly kind: StateKind };

/** Creates the state object for a descriptor, with state id `id` in `cache`. */
export function createLevelDbState(
  descriptor: StateDescriptor,
  id: number,
  cache: LevelDbStateCache,
): AnyLevelDbState {
  switch (descriptor.kind) {
    case 'value':
      return new LevelDbValueState(descriptor, id, cache) as AnyLevelDbState;
    case 'list':
      return new LevelDbListState(descriptor.name, id, cache) as AnyLevelDbState;
    case 'map':
      return new LevelDbMapState(descriptor.name, id, cache) as AnyLevelDbState;
    case 'reducing':
      return new LevelDbReducingState(descriptor, id, cache) as AnyLevelDbState;
    case 'aggregating':
      return new LevelDbAggregatingState(descriptor, id, cache) as AnyLevelDbState;
  }
}
