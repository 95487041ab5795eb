/**
 * Storage of one keyed state in the heap backend (Flink's `StateTable`), and the cell through
 * which the state object reads and writes it for the current key. Internal to `state/`.
 *
 * Layout, per key group of the backend's range (array index = keyGroup - range.start):
 *
 * - `defaults[i]: Map<Key, V>` for the default namespace `''` — the hot path of every keyed
 *   operator, one array load plus one Map lookup per access;
 * - `namespaced[i]: Map<Key, Map<namespace, V>>` for every other namespace (windows) — two
 *   lookups, and no string concatenation to build a composite key.
 *
 * Key groups are the unit of snapshot and restore, so a snapshot walks only its key group's maps.
 * Maps are created on first write: a backend with many key groups and few keys costs nothing for
 * the empty ones. Invariants: `undefined` is never stored; an inner namespace map is never empty
 * (it is dropped with its last entry), so every key present has state.
 */

import { type KeyContext, stateUsedWithoutKey } from '../backend/keyed-state-backend.ts';
import type { Key } from '../key-groups.ts';
import type { StateCell, StateEntryCursor } from '../kinds.ts';

export class StateTable<V> {
  readonly defaults: Array<Map<Key, V> | undefined>;
  readonly namespaced: Array<Map<Key, Map<string, V>> | undefined>;

  constructor(numKeyGroups: number) {
    // fill() keeps the arrays packed (no holes), which V8 indexes fastest.
    this.defaults = new Array<Map<Key, V> | undefined>(numKeyGroups).fill(undefined);
    this.namespaced = new Array<Map<Key, Map<string, V>> | undefined>(numKeyGroups).fill(undefined);
  }

  get(index: number, key: Key, namespace: string): V | undefined {
    if (namespace === '') {
      const map = this.defaults[index];
      return map === undefined ? undefined : map.get(key);
    }
    const byKey = this.namespaced[index];
    if (byKey === undefined) return undefined;
    const byNamespace = byKey.get(key);
    return byNamespace === undefined ? undefined : byNamespace.get(namespace);
  }

  /** Stores `value`, which must not be `undefined` (use {@link delete}). */
  set(index: number, key: Key, namespace: string, value: V): void {
    if (namespace === '') {
      let map = this.defaults[index];
      if (map === undefined) {
        map = new Map();
        this.defaults[index] = map;
      }
      map.set(key, value);
      return;
    }
    let byKey = this.namespaced[index];
    if (byKey === undefined) {
      byKey = new Map();
      this.namespaced[index] = byKey;
    }
    let byNamespace = byKey.get(key);
    if (byNamespace === undefined) {
      byNamespace = new Map();
      byKey.set(key, byNamespace);
    }
    byNamespace.set(namespace, value);
  }

  /** Removes the entry and returns what it held. */
  delete(index: number, key: Key, namespace: string): V | undefined {
    if (namespace === '') {
      const map = this.defaults[index];
      if (map === undefined) return undefined;
      const old = map.get(key);
      if (old !== undefined) map.delete(key);
      return old;
    }
    const byKey = this.namespaced[index];
    if (byKey === undefined) return undefined;
    const byNamespace = byKey.get(key);
    if (byNamespace === undefined) return undefined;
    const old = byNamespace.get(namespace);
    if (old !== undefined) {
      byNamespace.delete(namespace);
      if (byNamespace.size === 0) byKey.delete(key);
    }
    return old;
  }

  /** Keys with state in `namespace`, over every key group. */
  *keys(namespace: string): Generator<Key, void, undefined> {
    if (namespace === '') {
      for (const map of this.defaults) {
        if (map !== undefined) yield* map.keys();
      }
      return;
    }
    for (const byKey of this.namespaced) {
      if (byKey === undefined) continue;
      for (const [key, byNamespace] of byKey) {
        if (byNamespace.has(namespace)) yield key;
      }
    }
  }

  /**
   * Appends `[name, key, namespace, encode(value)]` for every entry of one key group; an entry
   * that `encode` maps to `undefined` (expired TTL state) is left out.
   */
  snapshot(
    index: number,
    name: string,
    encode: (value: V) => unknown,
    out: Array<[stateName: string, key: Key, namespace: string, value: unknown]>,
  ): void {
    const map = this.defaults[index];
    if (map !== undefined) {
      for (const [key, value] of map) {
        const encoded = encode(value);
        if (encoded !== undefined) out.push([name, key, '', encoded]);
      }
    }
    const byKey = this.namespaced[index];
    if (byKey !== undefined) {
      for (const [key, byNamespace] of byKey) {
        for (const [namespace, value] of byNamespace) {
          const encoded = encode(value);
          if (encoded !== undefined) out.push([name, key, namespace, encoded]);
        }
      }
    }
  }

  /** Calls `fn` for every entry of every key group (restore-time conversion, counting). */
  forEach(fn: (index: number, key: Key, namespace: string, value: V) => void): void {
    for (let index = 0; index < this.defaults.length; index++) {
      const map = this.defaults[index];
      if (map !== undefined) {
        for (const [key, value] of map) fn(index, key, '', value);
      }
      const byKey = this.namespaced[index];
      if (byKey !== undefined) {
        for (const [key, byNamespace] of byKey) {
          for (const [namespace, value] of byNamespace) fn(index, key, namespace, value);
        }
      }
    }
  }

  /** Number of (key, namespace) entries. O(keys); for tests and metrics, not the hot path. */
  size(): number {
    let n = 0;
    for (const map of this.defaults) n += map === undefined ? 0 : map.size;
    for (const byKey of this.namespaced) {
      if (byKey === undefined) continue;
      for (const byNamespace of byKey.values()) n += byNamespace.size;
    }
    return n;
  }
}

/**
 * A state's {@link StateCell} over its table, for the backend's current key. Hot path: one field
 * check, then the table's array load and Map lookup; nothing to mark for write-back.
 */
export class HeapStateCell<V> implements StateCell<V> {
  readonly table: StateTable<V>;
  readonly #ctx: KeyContext;
  readonly #stateName: string;

  constructor(table: StateTable<V>, ctx: KeyContext, stateName: string) {
    this.table = table;
    this.#ctx = ctx;
    this.#stateName = stateName;
  }

  get(namespace: string): V | undefined {
    const ctx = this.#ctx;
    // An index of -1 (no key yet) would read nothing: throw instead.
    if (ctx.index < 0) throw stateUsedWithoutKey(this.#stateName);
    return this.table.get(ctx.index, ctx.key, namespace);
  }

  /** The heap is the storage: a change in place needs no marking. */
  getForUpdate(namespace: string): V | undefined {
    const ctx = this.#ctx;
    if (ctx.index < 0) throw stateUsedWithoutKey(this.#stateName);
    return this.table.get(ctx.index, ctx.key, namespace);
  }

  set(namespace: string, value: V): void {
    const ctx = this.#ctx;
    if (ctx.index < 0) throw stateUsedWithoutKey(this.#stateName);
    this.table.set(ctx.index, ctx.key, namespace, value);
  }

  remove(namespace: string): V | undefined {
    const ctx = this.#ctx;
    if (ctx.index < 0) throw stateUsedWithoutKey(this.#stateName);
    return this.table.delete(ctx.index, ctx.key, namespace);
  }
}

/**
 * The background cleanup's walk over one table (Flink's `StateTable` incremental cleanup
 * iterator): key group by key group, the default namespace's map, then the other namespaces' map,
 * with a live `Map` iterator kept between steps (a `Map` iterator stays valid while entries are
 * added and deleted, and sees entries added after its position). Starts over after the last key
 * group, at most once per step, so a step over an empty table ends.
 */
export class HeapEntryCursor<V> implements StateEntryCursor<V> {
  readonly #table: StateTable<V>;
  /** Key group index of the iterator, and whether it walks `namespaced` rather than `defaults`. */
  #index = 0;
  #namespaced = false;
  #defaults: Iterator<[Key, V]> | undefined;
  #byKey: Iterator<[Key, Map<string, V>]> | undefined;

  constructor(table: StateTable<V>) {
    this.#table = table;
  }

  step(count: number, prune: (value: V) => V | undefined): void {
    const table = this.#table;
    const numKeyGroups = table.defaults.length;
    let visited = 0;
    let wrapped = false;
    while (visited < count) {
      if (!this.#namespaced) {
        if (this.#defaults === undefined) {
          const map = table.defaults[this.#index];
          if (map === undefined) {
            this.#namespaced = true;
            continue;
          }
          this.#defaults = map.entries();
        }
        const next = this.#defaults.next();
        if (next.done) {
          this.#defaults = undefined;
          this.#namespaced = true;
          continue;
        }
        visited++;
        const [key, value] = next.value;
        const kept = prune(value);
        if (kept === undefined) table.delete(this.#index, key, '');
        else if (kept !== value) table.set(this.#index, key, '', kept);
        continue;
      }
      if (this.#byKey === undefined) {
        const byKey = table.namespaced[this.#index];
        if (byKey !== undefined) this.#byKey = byKey.entries();
      }
      const next = this.#byKey?.next();
      if (next === undefined || next.done) {
        // This key group is done: on to the next one, starting over after the last.
        this.#byKey = undefined;
        this.#namespaced = false;
        this.#index++;
        if (this.#index >= numKeyGroups) {
          this.#index = 0;
          if (wrapped) return;
          wrapped = true;
        }
        continue;
      }
      const [key, byNamespace] = next.value;
      for (const [namespace, value] of byNamespace) {
        visited++;
        const kept = prune(value);
        // Through the table, which drops the key's map with its last namespace.
        if (kept === undefined) table.delete(this.#index, key, namespace);
        else if (kept !== value) byNamespace.set(namespace, kept);
      }
    }
  }
}
