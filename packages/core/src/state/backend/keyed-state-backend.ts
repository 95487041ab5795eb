/**
 * What every keyed state backend offers the runtime (Flink's `KeyedStateBackend`): the heap
 * backend (`HeapKeyedStateBackend`, state in memory) and the LevelDB backend
 * (`LevelDbKeyedStateBackend`, state larger than memory behind a write-back cache) both satisfy it.
 *
 * State access is synchronous in both. The differences a runtime must respect:
 *
 * - **Prefetch.** A backend with {@link KeyedStateBackend.prefetch} keeps only some keys in memory:
 *   before handing a batch of records or timers to the operator, call it with the batch's keys and
 *   await the promise if it returns one (it returns `undefined`, allocating nothing, when every key
 *   is already in memory). Between batches, call {@link KeyedStateBackend.evict} and await it.
 *   Using state of a key that was not prefetched throws `SLUICE_STATE_NOT_PREFETCHED`.
 * - **Snapshot and restore** may be asynchronous: always `await` their results (awaiting the heap
 *   backend's plain return values costs one microtask per key group).
 * - **`keys()`** lists the keys in memory. That is every key for the heap backend, only the cached
 *   ones for a spilling backend, which offers {@link KeyedStateBackend.keysAsync} for all of them.
 * - **Lifecycle.** A backend with `open`/`close` must be opened before use and closed after; one
 *   with `destroy` is disposed of with it instead of `close` when its storage is not to be kept.
 *
 * @example
 * const p = backend.prefetch?.(batch.map((r) => [r.key, r.keyGroup] as const));
 * if (p !== undefined) await p;
 * for (const r of batch) { backend.setCurrentKey(r.key, r.keyGroup); operator.processElement(r); }
 * const w = backend.evict?.();
 * if (w !== undefined) await w;
 */

import type {
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  StateDescriptor,
  ValueStateDescriptor,
} from '../descriptors.ts';
import type { Key, KeyGroupRange } from '../key-groups.ts';
import type {
  InternalAggregatingState,
  InternalKvState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from '../state.ts';

/**
 * One entry of a key group snapshot, the same for every backend (a checkpoint taken with one
 * restores into another): `value` is plain data, lists as arrays and maps as `[key, value]` pairs.
 */
export type KeyGroupSnapshotEntry = [stateName: string, key: Key, namespace: string, value: unknown];

/** A keyed state backend; see the module comment for how the runtime drives one. */
export interface KeyedStateBackend {
  /** Number of key groups of the job; fixed for the life of its state. */
  readonly maxParallelism: number;
  /** The key groups this backend owns. */
  readonly keyGroupRange: KeyGroupRange;

  /**
   * Makes `key` the key every state object reads and writes. Hot path: once per record.
   * @param keyGroup the key's key group if already computed (trusted); else computed from `key`.
   * @throws {StateError} `SLUICE_KEY_GROUP_OUT_OF_RANGE` if the key group is not in the range.
   */
  setCurrentKey(key: Key, keyGroup?: number): void;
  /** @throws {StateError} `SLUICE_STATE_NO_CURRENT_KEY` before the first `setCurrentKey`. */
  readonly currentKey: Key;
  /** @throws {StateError} `SLUICE_STATE_NO_CURRENT_KEY` before the first `setCurrentKey`. */
  readonly currentKeyGroup: number;

  /**
   * The state object for a descriptor, created on first use; the same name returns the same object.
   * @throws {StateError} `SLUICE_STATE_KIND_MISMATCH` if the name is registered with another kind.
   */
  getState<T>(descriptor: ValueStateDescriptor<T>): InternalValueState<T>;
  getState<T>(descriptor: ListStateDescriptor<T>): InternalListState<T>;
  getState<UK extends Key, UV>(descriptor: MapStateDescriptor<UK, UV>): InternalMapState<UK, UV>;
  getState<T>(descriptor: ReducingStateDescriptor<T>): InternalReducingState<T>;
  getState<IN, ACC, OUT>(
    descriptor: AggregatingStateDescriptor<IN, ACC, OUT>,
  ): InternalAggregatingState<IN, ACC, OUT>;
  getState(descriptor: StateDescriptor): InternalKvState;

  /** Keys in memory with state `stateName` in `namespace` (default `''`); see the module comment. */
  keys(stateName: string, namespace?: string): Iterable<Key>;
  /** Every key with state `stateName` in `namespace`, in memory or not (spilling backends). */
  keysAsync?(stateName: string, namespace?: string): Promise<Key[]>;

  /** Every entry of key group `keyGroup`, as backend-neutral plain data. Await the result. */
  snapshotKeyGroup(keyGroup: number): KeyGroupSnapshotEntry[] | Promise<KeyGroupSnapshotEntry[]>;
  /** Loads entries of {@link snapshotKeyGroup} (from any backend) into key group `keyGroup`. Await it. */
  restoreKeyGroup(
    keyGroup: number,
    entries: Iterable<readonly [string, Key, string, unknown]>,
  ): void | Promise<void>;

  /** Loads the state of these keys into memory; `undefined` when all of them already are. */
  prefetch?(keys: Iterable<readonly [key: Key, keyGroup: number]>): Promise<void> | undefined;
  /** Writes back and drops least recently used keys while over budget; `undefined` if nothing to wait for. */
  evict?(): Promise<void> | undefined;

  open?(): Promise<void>;
  close?(): Promise<void>;
  /** Closes without writing back and removes the backend's working storage (its directory). */
  destroy?(): Promise<void>;
}
