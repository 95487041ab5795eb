/**
 * What every keyed state backend offers the runtime (Flink's `KeyedStateBackend`): the heap
 * backend (`HeapKeyedStateBackend`, state in memory) and the LevelDB backend
 * (`LevelDbKeyedStateBackend`, state larger than memory behind a write-back cache) both satisfy it,
 * and both extend {@link AbstractKeyedStateBackend} (Flink's `AbstractKeyedStateBackend`), which
 * owns what they share: the current key, the key group range check, the state registry and the
 * state objects themselves (`../kinds.ts`, over each backend's {@link StateCell}s).
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
import { describeKey, StateArgumentError, StateError } from '../errors.ts';
import { assignToKeyGroup, hashKey, type Key, KeyGroupRange, validateMaxParallelism } from '../key-groups.ts';
import { type AnyKeyedState, createKeyedState, type StateCell, type StateEntryCursor } from '../kinds.ts';
import type {
  InternalAggregatingState,
  InternalKvState,
  InternalListState,
  InternalMapState,
  InternalReducingState,
  InternalValueState,
} from '../state.ts';
import { type AnyTtlState, createTtlState, type TtlClock } from '../ttl/ttl-kinds.ts';

/**
 * One entry of a key group snapshot, the same for every backend (a checkpoint taken with one
 * restores into another): `value` is plain data, lists as arrays and maps as `[key, value]` pairs.
 */
export type KeyGroupSnapshotEntry = [stateName: string, key: Key, namespace: string, value: unknown];

/** What `getState` takes: any descriptor of the five kinds (descriptors are invariant in their types). */
export type AnyStateDescriptor = Pick<StateDescriptor, 'kind' | 'name'>;

/** The state object a descriptor gets: `InternalValueState<T>` for a `ValueStateDescriptor<T>`, ... */
export type InternalStateOf<D extends AnyStateDescriptor> =
  D extends ValueStateDescriptor<infer T>
    ? InternalValueState<T>
    : D extends ListStateDescriptor<infer T>
      ? InternalListState<T>
      : D extends MapStateDescriptor<infer UK extends Key, infer UV>
        ? InternalMapState<UK, UV>
        : D extends ReducingStateDescriptor<infer T>
          ? InternalReducingState<T>
          : D extends AggregatingStateDescriptor<infer IN, infer ACC, infer OUT>
            ? InternalAggregatingState<IN, ACC, OUT>
            : InternalKvState;

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
  getState<D extends AnyStateDescriptor>(descriptor: D): InternalStateOf<D>;

  /** Keys in memory with state `stateName` in `namespace` (default `''`); see the module comment. */
  keys(stateName: string, namespace?: string): Iterable<Key>;
  /**
   * The (key, namespace) entries of all states held in memory: every entry on the heap, the
   * cached ones with LevelDB. Costs O(keys) on some backends: sampled for metrics, never per record.
   */
  inMemoryStateEntries?(): number;
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

  /**
   * After each batch of records: one bounded step of background cleanup of every state with TTL
   * that asks for it (`ttl.cleanup.incremental.entriesPerBatch`). Cheap when no state has TTL.
   */
  cleanUpExpired?(): void;

  open?(): Promise<void>;
  close?(): Promise<void>;
  /** Closes without writing back and removes the backend's working storage (its directory). */
  destroy?(): Promise<void>;
}

/** The key that state objects currently read and write. Mutated by `setCurrentKey` only. */
export class KeyContext {
  key: Key = '';
  keyGroup = -1;
  /** `keyGroup - range.start`: the index into per-key-group arrays; -1 until a key is set. */
  index = -1;
}

/** What every backend is configured with. */
export interface KeyedStateBackendOptions {
  /** Number of key groups of the job; fixed for the life of its state. */
  maxParallelism: number;
  /** The key groups this backend owns; within `[0, maxParallelism - 1]`. */
  keyGroupRange: KeyGroupRange;
  /**
   * Processing time in ms, for state TTL (default `Date.now`). The runtime passes the job's
   * injected clock, so that tests move TTL with simulated time.
   */
  clock?: TtlClock;
}

const STATE_KINDS: ReadonlySet<string> = new Set(['value', 'list', 'map', 'reducing', 'aggregating']);

/**
 * What the backends share (Flink's `AbstractKeyedStateBackend`): the options every backend has,
 * the current key ({@link keyContext}, which the backend's cells read), the key group range check,
 * the registry of state objects by name with the kind check, and the checks of snapshot and
 * restore arguments. A backend adds where values live: {@link createState} makes the state object
 * of a new name over one of its {@link StateCell}s, and it implements keys, snapshot and restore.
 */
export abstract class AbstractKeyedStateBackend implements KeyedStateBackend {
  readonly maxParallelism: number;
  readonly keyGroupRange: KeyGroupRange;

  /** The current key; shared with the backend's cells, which read it on every state access. */
  protected readonly keyContext = new KeyContext();
  // Copies of the range bounds: setCurrentKey reads them once per record.
  readonly #start: number;
  readonly #end: number;
  /** Registered states, by name. */
  readonly #states = new Map<string, AnyKeyedState>();
  /** Registered states with TTL, for the per-batch cleanup; empty for most jobs. */
  readonly #ttlStates: AnyTtlState[] = [];
  /** Processing time, for TTL. */
  protected readonly clock: TtlClock;

  /** @param optionsShape how the options object looks, for the error when it is not one. */
  constructor(options: KeyedStateBackendOptions, optionsShape = '{ maxParallelism, keyGroupRange }') {
    if (options === null || typeof options !== 'object') {
      throw new StateArgumentError('options', `must be an object ${optionsShape}`);
    }
    const { maxParallelism, keyGroupRange, clock = Date.now } = options;
    if (typeof clock !== 'function') {
      throw new StateArgumentError(
        'options.clock',
        `must be a function returning processing time in ms, got ${typeof clock}`,
      );
    }
    this.clock = clock;
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
   * Makes `key` the key every state object reads and writes. Hot path: once per record; a
   * backend that keeps more per key (LevelDB: the key's cache entry) extends it.
   *
   * @param keyGroup the key's key group, if the caller already computed it (the partitioner
   *   did); trusted, not re-hashed. Computed from `key` when absent.
   * @throws {StateError} `SLUICE_KEY_GROUP_OUT_OF_RANGE` (an assertion: records were routed to the
   *   wrong subtask) if the key group is not in this backend's range.
   */
  setCurrentKey(key: Key, keyGroup?: number): void {
    const kg = keyGroup === undefined ? assignToKeyGroup(key, this.maxParallelism) : keyGroup;
    // inRange() written out: the hottest line of keyed state. NaN and fractions fail too.
    if (!(kg >= this.#start && kg <= this.#end) || (kg | 0) !== kg) throw this.keyGroupOutOfRange(key, kg);
    const ctx = this.keyContext;
    ctx.key = key;
    ctx.keyGroup = kg;
    ctx.index = kg - this.#start;
  }

  /** The current key. @throws {StateError} `SLUICE_STATE_NO_CURRENT_KEY` before the first `setCurrentKey`. */
  get currentKey(): Key {
    if (this.keyContext.keyGroup < 0) throw noCurrentKey();
    return this.keyContext.key;
  }

  /** The current key's key group. @throws {StateError} `SLUICE_STATE_NO_CURRENT_KEY` before the first `setCurrentKey`. */
  get currentKeyGroup(): number {
    if (this.keyContext.keyGroup < 0) throw noCurrentKey();
    return this.keyContext.keyGroup;
  }

  /**
   * The state object for a descriptor, created on first use. The same name returns the same
   * object (the first registration's functions — `reduce`, `AggregateFunction` — stay in force).
   *
   * @throws {StateError} `SLUICE_STATE_KIND_MISMATCH` if the name is registered with another kind;
   *   `SLUICE_STATE_RESTORE_INVALID` if a value restored before registration does not fit the kind.
   */
  getState<D extends AnyStateDescriptor>(descriptor: D): InternalStateOf<D> {
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
    let state = this.#states.get(descriptor.name);
    if (state !== undefined) {
      if (state.kind !== descriptor.kind) {
        throw new StateError(
          'SLUICE_STATE_KIND_MISMATCH',
          `state '${descriptor.name}' is already registered as ${state.kind} state and cannot be used as ` +
            `${descriptor.kind} state; give each state of an operator its own name`,
        );
      }
    } else {
      state = this.createState(descriptor as StateDescriptor);
      this.#states.set(descriptor.name, state);
      if ((descriptor as StateDescriptor).ttl !== undefined) this.#ttlStates.push(state as AnyTtlState);
    }
    return state as unknown as InternalStateOf<D>;
  }

  /** One step of background cleanup of every state with TTL; see {@link KeyedStateBackend.cleanUpExpired}. */
  cleanUpExpired(): void {
    const states = this.#ttlStates;
    for (let i = 0; i < states.length; i++) states[i]!.cleanUpAfterBatch();
  }

  /**
   * The state object of `descriptor` over `cell`: with TTL when the descriptor has it, over a
   * cursor made by `cursor` (only then) for its background cleanup.
   */
  protected newStateObject(
    descriptor: StateDescriptor,
    cell: StateCell<unknown>,
    cursor: () => StateEntryCursor<unknown>,
  ): AnyKeyedState {
    if (descriptor.ttl === undefined) return createKeyedState(descriptor, cell);
    return createTtlState(descriptor, cell, { clock: this.clock, cursor: cursor() });
  }

  /**
   * Makes the state object of a name not registered yet (with {@link newStateObject} over a new cell),
   * taking over values restored or loaded for that name before; registered once this returns.
   */
  protected abstract createState(descriptor: StateDescriptor): AnyKeyedState;

  /** The registered state of that name, if any. */
  protected registeredState(stateName: string): AnyKeyedState | undefined {
    return this.#states.get(stateName);
  }

  abstract keys(stateName: string, namespace?: string): Iterable<Key>;
  abstract snapshotKeyGroup(keyGroup: number): KeyGroupSnapshotEntry[] | Promise<KeyGroupSnapshotEntry[]>;
  abstract restoreKeyGroup(
    keyGroup: number,
    entries: Iterable<readonly [string, Key, string, unknown]>,
  ): void | Promise<void>;

  // -------------------------------------------------------------------------------------------
  // Checks and their errors, for the backends
  // -------------------------------------------------------------------------------------------

  /** Whether `keyGroup` is in this backend's range. Written so that NaN and fractions fail too. */
  protected inRange(keyGroup: number): boolean {
    return keyGroup >= this.#start && keyGroup <= this.#end && (keyGroup | 0) === keyGroup;
  }

  /**
   * The index of `keyGroup` in the range (`keyGroup - start`), for `snapshotKeyGroup` and
   * `restoreKeyGroup` (named by `method`).
   * @throws {StateError} `SLUICE_KEY_GROUP_OUT_OF_RANGE` (assertion) if it is not in the range.
   */
  protected indexOfKeyGroup(keyGroup: number, method: string): number {
    if (!Number.isInteger(keyGroup) || !this.keyGroupRange.contains(keyGroup)) {
      throw new StateError(
        'SLUICE_KEY_GROUP_OUT_OF_RANGE',
        `assertion failed: ${method}(${keyGroup}) is outside this backend's key group range ${this.keyGroupRange}`,
      );
    }
    return keyGroup - this.#start;
  }

  /** The error for a key whose key group is not in the range (an assertion: misrouted record). */
  protected keyGroupOutOfRange(key: Key, keyGroup: number): StateError {
    return new StateError(
      'SLUICE_KEY_GROUP_OUT_OF_RANGE',
      `assertion failed: key ${describeKey(key)} is in key group ${keyGroup}, outside this backend's key group ` +
        `range ${this.keyGroupRange} (maxParallelism ${this.maxParallelism}); the record was routed to the wrong ` +
        'subtask, or the partitioner and the backend disagree on maxParallelism',
    );
  }

  /**
   * Checks one restored entry: a `[stateName, key, namespace, value]` tuple whose key belongs to
   * `keyGroup`.
   * @throws {StateError} `SLUICE_STATE_RESTORE_INVALID` if it is malformed or its key belongs to
   *   another key group (a corrupt checkpoint or a changed `maxParallelism`).
   */
  protected checkRestoredEntry(keyGroup: number, entry: readonly [string, Key, string, unknown]): void {
    if (!Array.isArray(entry) || entry.length !== 4) {
      throw restoreInvalid(`entry is not a [stateName, key, namespace, value] tuple`);
    }
    const [name, key, namespace] = entry;
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
  }
}

/** The error for state used before any `setCurrentKey`, naming the state (thrown by the cells). */
export function stateUsedWithoutKey(stateName: string): StateError {
  return new StateError(
    'SLUICE_STATE_NO_CURRENT_KEY',
    `state '${stateName}' was used before a current key was set; keyed state is only available ` +
      'while processing a keyed record or timer (after keyBy)',
  );
}

function noCurrentKey(): StateError {
  return new StateError(
    'SLUICE_STATE_NO_CURRENT_KEY',
    'no current key: setCurrentKey() has not been called on this backend',
  );
}

function restoreInvalid(message: string): StateError {
  return new StateError('SLUICE_STATE_RESTORE_INVALID', `cannot restore keyed state: ${message}`);
}
