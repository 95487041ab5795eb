/**
 * The in-memory keyed state backend (Flink's `HeapKeyedStateBackend` over `HashMapStateBackend`).
 *
 * One backend per keyed operator subtask. It owns the states of the key groups in its
 * {@link KeyGroupRange}; the runtime sets the current key before each record or timer, and every
 * state object obtained from `getState` then reads and writes that key's state. The current key,
 * the registry and the state objects are {@link AbstractKeyedStateBackend}'s; this backend adds one
 * {@link StateTable} per state, which its state objects reach through a {@link HeapStateCell}.
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

import {
  AbstractKeyedStateBackend,
  type KeyedStateBackendOptions,
  type KeyGroupSnapshotEntry,
} from '../backend/keyed-state-backend.ts';
import type { StateDescriptor } from '../descriptors.ts';
import type { Key } from '../key-groups.ts';
import type { AnyKeyedState } from '../kinds.ts';
import { HeapEntryCursor, HeapStateCell, StateTable } from './state-table.ts';

export type HeapKeyedStateBackendOptions = KeyedStateBackendOptions;

/** A registered state and its table (Flink's `registeredKVStates`). */
interface HeapStateEntry {
  readonly state: AnyKeyedState;
  readonly table: StateTable<unknown>;
}

export class HeapKeyedStateBackend extends AbstractKeyedStateBackend {
  /** Registered states with their tables, by name. */
  readonly #tables = new Map<string, HeapStateEntry>();
  /**
   * Restored states not registered yet (Flink restores before `open()`), by name. Kept in
   * snapshot form until `getState` adopts them, and snapshotted as they are meanwhile, so state
   * an operator no longer reads still survives the next checkpoint.
   */
  readonly #restored = new Map<string, StateTable<unknown>>();

  constructor(options: HeapKeyedStateBackendOptions) {
    super(options);
  }

  protected createState(descriptor: StateDescriptor): AnyKeyedState {
    const table = new StateTable<unknown>(this.numKeyGroups);
    const state = this.newStateObject(
      descriptor,
      new HeapStateCell(table, this.keyContext, descriptor.name),
      () => new HeapEntryCursor(table),
    );
    const restored = this.#restored.get(descriptor.name);
    if (restored !== undefined) {
      // May throw SLUICE_STATE_RESTORE_INVALID: then nothing is registered and the restored values stay.
      restored.forEach((index, key, namespace, encoded) => {
        const value = state.decode(encoded);
        if (value !== undefined) table.set(index, key, namespace, value);
      });
      this.#restored.delete(descriptor.name);
    }
    this.#tables.set(descriptor.name, { state, table });
    return state;
  }

  #tableOf(stateName: string): StateTable<unknown> | undefined {
    return this.#tables.get(stateName)?.table ?? this.#restored.get(stateName);
  }

  /**
   * Keys that have state `stateName` in `namespace` (default: the default namespace), over all
   * key groups of this backend; empty for an unknown state. Lazy: adding keys while iterating
   * may or may not show them, as with a `Map`.
   */
  keys(stateName: string, namespace = ''): Iterable<Key> {
    const table = this.#tableOf(stateName);
    return table === undefined ? [] : table.keys(namespace);
  }

  /** Number of (key, namespace) entries of one state, or of all states. O(keys): tests and metrics. */
  numStateEntries(stateName?: string): number {
    if (stateName !== undefined) return this.#tableOf(stateName)?.size() ?? 0;
    let n = 0;
    for (const { table } of this.#tables.values()) n += table.size();
    for (const table of this.#restored.values()) n += table.size();
    return n;
  }

  inMemoryStateEntries(): number {
    return this.numStateEntries();
  }

  /**
   * Every entry of every state in key group `keyGroup`, as plain data: list values are arrays,
   * map values arrays of `[key, value]` pairs. Containers are copied, user objects are not (see
   * the class comment). Includes restored states not registered yet. Leaves out values of states
   * with TTL that are expired now (unless their `ttl.cleanup.inSnapshots` is `false`).
   */
  snapshotKeyGroup(keyGroup: number): KeyGroupSnapshotEntry[] {
    const index = this.indexOfKeyGroup(keyGroup, 'snapshotKeyGroup');
    const out: KeyGroupSnapshotEntry[] = [];
    const nowMs = this.clock();
    for (const [name, { state, table }] of this.#tables)
      table.snapshot(index, name, (v) => state.pruneEncoded(state.encode(v), nowMs), out);
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
    const index = this.indexOfKeyGroup(keyGroup, 'restoreKeyGroup');
    for (const entry of entries) {
      this.checkRestoredEntry(keyGroup, entry);
      const [name, key, namespace, encoded] = entry;
      if (encoded === undefined) continue;
      const registered = this.#tables.get(name);
      if (registered !== undefined) {
        const value = registered.state.decode(encoded);
        if (value === undefined) registered.table.delete(index, key, namespace);
        else registered.table.set(index, key, namespace, value);
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
}

function identity(value: unknown): unknown {
  return value;
}
