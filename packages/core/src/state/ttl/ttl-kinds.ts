/**
 * The five kinds of keyed state with a time-to-live (Flink's `TtlValueState`, `TtlListState`, ...
 * over `TtlValue`), written once for both backends over the same {@link StateCell}s as the plain
 * kinds (`kinds.ts`). Internal to `state/`.
 *
 * What a cell stores is the value wrapped with the processing time it was last written (or read,
 * with `onReadAndWrite`): a {@link TtlValue} per value for value, reducing and aggregating state,
 * per element for list state, per entry for map state. So a state without TTL pays nothing: it is
 * another class, and the backend picks it once, when the state is registered.
 *
 * Snapshot form (the same for both backends, so a checkpoint restores into either): a value as
 * `[value, timestampMs]`, a list as `[[element, timestampMs], ...]`, a map as
 * `[[key, value, timestampMs], ...]`. Timestamps survive a restore: what expired while the job
 * was stopped is expired after it resumes.
 */

import type {
  AggregateFunction,
  AggregatingStateDescriptor,
  ReducingStateDescriptor,
  StateDescriptor,
  ValueStateDescriptor,
} from '../descriptors.ts';
import { StateError } from '../errors.ts';
import { hashKey, type Key } from '../key-groups.ts';
import { KeyedState, restoreInvalid, type StateCell, type StateEntryCursor } from '../kinds.ts';
import type {
  InternalAggregatingState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from '../state.ts';
import type { ResolvedTtlConfig } from './ttl-config.ts';

/** Processing time in ms, as the backend reads it (the runtime's injected clock). */
export type TtlClock = () => number;

/** A user value and the processing time it was last written (or read, with `onReadAndWrite`). */
export class TtlValue<T> {
  value: T;
  timestampMs: number;

  constructor(value: T, timestampMs: number) {
    this.value = value;
    this.timestampMs = timestampMs;
  }
}

/** What a backend hands a TTL state: its clock and a cursor over the state's entries. */
export interface TtlServices {
  readonly clock: TtlClock;
  readonly cursor: StateEntryCursor<unknown>;
}

/** The interface the backend's per-batch cleanup uses. */
export interface TtlCleanupTarget {
  /** Runs one per-batch step of background cleanup (`entriesPerBatch` entries), if configured. */
  cleanUpAfterBatch(): void;
}

function isTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * What every TTL kind shares: the config, the clock, the expiry rule, cleanup on access and in
 * the background, and snapshot pruning. `V` is what the cell stores for the kind.
 */
abstract class TtlState<V> extends KeyedState<V> implements TtlCleanupTarget {
  protected readonly ttlMs: number;
  protected readonly updateOnRead: boolean;
  protected readonly returnExpired: boolean;
  protected readonly clock: TtlClock;
  readonly #cleanupInSnapshots: boolean;
  readonly #entriesPerAccess: number;
  readonly #entriesPerBatch: number;
  readonly #cursor: StateEntryCursor<V>;
  /** The time of the running cleanup step, read by {@link #prune} (bound once, not per step). */
  #stepNowMs = 0;
  readonly #prune = (value: V): V | undefined => this.pruneStored(value, this.#stepNowMs);

  constructor(name: string, cell: StateCell<V>, ttl: ResolvedTtlConfig, services: TtlServices) {
    super(name, cell);
    this.ttlMs = ttl.ttlMs;
    this.updateOnRead = ttl.updateType === 'onReadAndWrite';
    this.returnExpired = ttl.visibility === 'returnExpiredIfNotCleanedUp';
    this.#cleanupInSnapshots = ttl.cleanupInSnapshots;
    this.#entriesPerAccess = ttl.entriesPerAccess;
    this.#entriesPerBatch = ttl.entriesPerBatch;
    this.clock = services.clock;
    this.#cursor = services.cursor as StateEntryCursor<V>;
  }

  /** Flink's rule: a value is expired from `timestamp + ttl` on. */
  protected expired(timestampMs: number, nowMs: number): boolean {
    return timestampMs + this.ttlMs <= nowMs;
  }

  /** The stored value with its expired parts removed: the same object if none, `undefined` if all. */
  protected abstract pruneStored(value: V, nowMs: number): V | undefined;

  /** The snapshot form with its expired parts removed: `undefined` if all (see {@link pruneEncoded}). */
  protected abstract pruneEncodedForm(encoded: unknown, nowMs: number): unknown;

  override pruneEncoded(encoded: unknown, nowMs: number): unknown {
    return this.#cleanupInSnapshots ? this.pruneEncodedForm(encoded, nowMs) : encoded;
  }

  /** After every access: a bounded step of background cleanup over other entries of this state. */
  protected afterAccess(): void {
    if (this.#entriesPerAccess > 0) this.#step(this.#entriesPerAccess);
  }

  cleanUpAfterBatch(): void {
    if (this.#entriesPerBatch > 0) this.#step(this.#entriesPerBatch);
  }

  #step(count: number): void {
    this.#stepNowMs = this.clock();
    this.#cursor.step(count, this.#prune);
  }
}

/** Value, reducing and aggregating state: one {@link TtlValue} per key and namespace. */
abstract class TtlSingleValueState<T> extends TtlState<TtlValue<T>> {
  /**
   * The current namespace's value, checked: an expired one is removed and returned only with
   * `returnExpiredIfNotCleanedUp`; a live one gets `nowMs` as its timestamp with `onReadAndWrite`.
   */
  protected read(nowMs: number): TtlValue<T> | undefined {
    const cell = this.cell;
    const stored = cell.get(this.namespace);
    if (stored === undefined) return undefined;
    if (this.expired(stored.timestampMs, nowMs)) {
      cell.remove(this.namespace);
      return this.returnExpired ? stored : undefined;
    }
    if (this.updateOnRead && stored.timestampMs !== nowMs) {
      cell.getForUpdate(this.namespace); // the LevelDB cell marks it for write-back
      stored.timestampMs = nowMs;
    }
    return stored;
  }

  /** The current namespace's live value, for a write that combines with it; expired counts as none. */
  protected readLive(nowMs: number): TtlValue<T> | undefined {
    const stored = this.cell.get(this.namespace);
    if (stored === undefined || !this.expired(stored.timestampMs, nowMs)) return stored;
    this.cell.remove(this.namespace);
    return undefined;
  }

  /**
   * Folds the live values of `sources` into `target` (Flink's `TtlMergingState`): expired ones are
   * dropped, and a merged value is written with the current time.
   */
  protected mergeLive(target: string, sources: readonly string[], combine: (into: T, from: T) => T): void {
    const cell = this.cell;
    const nowMs = this.clock();
    const targetValue = cell.get(target);
    let merged: T | undefined;
    let has = false;
    if (targetValue !== undefined) {
      if (this.expired(targetValue.timestampMs, nowMs)) cell.remove(target);
      else {
        merged = targetValue.value;
        has = true;
      }
    }
    let changed = false;
    for (const source of sources) {
      if (source === target) continue;
      const value = cell.remove(source);
      if (value === undefined || this.expired(value.timestampMs, nowMs)) continue;
      merged = has ? combine(merged as T, value.value) : value.value;
      has = true;
      changed = true;
    }
    if (changed) cell.set(target, new TtlValue(merged as T, nowMs));
    this.afterAccess();
  }

  protected pruneStored(value: TtlValue<T>, nowMs: number): TtlValue<T> | undefined {
    return this.expired(value.timestampMs, nowMs) ? undefined : value;
  }

  protected pruneEncodedForm(encoded: unknown, nowMs: number): unknown {
    return Array.isArray(encoded) && isTimestamp(encoded[1]) && this.expired(encoded[1], nowMs)
      ? undefined
      : encoded;
  }

  override encode(value: TtlValue<T>): unknown {
    return [value.value, value.timestampMs];
  }

  override decode(encoded: unknown): TtlValue<T> | undefined {
    if (!Array.isArray(encoded) || encoded.length !== 2 || !isTimestamp(encoded[1])) {
      throw restoreInvalid(this.name, this.kind, 'a [value, timestampMs] pair (state with TTL)', encoded);
    }
    return new TtlValue(encoded[0] as T, encoded[1]);
  }
}

export class TtlValueState<T> extends TtlSingleValueState<T> implements InternalValueState<T> {
  readonly kind = 'value';
  readonly #defaultValue: T | undefined;

  constructor(descriptor: ValueStateDescriptor<T>, cell: StateCell<TtlValue<T>>, services: TtlServices) {
    super(descriptor.name, cell, descriptor.ttl!, services);
    this.#defaultValue = descriptor.defaultValue;
  }

  value(): T | undefined {
    const stored = this.read(this.clock());
    this.afterAccess();
    return stored === undefined ? this.#defaultValue : stored.value;
  }

  update(value: T): void {
    if (value === undefined) this.cell.remove(this.namespace);
    else this.cell.set(this.namespace, new TtlValue(value, this.clock()));
    this.afterAccess();
  }
}

export class TtlReducingState<T> extends TtlSingleValueState<T> implements InternalReducingState<T> {
  readonly kind = 'reducing';
  readonly #reduce: (a: T, b: T) => T;

  constructor(descriptor: ReducingStateDescriptor<T>, cell: StateCell<TtlValue<T>>, services: TtlServices) {
    super(descriptor.name, cell, descriptor.ttl!, services);
    this.#reduce = descriptor.reduce;
  }

  get(): T | undefined {
    const stored = this.read(this.clock());
    this.afterAccess();
    return stored?.value;
  }

  add(value: T): boolean {
    const nowMs = this.clock();
    const current = this.readLive(nowMs);
    this.cell.set(
      this.namespace,
      new TtlValue(current === undefined ? value : this.#reduce(current.value, value), nowMs),
    );
    this.afterAccess();
    return current === undefined;
  }

  mergeNamespaces(target: string, sources: readonly string[]): void {
    this.mergeLive(target, sources, this.#reduce);
  }
}

export class TtlAggregatingState<IN, ACC, OUT>
  extends TtlSingleValueState<ACC>
  implements InternalAggregatingState<IN, ACC, OUT>
{
  readonly kind = 'aggregating';
  readonly #agg: AggregateFunction<IN, ACC, OUT>;

  constructor(
    descriptor: AggregatingStateDescriptor<IN, ACC, OUT>,
    cell: StateCell<TtlValue<ACC>>,
    services: TtlServices,
  ) {
    super(descriptor.name, cell, descriptor.ttl!, services);
    this.#agg = descriptor.aggregateFunction;
  }

  get(): OUT | undefined {
    const stored = this.read(this.clock());
    this.afterAccess();
    return stored === undefined ? undefined : this.#agg.getResult(stored.value);
  }

  getAccumulator(): ACC | undefined {
    const stored = this.read(this.clock());
    this.afterAccess();
    return stored?.value;
  }

  add(value: IN): boolean {
    const nowMs = this.clock();
    const current = this.readLive(nowMs);
    const agg = this.#agg;
    const acc = agg.add(value, current === undefined ? agg.createAccumulator() : current.value);
    this.cell.set(this.namespace, new TtlValue(acc, nowMs));
    this.afterAccess();
    return current === undefined;
  }

  mergeNamespaces(target: string, sources: readonly string[]): void {
    const agg = this.#agg;
    if (agg.merge === undefined) {
      throw new StateError(
        'SLUICE_STATE_NO_MERGE',
        `aggregating state '${this.name}' cannot merge namespaces: its AggregateFunction has no merge(a, b) method, ` +
          'which merging windows (session windows) need; add one that combines two accumulators',
      );
    }
    this.mergeLive(target, sources, (into, from) => agg.merge!(into, from));
  }
}

/** List state: each element expires on its own (Flink's `TtlListState`). */
export class TtlListState<T> extends TtlState<Array<TtlValue<T>>> implements InternalListState<T> {
  readonly kind = 'list';

  get(): T[] {
    const nowMs = this.clock();
    const cell = this.cell;
    const list = cell.get(this.namespace);
    const out: T[] = [];
    if (list !== undefined) {
      let expired = 0;
      for (const element of list) {
        if (this.expired(element.timestampMs, nowMs)) {
          expired++;
          if (this.returnExpired) out.push(element.value);
        } else out.push(element.value);
      }
      if (expired > 0) {
        const live = this.pruneStored(list, nowMs);
        if (live === undefined) cell.remove(this.namespace);
        else cell.set(this.namespace, live);
        if (this.updateOnRead && live !== undefined) for (const element of live) element.timestampMs = nowMs;
      } else if (this.updateOnRead) {
        cell.getForUpdate(this.namespace);
        for (const element of list) element.timestampMs = nowMs;
      }
    }
    this.afterAccess();
    return out;
  }

  add(value: T): void {
    const cell = this.cell;
    const element = new TtlValue(value, this.clock());
    const list = cell.getForUpdate(this.namespace);
    if (list === undefined) cell.set(this.namespace, [element]);
    else list.push(element);
    this.afterAccess();
  }

  addAll(values: readonly T[]): void {
    if (values.length === 0) return;
    const cell = this.cell;
    const nowMs = this.clock();
    const list = cell.getForUpdate(this.namespace);
    const into = list ?? [];
    for (const value of values) into.push(new TtlValue(value, nowMs));
    if (list === undefined) cell.set(this.namespace, into);
    this.afterAccess();
  }

  update(values: readonly T[]): void {
    const nowMs = this.clock();
    if (values.length === 0) this.cell.remove(this.namespace);
    else
      this.cell.set(
        this.namespace,
        values.map((value) => new TtlValue(value, nowMs)),
      );
    this.afterAccess();
  }

  mergeNamespaces(target: string, sources: readonly string[]): void {
    const cell = this.cell;
    const nowMs = this.clock();
    const stored = cell.get(target);
    const merged = stored === undefined ? [] : (this.pruneStored(stored, nowMs) ?? []);
    let changed = merged !== stored;
    for (const source of sources) {
      if (source === target) continue;
      const list = cell.remove(source);
      if (list === undefined) continue;
      // A loop, not push(...list): spreading a long list overflows the call stack.
      for (const element of list) if (!this.expired(element.timestampMs, nowMs)) merged.push(element);
      changed = true;
    }
    if (changed) {
      if (merged.length === 0) cell.remove(target);
      else cell.set(target, merged);
    }
    this.afterAccess();
  }

  protected pruneStored(list: Array<TtlValue<T>>, nowMs: number): Array<TtlValue<T>> | undefined {
    let expired = 0;
    for (const element of list) if (this.expired(element.timestampMs, nowMs)) expired++;
    if (expired === 0) return list;
    if (expired === list.length) return undefined;
    return list.filter((element) => !this.expired(element.timestampMs, nowMs));
  }

  protected pruneEncodedForm(encoded: unknown, nowMs: number): unknown {
    if (!Array.isArray(encoded)) return encoded; // malformed: restore reports it
    const live = encoded.filter(
      (element) => !(Array.isArray(element) && isTimestamp(element[1]) && this.expired(element[1], nowMs)),
    );
    return live.length === 0 ? undefined : live.length === encoded.length ? encoded : live;
  }

  override encode(list: Array<TtlValue<T>>): unknown {
    return list.map((element) => [element.value, element.timestampMs]);
  }

  override decode(encoded: unknown): Array<TtlValue<T>> | undefined {
    const expected = 'an array of [element, timestampMs] pairs (list state with TTL)';
    if (!Array.isArray(encoded)) throw restoreInvalid(this.name, this.kind, expected, encoded);
    if (encoded.length === 0) return undefined;
    return encoded.map((element: unknown) => {
      if (!Array.isArray(element) || element.length !== 2 || !isTimestamp(element[1])) {
        throw restoreInvalid(this.name, this.kind, expected, element);
      }
      return new TtlValue(element[0] as T, element[1]);
    });
  }
}

/** Map state: each entry expires on its own (Flink's `TtlMapState`). */
export class TtlMapState<UK extends Key, UV>
  extends TtlState<Map<UK, TtlValue<UV>>>
  implements InternalMapState<UK, UV>
{
  readonly kind = 'map';

  /** The entry of `key`, checked as value state reads are (see `TtlSingleValueState.read`). */
  #read(key: UK): TtlValue<UV> | undefined {
    const nowMs = this.clock();
    const cell = this.cell;
    const entry = cell.get(this.namespace)?.get(key);
    if (entry === undefined) return undefined;
    if (this.expired(entry.timestampMs, nowMs)) {
      this.#delete(key);
      return this.returnExpired ? entry : undefined;
    }
    if (this.updateOnRead && entry.timestampMs !== nowMs) {
      cell.getForUpdate(this.namespace);
      entry.timestampMs = nowMs;
    }
    return entry;
  }

  #delete(key: UK): void {
    const cell = this.cell;
    const map = cell.getForUpdate(this.namespace);
    if (map === undefined || !map.delete(key)) return;
    // Present means non-empty, as in the plain map state.
    if (map.size === 0) cell.remove(this.namespace);
  }

  /**
   * The visible entries, copied (so that cleanup cannot change what the caller iterates); removes
   * the expired ones and, if `touch` and `onReadAndWrite`, renews the live ones.
   */
  #visible(touch: boolean): Array<[UK, UV]> {
    const nowMs = this.clock();
    const cell = this.cell;
    const map = cell.get(this.namespace);
    const out: Array<[UK, UV]> = [];
    if (map === undefined) return out;
    let expired = 0;
    for (const [key, entry] of map) {
      if (this.expired(entry.timestampMs, nowMs)) {
        expired++;
        if (this.returnExpired) out.push([key, entry.value]);
      } else out.push([key, entry.value]);
    }
    const renew = touch && this.updateOnRead;
    if (expired > 0 || renew) {
      cell.getForUpdate(this.namespace);
      for (const [key, entry] of map) {
        if (this.expired(entry.timestampMs, nowMs)) map.delete(key);
        else if (renew) entry.timestampMs = nowMs;
      }
      if (map.size === 0) cell.remove(this.namespace);
    }
    return out;
  }

  get(key: UK): UV | undefined {
    const entry = this.#read(key);
    this.afterAccess();
    return entry?.value;
  }

  has(key: UK): boolean {
    const entry = this.#read(key);
    this.afterAccess();
    return entry !== undefined;
  }

  put(key: UK, value: UV): void {
    const cell = this.cell;
    const nowMs = this.clock();
    const entry = new TtlValue(value, nowMs);
    const map = cell.getForUpdate(this.namespace);
    if (map === undefined) cell.set(this.namespace, new Map([[key, entry]]));
    else {
      // An expired entry is gone whether or not cleanup got to it yet: the key comes back as a
      // new entry, last in iteration order, not in the old one's place.
      const old = map.get(key);
      if (old !== undefined && this.expired(old.timestampMs, nowMs)) map.delete(key);
      map.set(key, entry);
    }
    this.afterAccess();
  }

  remove(key: UK): void {
    this.#delete(key);
    this.afterAccess();
  }

  entries(): IterableIterator<[UK, UV]> {
    const visible = this.#visible(true);
    this.afterAccess();
    return visible.values();
  }

  keys(): IterableIterator<UK> {
    const visible = this.#visible(true);
    this.afterAccess();
    return visible.map((pair) => pair[0]).values();
  }

  values(): IterableIterator<UV> {
    const visible = this.#visible(true);
    this.afterAccess();
    return visible.map((pair) => pair[1]).values();
  }

  isEmpty(): boolean {
    const empty = this.#visible(false).length === 0;
    this.afterAccess();
    return empty;
  }

  protected pruneStored(map: Map<UK, TtlValue<UV>>, nowMs: number): Map<UK, TtlValue<UV>> | undefined {
    let expired = 0;
    for (const entry of map.values()) if (this.expired(entry.timestampMs, nowMs)) expired++;
    if (expired === 0) return map;
    if (expired === map.size) return undefined;
    const live = new Map<UK, TtlValue<UV>>();
    for (const [key, entry] of map) if (!this.expired(entry.timestampMs, nowMs)) live.set(key, entry);
    return live;
  }

  protected pruneEncodedForm(encoded: unknown, nowMs: number): unknown {
    if (!Array.isArray(encoded)) return encoded; // malformed: restore reports it
    const live = encoded.filter(
      (entry) => !(Array.isArray(entry) && isTimestamp(entry[2]) && this.expired(entry[2], nowMs)),
    );
    return live.length === 0 ? undefined : live.length === encoded.length ? encoded : live;
  }

  override encode(map: Map<UK, TtlValue<UV>>): unknown {
    return Array.from(map, ([key, entry]) => [key, entry.value, entry.timestampMs]);
  }

  override decode(encoded: unknown): Map<UK, TtlValue<UV>> | undefined {
    const expected = 'an array of [key, value, timestampMs] triples (map state with TTL)';
    if (!Array.isArray(encoded)) throw restoreInvalid(this.name, this.kind, expected, encoded);
    if (encoded.length === 0) return undefined;
    const map = new Map<UK, TtlValue<UV>>();
    for (const entry of encoded) {
      if (!Array.isArray(entry) || entry.length !== 3 || !isTimestamp(entry[2])) {
        throw restoreInvalid(this.name, this.kind, expected, entry);
      }
      hashKey(entry[0]); // validates the user key's type
      map.set(entry[0] as UK, new TtlValue(entry[1] as UV, entry[2]));
    }
    return map;
  }
}

/** A TTL state object, with what the backend needs of it besides the state interface. */
export type AnyTtlState = KeyedState<unknown> & TtlCleanupTarget;

/** The TTL state object for a descriptor that has `ttl`, over `cell`. */
export function createTtlState(
  descriptor: StateDescriptor,
  cell: StateCell<unknown>,
  services: TtlServices,
): AnyTtlState {
  // The casts only re-type the cell's values.
  switch (descriptor.kind) {
    case 'value':
      return new TtlValueState(descriptor, cell as StateCell<TtlValue<unknown>>, services) as AnyTtlState;
    case 'list':
      return new TtlListState(
        descriptor.name,
        cell as StateCell<Array<TtlValue<unknown>>>,
        descriptor.ttl!,
        services,
      ) as AnyTtlState;
    case 'map':
      return new TtlMapState(
        descriptor.name,
        cell as StateCell<Map<Key, TtlValue<unknown>>>,
        descriptor.ttl!,
        services,
      ) as AnyTtlState;
    case 'reducing':
      return new TtlReducingState(descriptor, cell as StateCell<TtlValue<unknown>>, services) as AnyTtlState;
    case 'aggregating':
      return new TtlAggregatingState(
        descriptor,
        cell as StateCell<TtlValue<unknown>>,
        services,
      ) as AnyTtlState;
  }
}
