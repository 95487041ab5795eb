/**
 * Storage of one keyed state in the heap backend (Flink's `StateTable`), and the cell through
 * which the state object reads and writes it for the current key. Internal to `state/`.
 *
 * Layout, per key group of the backend's range (array index = keyGroup - range.start):
 *
 * - `defaults[i]: Map<Key, V>` for the default namespace `''` — the hot path of every keyed
 *   operator, one array load plus one Map lookup per access;
 * - `namespaced[i]: Map<namespace, Map<Key, V>>` for every other namespace (windows) — two
 *   lookups, and no string concatenation to build a composite key. Namespace first, as Flink's
 *   `NestedStateMap`: a window holds many keys and a key few windows, so this costs one `Map` per
 *   live window and key group where key-first cost one per key (a sliding-window count of 100k
 *   auctions allocated 100k small Maps, most of them promoted and collected in the old
 *   generation), and a fired window's keys are dropped with their `Map`.
 *
 * Key groups are the unit of snapshot and restore, so a snapshot walks only its key group's maps.
 * Maps are created on first write: a backend with many key groups and few keys costs nothing for
 * the empty ones. Invariants: `undefined` is never stored; an inner namespace map is never empty
 * (it is dropped with its last entry), so every namespace present has state.
 */

import { type KeyContext, stateUsedWithoutKey } from '../backend/keyed-state-backend.ts';
import type { Key } from '../key-groups.ts';
import type { StateCell, StateEntryCursor } from '../kinds.ts';

export class StateTable<V> {
  readonly defaults: Array<Map<Key, V> | undefined>;
  readonly namespaced: Array<Map<string, Map<Key, V>> | undefined>;

  constructor(numKeyGroups: number) {
    // fill() keeps the arrays packed (no holes), which V8 indexes fastest.
    this.defaults = new Array<Map<Key, V> | undefined>(numKeyGroups).fill(undefined);
    this.namespaced = new Array<Map<string, Map<Key, V>> | undefined>(numKeyGroups).fill(undefined);
  }

  get(index: number, key: Key, namespace: string): V | undefined {
    if (namespace === '') {
      const map = this.defaults[index];
      return map === undefined ? undefined : map.get(key);
    }
    const byNamespace = this.namespaced[index];
    if (byNamespace === undefined) return undefined;
    const byKey = byNamespace.get(namespace);
    return byKey === undefined ? undefined : byKey.get(key);
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
    let byNamespace = this.namespaced[index];
    if (byNamespace === undefined) {
      byNamespace = new Map();
      this.namespaced[index] = byNamespace;
    }
    let byKey = byNamespace.get(namespace);
    if (byKey === undefined) {
      byKey = new Map();
      byNamespace.set(namespace, byKey);
    }
    byKey.set(key, value);
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
    const byNamespace = this.namespaced[index];
    if (byNamespace === undefined) return undefined;
    const byKey = byNamespace.get(namespace);
    if (byKey === undefined) return undefined;
    const old = byKey.get(key);
    if (old !== undefined) {
      byKey.delete(key);
      if (byKey.size === 0) byNamespace.delete(namespace);
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
    for (const byNamespace of this.namespaced) {
      const byKey = byNamespace?.get(namespace);
      if (byKey !== undefined) yield* byKey.keys();
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
    const byNamespace = this.namespaced[index];
    if (byNamespace !== undefined) {
      for (const [namespace, byKey] of byNamespace) {
        for (const [key, value] of byKey) {
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
      const byNamespace = this.namespaced[index];
      if (byNamespace !== undefined) {
        for (const [namespace, byKey] of byNamespace) {
          for (const [key, value] of byKey) fn(index, key, namespace, value);
        }
      }
    }
  }

  /** Number of (key, namespace) entries. O(keys); for tests and metrics, not the hot path. */
  size(): number {
    let n = 0;
    for (const map of this.defaults) n += map === undefined ? 0 : map.size;
    for (const byNamespace of this.namespaced) {
      if (byNamespace === undefined) continue;
      for (const byKey of byNamespace.values()) n += byKey.size;
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
 * iterator): key group by key group, the default namespace's map, then each other namespace's
 * map, with live `Map` iterators kept between steps (a `Map` iterator stays valid while entries
 * are added and deleted, and sees entries added after its position). Starts over after the last
 * key group, at most once per step, so a step over an empty table ends.
 */
export class HeapEntryCursor<V> implements StateEntryCursor<V> {
  readonly #table: StateTable<V>;
  /** Key group index of the iterators, and whether they walk `namespaced` rather than `defaults`. */
  #index = 0;
  #namespaced = false;
  #defaults: Iterator<[Key, V]> | undefined;
  #namespaces: Iterator<[string, Map<Key, V>]> | undefined;
  /** The namespace being walked, its map, and the iterator over its keys. */
  #namespace = '';
  #ofNamespace: Map<Key, V> | undefined;
  #keys: Iterator<[Key, V]> | undefined;

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
      if (this.#keys !== undefined) {
        const next = this.#keys.next();
        if (!next.done) {
          visited++;
          const [key, value] = next.value;
          const kept = prune(value);
          // Through the table, which drops the namespace's map with its last key.
          if (kept === undefined) table.delete(this.#index, key, this.#namespace);
          else if (kept !== value) this.#ofNamespace!.set(key, kept);
          continue;
        }
        this.#keys = undefined;
        this.#ofNamespace = undefined;
      }
      if (this.#namespaces === undefined) {
        const byNamespace = table.namespaced[this.#index];
        if (byNamespace !== undefined) this.#namespaces = byNamespace.entries();
      }
      const next = this.#namespaces?.next();
      if (next !== undefined && !next.done) {
        const [namespace, ofNamespace] = next.value;
        this.#namespace = namespace;
        this.#ofNamespace = ofNamespace;
        this.#keys = ofNamespace.entries();
        continue;
      }
      // This key group is done: on to the next one, starting over after the last.
      this.#namespaces = undefined;
      this.#namespaced = false;
      this.#index++;
      if (this.#index >= numKeyGroups) {
        this.#index = 0;
        if (wrapped) return;
        wrapped = true;
      }
    }
  }
}
