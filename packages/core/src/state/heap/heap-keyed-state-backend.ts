/**
 * The in-memory keyed state backend (Flink's `HeapKeyedStateBackend` over `HashMapStateBackend`).
 *
 * One backend per keyed operator subtask. It owns the states of the key groups in its
 * {@link KeyGroupRange}; the runtime sets the current key before each record or timer, and every
 * state object obtained from {@link HeapKeyedStateBackend.getState} then reads and writes that
 * key's state.
 *
 * Snapshots are synchronous and shallow: {@link HeapKeyedStateBackend.snapshotKeyGroup} copies the
 * containers (lists, maps) but not the user's objects inside them, so the caller must serialise
 * the entries before the next record is processed (the task thread does both, in order).
 *
 * @example
 * const backend = new HeapKeyedStateBackend({ maxParallelism: 128, keyGroupRange: new KeyGroupRange(0, 127) });
 * const count = backend.getState(valueState<number>('count', { defaultValue: 0 }));
 * backend.setCurrentKey('page-1');
 * count.update(count.value()! + 1);
 */

import type { KeyGroupSnapshotEntry } from '../backend/keyed-state-backend.ts';
import type {
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  StateDescriptor,
  ValueStateDescriptor,
} from '../descriptors.ts';
import { describeKey, StateArgumentError, StateError } from '../errors.ts';
import { assignToKeyGroup, hashKey, type Key, KeyGroupRange, validateMaxParallelism } from '../key-groups.ts';
import type {
  InternalAggregatingState,
  InternalKvState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from '../state.ts';
import { type AnyHeapState, createHeapState } from './heap-states.ts';
import { KeyContext, StateTable } from './state-table.ts';

export interface HeapKeyedStateBackendOptions {
  /** Number of key groups of the job; fixed for the life of its state. */
  maxParallelism: number;
  /** The key groups this backend owns; within `[0, maxParallelism - 1]`. */
  keyGroupRange: KeyGroupRange;
}

const STATE_KINDS: ReadonlySet<string> = new Set(['value', 'list', 'map', 'reducing', 'aggregating']);

export class HeapKeyedStateBackend {
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;

  readonly #ctx = new KeyContext();
  // Copies of the range bounds: setCurrentKey reads them once per record.
  readonly #start: number;
  readonly #end: number;
  /** Registered states, by name. */
  readonly #states = new Map<string, AnyHeapState>();
  /**
   * Restored states not registered yet (Flink restores before `open()`), by name. Kept in
   * snapshot form until `getState` adopts them, and snapshotted as they are meanwhile, so state
   * an operator no longer reads still survives the next checkpoint.
   */
  readonly #restored = new Map<string, StateTable<unknown>>();

  constructor(options: HeapKeyedStateBackendOptions) {
    if (options === null || typeof options !== 'object') {
      throw new StateArgumentError('options', 'must be an object { maxParallelism, keyGroupRange }');
    }
    const { maxParallelism, keyGroupRange } = options;
    validateMaxParallelism(maxParallelism, 'options.maxParallelism');
    if (!(keyGroupRange instanceof KeyGroupRange)) {
      throw new StateArgumentError('options.keyGroupRange', 'must be a KeyGroupRange');
    }
    if (keyGroupRange.size > 0 && keyGroupRange.end >= maxParallelism) {
      throw new StateArgumentError(
        'options.keyGroupRange',
        `must lie within [0, maxParallelism - 1 = ${maxParallelism - 1}], got ${keyGroupRange}`,
      );
    }
    this.maxParallelism = maxParallelism;
    this.keyGroupRange = keyGroupRange;
    this.#start = keyGroupRange.start;
    this.#end = keyGroupRange.end;
  }

  /** Number of key groups this backend owns. */
  get numKeyGroups(): number {
    return this.keyGroupRange.size;
  }

  /**
   * Makes `key` the key every state object reads and writes. Hot path: once per record.
   *
   * @param keyGroup the key's key group, if the caller already computed it (the partitioner
   *   did); trusted, not re-hashed. Computed from `key` when absent.
   * @throws {StateError} `SLUICE_KEY_GROUP_OUT_OF_RANGE` (an assertion: records were routed to the
   *   wrong subtask) if the key group is not in this backend's range.
   */
  setCurrentKey(key: Key, keyGroup?: number): void {
    const kg = keyGroup === undefined ? assignToKeyGroup(key, this.maxParallelism) : keyGroup;
    // Written so that NaN and fractions fail too.
    if (!(kg >= this.#start && kg <= this.#end) || (kg | 0) !== kg) {
      throw this.#keyGroupOutOfRange(key, kg);
    }
    const ctx = this.#ctx;
    ctx.key = key;
    ctx.keyGroup = kg;
    ctx.index = kg - this.#start;
  }

  /** The current key. @throws {StateError} `SLUICE_STATE_NO_CURRENT_KEY` before the first `setCurrentKey`. */
  get currentKey(): Key {
    if (this.#ctx.index < 0) throw this.#noCurrentKey();
    return this.#ctx.key;
  }

  /** The current key's key group. @throws {StateError} `SLUICE_STATE_NO_CURRENT_KEY` before the first `setCurrentKey`. */
  get currentKeyGroup(): number {
    if (this.#ctx.index < 0) throw this.#noCurrentKey();
    return this.#ctx.keyGroup;
  }

  /**
   * The state object for a descriptor, created on first use. The same name returns the same
   * object (the first registration's functions — `reduce`, `AggregateFunction` — stay in force).
   *
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
  getState(descriptor: StateDescriptor): InternalKvState {
    if (
      descriptor === null ||
      typeof descriptor !== 'object' ||
      typeof descriptor.name !== 'string' ||
      !STATE_KINDS.has(descriptor.kind)
    ) {
      throw new StateArgumentError(
        'descriptor',
        'must be a state descriptor made by valueState, listState, mapState, reducingState or aggregatingState',
      );
    }
    const existing = this.#states.get(descriptor.name);
    if (existing !== undefined) {
      if (existing.kind !== descriptor.kind) {
        throw new StateError(
          'SLUICE_STATE_KIND_MISMATCH',
          `state '${descriptor.name}' is already registered as ${existing.kind} state and cannot be used as ` +
            `${descriptor.kind} state; give each state of an operator its own name`,
        );
      }
      return existing as unknown as InternalKvState;
    }
    const table = new StateTable<unknown>(this.numKeyGroups);
    const state = createHeapState(descriptor, this.#ctx, table);
    const restored = this.#restored.get(descriptor.name);
    if (restored !== undefined) {
      restored.forEach((index, key, namespace, encoded) => {
        const value = state.decode(encoded);
        if (value !== undefined) table.set(index, key, namespace, value);
      });
      this.#restored.delete(descriptor.name);
    }
    this.#states.set(descriptor.name, state);
    return state as unknown as InternalKvState;
  }

  /**
   * Keys that have state `stateName` in `namespace` (default: the default namespace), over all
   * key groups of this backend; empty for an unknown state. Lazy: adding keys while iterating
   * may or may not show them, as with a `Map`.
   */
  keys(stateName: string, namespace = ''): Iterable<Key> {
    const table = this.#states.get(stateName)?.table ?? this.#restored.get(stateName);
    return table === undefined ? [] : table.keys(namespace);
  }

  /** Number of (key, namespace) entries of one state, or of all states. O(keys): tests and metrics. */
  numStateEntries(stateName?: string): number {
    if (stateName !== undefined) {
      return (this.#states.get(stateName)?.table ?? this.#restored.get(stateName))?.size() ?? 0;
    }
    let n = 0;
    for (const state of this.#states.values()) n += state.table.size();
    for (const table of this.#restored.values()) n += table.size();
    return n;
  }

  /**
   * Every entry of every state in key group `keyGroup`, as plain data: list values are arrays,
   * map values arrays of `[key, value]` pairs. Containers are copied, user objects are not (see
   * the class comment). Includes restored states not registered yet.
   */
  snapshotKeyGroup(keyGroup: number): KeyGroupSnapshotEntry[] {
    const index = this.#indexOfKeyGroup(keyGroup, 'snapshotKeyGroup');
    const out: KeyGroupSnapshotEntry[] = [];
    for (const [name, state] of this.#states) state.table.snapshot(index, name, (v) => state.encode(v), out);
    for (const [name, table] of this.#restored) table.snapshot(index, name, identity, out);
    return out;
  }

  /**
   * Loads entries produced by {@link snapshotKeyGroup} (possibly by another backend with another
   * range) into key group `keyGroup`, overwriting entries with the same state, key and namespace.
   *
   * @throws {StateError} `SLUICE_STATE_RESTORE_INVALID` if an entry is malformed or its key does
   *   not belong to `keyGroup` (a corrupt checkpoint or a changed `maxParallelism`).
   */
  restoreKeyGroup(keyGroup: number, entries: Iterable<readonly [string, Key, string, unknown]>): void {
    const index = this.#indexOfKeyGroup(keyGroup, 'restoreKeyGroup');
    for (const entry of entries) {
      if (!Array.isArray(entry) || entry.length !== 4) {
        throw restoreInvalid(`entry is not a [stateName, key, namespace, value] tuple`);
      }
      const [name, key, namespace, encoded] = entry;
      if (typeof name !== 'string' || name.length === 0 || typeof namespace !== 'string') {
        throw restoreInvalid(`entry for key ${describeKey(key)} has no valid state name and namespace`);
      }
      const kg = (hashKey(key) >>> 0) % this.maxParallelism;
      if (kg !== keyGroup) {
        throw restoreInvalid(
          `key ${describeKey(key)} of state '${name}' belongs to key group ${kg}, not ${keyGroup}, ` +
            `with maxParallelism ${this.maxParallelism}; was the checkpoint taken with another maxParallelism?`,
        );
      }
      if (encoded === undefined) continue;
      const state = this.#states.get(name);
      if (state !== undefined) {
        const value = state.decode(encoded);
        if (value === undefined) state.table.delete(index, key, namespace);
        else state.table.set(index, key, namespace, value);
        continue;
      }
      let table = this.#restored.get(name);
      if (table === undefined) {
        table = new StateTable<unknown>(this.numKeyGroups);
        this.#restored.set(name, table);
      }
      table.set(index, key, namespace, encoded);
    }
  }

  #indexOfKeyGroup(keyGroup: number, method: string): number {
    if (!Number.isInteger(keyGroup) || !this.keyGroupRange.contains(keyGroup)) {
      throw new StateError(
        'SLUICE_KEY_GROUP_OUT_OF_RANGE',
        `assertion failed: ${method}(${keyGroup}) is outside this backend's key group range ${this.keyGroupRange}`,
      );
    }
    return keyGroup - this.#start;
  }

  #keyGroupOutOfRange(key: Key, keyGroup: number): StateError {
    return new StateError(
      'SLUICE_KEY_GROUP_OUT_OF_RANGE',
      `assertion failed: key ${describeKey(key)} is in key group ${keyGroup}, outside this backend's key group ` +
        `range ${this.keyGroupRange} (maxParallelism ${this.maxParallelism}); the record was routed to the wrong ` +
        'subtask, or the partitioner and the backend disagree on maxParallelism',
    );
  }

  #noCurrentKey(): StateError {
    return new StateError(
      'SLUICE_STATE_NO_CURRENT_KEY',
      'no current key: setCurrentKey() has not been called on this backend',
    );
  }
}

function identity(value: unknown): unknown {
  return value;
}

function restoreInvalid(message: string): StateError {
  return new StateError('SLUICE_STATE_RESTORE_INVALID', `cannot restore keyed state: ${message}`);
}
