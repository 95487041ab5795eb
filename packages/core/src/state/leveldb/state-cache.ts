/**
 * The write-back cache of the LevelDB keyed state backend, and the cells through which state
 * objects read and write it. Internal to `state/`.
 *
 * The unit of caching is a key with ALL its state: a {@link CachedKey} holds every entry (every
 * state, every namespace) of one key, or the key is not cached at all. That is what makes state
 * access synchronous: once a key is cached, no read can miss, so no read needs the disk.
 *
 * Layout of a cached key, by state id (ids are dense, assigned per state name by the cache):
 *
 * - `slots[2 * id]` / `slots[2 * id + 1]`: value and flags of the entry in the default namespace
 *   `''` — the hot path of every keyed operator is one `Map` lookup per record (in
 *   `setCurrentKey`), then one array load per state access, with no string work and no
 *   allocation. One interleaved array, not one per field: fewer objects per key means fewer
 *   cache misses when records hit keys at random (measured: ~30% of a warm access);
 * - `namespaced[id]: Map<namespace, NsSlot>` for every other namespace (windows), created on
 *   first use.
 *
 * Every entry carries two flags: `DIRTY` (changed since last written) and `ON_DISK` (a record
 * exists on disk). A removed entry that is on disk stays as a tombstone (`value === undefined`,
 * `DIRTY`) until written back, where it becomes a LevelDB delete; one that never reached disk
 * simply vanishes. `shapeChanged` marks a key whose set of present entries changed, so that its
 * manifest (the list of its entries, see `leveldb-key-codec.ts`) is rewritten with it.
 *
 * Recency is CLOCK (second chance), the usual approximation of LRU: `setCurrentKey` sets
 * `referenced` on the entry it just looked up (one store, no other object touched), and eviction
 * sweeps the cache `Map` in insertion order, giving referenced keys a second chance (flag cleared,
 * moved to the end) and evicting the others. A doubly linked LRU list was measured first: moving
 * a random key to the head touches its two neighbours and the head, ~290 ns per record at 100k
 * cached keys, 40% of the whole warm path.
 */

import { type KeyContext, stateUsedWithoutKey } from '../backend/keyed-state-backend.ts';
import { describeKey, type StateError } from '../errors.ts';
import type { Key } from '../key-groups.ts';
import type { StateCell, StateEntryCursor } from '../kinds.ts';
import {
  diskCodec,
  encodeEntryKey,
  encodeKeyPrefix,
  encodeStateName,
  levelDbStateError,
} from './key-codec.ts';
import type { WriteOp } from './level-store/level-store.ts';

/** The entry changed since it was last written. */
export const DIRTY = 1;
/** A record of the entry exists on disk (as of the writes issued so far). */
export const ON_DISK = 2;

/** The codec of values and manifests on disk (defined in `key-codec.ts`, with the layout). */
export { diskCodec };

/** An entry in a namespace other than the default one. */
export class NsSlot {
  /** `undefined` only for a tombstone (removed, delete not yet written). */
  value: unknown;
  flags: number;

  constructor(value: unknown, flags: number) {
    this.value = value;
    this.flags = flags;
  }
}

/** One cached key and all its state. */
export class CachedKey {
  /**
   * Default namespace, by state id: `slots[2 * id]` the value (`undefined` = absent),
   * `slots[2 * id + 1]` its flags (`DIRTY | ON_DISK`).
   */
  readonly slots: unknown[];
  /** Other namespaces, by state id; `undefined` until the key uses one. */
  namespaced: Array<Map<string, NsSlot> | undefined> | undefined = undefined;
  /** Some entry is `DIRTY` or `shapeChanged` is set; then the key is in the cache's dirty set. */
  dirty = false;
  /** The set of present entries changed since the manifest was last written. */
  shapeChanged = false;
  manifestOnDisk = false;
  /** Used since the eviction sweep last passed it (CLOCK). */
  referenced = false;
  /** Sequence number of the last write that holds this key's records (0: none). */
  writeSeq = 0;

  readonly key: Key;
  readonly keyGroup: number;

  constructor(key: Key, keyGroup: number, numStates: number) {
    this.key = key;
    this.keyGroup = keyGroup;
    // Packed from the start: every id below numStates is in bounds from now on.
    const slots = new Array<unknown>(2 * numStates);
    for (let i = 0; i < slots.length; i += 2) {
      slots[i] = undefined;
      slots[i + 1] = 0;
    }
    this.slots = slots;
  }

  /** Number of state ids this key has slots for. */
  get numStates(): number {
    return this.slots.length >> 1;
  }

  /** The namespace map of state `id`, created if `create`. */
  namespacesOf(id: number, create: true): Map<string, NsSlot>;
  namespacesOf(id: number, create?: false): Map<string, NsSlot> | undefined;
  namespacesOf(id: number, create = false): Map<string, NsSlot> | undefined {
    let all = this.namespaced;
    if (all === undefined) {
      if (!create) return undefined;
      all = new Array<Map<string, NsSlot> | undefined>(this.numStates).fill(undefined);
      this.namespaced = all;
    }
    let byNamespace = all[id];
    if (byNamespace === undefined && create) {
      byNamespace = new Map();
      all[id] = byNamespace;
    }
    return byNamespace;
  }
}

/** How a state turns its cached values into snapshot form and back (identity while unregistered). */
export interface StateCodec {
  encode(value: unknown): unknown;
  /** `undefined` for an empty value (not stored); throws `SLUICE_STATE_RESTORE_INVALID`. */
  decode(encoded: unknown): unknown;
}

export type { WriteOp };

/**
 * The cache, the state-name registry, and the current key's entry. Shared by the backend and its
 * state cells (which call {@link current}, {@link get}, {@link set}, {@link touched}).
 */
export class LevelDbStateCache {
  /** The backend's current key (its key group is -1 before the first `setCurrentKey`). */
  readonly ctx: KeyContext;
  /** The current key's entry, if cached; set by the backend's `setCurrentKey`. */
  entry: CachedKey | undefined = undefined;

  /** The cached keys, in CLOCK order (the sweep starts at the first). */
  readonly keys = new Map<Key, CachedKey>();
  readonly dirtyKeys = new Set<CachedKey>();

  /** State names by id, their encoded form (record keys), and their codecs once registered. */
  readonly names: string[] = [];
  readonly encodedNames: Buffer[] = [];
  readonly codecs: Array<StateCodec | undefined> = [];
  readonly #ids = new Map<string, number>();
  /** Keys held outside `keys` that must grow with new state ids too (written back, in flight). */
  readonly detached = new Map<Key, CachedKey>();

  constructor(ctx: KeyContext) {
    this.ctx = ctx;
  }

  get numStates(): number {
    return this.names.length;
  }

  /** The id of a state name, assigned on first sight (registration, a record on disk, a restore). */
  idOf(name: string): number {
    let id = this.#ids.get(name);
    if (id !== undefined) return id;
    id = this.names.length;
    this.#ids.set(name, id);
    this.names.push(name);
    this.encodedNames.push(encodeStateName(name));
    this.codecs.push(undefined);
    // Keep every cached key's arrays in bounds for the new id (rare: a new state name).
    for (const map of [this.keys, this.detached]) {
      for (const e of map.values()) {
        e.slots.push(undefined, 0);
        e.namespaced?.push(undefined);
      }
    }
    return id;
  }

  /** The id of a state name if it was ever seen. */
  existingIdOf(name: string): number | undefined {
    return this.#ids.get(name);
  }

  // -------------------------------------------------------------------------------------------
  // Access by state objects
  // -------------------------------------------------------------------------------------------

  /**
   * The current key's entry. Hot path: one field load; the slow path re-looks the key up (it may
   * have been prefetched after `setCurrentKey`) and otherwise throws.
   */
  current(stateName: string): CachedKey {
    const e = this.entry;
    return e === undefined ? this.#currentSlow(stateName) : e;
  }

  #currentSlow(stateName: string): CachedKey {
    const ctx = this.ctx;
    if (ctx.keyGroup < 0) throw stateUsedWithoutKey(stateName);
    const e = this.keys.get(ctx.key);
    if (e === undefined) throw notPrefetched(ctx.key, ctx.keyGroup, stateName);
    this.entry = e;
    return e;
  }

  get(e: CachedKey, id: number, namespace: string): unknown {
    if (namespace === '') return e.slots[id << 1];
    const byNamespace = e.namespaced?.[id];
    if (byNamespace === undefined) return undefined;
    const slot = byNamespace.get(namespace);
    return slot === undefined ? undefined : slot.value;
  }

  /** Stores `value` (`undefined` removes the entry) and marks it for write-back. */
  set(e: CachedKey, id: number, namespace: string, value: unknown): void {
    if (namespace === '') {
      const slots = e.slots;
      const at = id << 1;
      const old = slots[at];
      const flags = slots[at + 1] as number;
      if (value === undefined) {
        if (old === undefined) return;
        slots[at] = undefined;
        e.shapeChanged = true;
        // Only a record on disk needs a delete; one never written simply vanishes.
        slots[at + 1] = (flags & ON_DISK) !== 0 ? flags | DIRTY : 0;
      } else {
        if (old === undefined) e.shapeChanged = true;
        slots[at] = value;
        slots[at + 1] = flags | DIRTY;
      }
    } else if (value === undefined) {
      const byNamespace = e.namespacesOf(id);
      const slot = byNamespace?.get(namespace);
      if (slot === undefined || slot.value === undefined) return;
      slot.value = undefined;
      e.shapeChanged = true;
      if ((slot.flags & ON_DISK) !== 0) slot.flags |= DIRTY;
      else byNamespace!.delete(namespace);
    } else {
      const byNamespace = e.namespacesOf(id, true);
      const slot = byNamespace.get(namespace);
      if (slot === undefined) {
        byNamespace.set(namespace, new NsSlot(value, DIRTY));
        e.shapeChanged = true;
      } else {
        if (slot.value === undefined) e.shapeChanged = true;
        slot.value = value;
        slot.flags |= DIRTY;
      }
    }
    if (!e.dirty) this.#markDirty(e);
  }

  /** Marks a present entry as changed in place (a list appended to, a map put into). */
  touched(e: CachedKey, id: number, namespace: string): void {
    if (namespace === '') (e.slots[(id << 1) + 1] as number) |= DIRTY;
    else {
      const slot = e.namespaced?.[id]?.get(namespace);
      if (slot !== undefined) slot.flags |= DIRTY;
    }
    if (!e.dirty) this.#markDirty(e);
  }

  #markDirty(e: CachedKey): void {
    e.dirty = true;
    this.dirtyKeys.add(e);
  }

  // -------------------------------------------------------------------------------------------
  // Membership (recency is the `referenced` flag, see the module comment)
  // -------------------------------------------------------------------------------------------

  /** Adds a key that is not cached; it goes to the end of the sweep. */
  insert(e: CachedKey): void {
    e.referenced = false;
    this.keys.set(e.key, e);
  }

  /** Drops a cached key (written back or not: the caller's business). */
  remove(e: CachedKey): void {
    this.keys.delete(e.key);
    if (this.entry === e) this.entry = undefined;
  }

  /**
   * Picks up to `count` keys to evict, never `keep` (the current key): a CLOCK sweep from the
   * start of the cache. A referenced key loses its flag and moves to the end instead (second
   * chance); it is reached again in the same sweep only if too few unreferenced keys were found.
   * Changes no entry other than those flags and positions.
   */
  pickVictims(count: number, keep: CachedKey | undefined): CachedKey[] {
    const victims: CachedKey[] = [];
    if (count <= 0) return victims;
    const keys = this.keys;
    // Terminates: each key is moved at most once (its flag is cleared), `keep` is never moved,
    // and a Map iterator visits every entry it has not passed, moved ones included, once.
    for (const e of keys.values()) {
      if (e === keep) continue;
      if (e.referenced) {
        e.referenced = false;
        keys.delete(e.key);
        keys.set(e.key, e);
        continue;
      }
      victims.push(e);
      if (victims.length === count) break;
    }
    return victims;
  }

  /** Forgets every cached key and the current key (close, destroy). */
  clear(): void {
    this.keys.clear();
    this.detached.clear();
    this.dirtyKeys.clear();
    this.entry = undefined;
    this.ctx.keyGroup = -1;
    this.ctx.index = -1;
  }

  // -------------------------------------------------------------------------------------------
  // Write-back, in two phases so that a value that cannot be serialised loses nothing: `collect`
  // builds the writes without changing any flag (and may throw); `commit` then marks them written.
  // -------------------------------------------------------------------------------------------

  /** Appends the writes that bring disk up to date with `e`. Changes nothing; may throw. */
  collect(e: CachedKey, ops: WriteOp[]): void {
    // Rebuilt rather than kept per key: a Buffer per cached key costs more memory than this costs time.
    const prefix = encodeKeyPrefix(e.keyGroup, e.key);
    const slots = e.slots;
    const numStates = e.numStates;
    for (let id = 0; id < numStates; id++) {
      if (((slots[(id << 1) + 1] as number) & DIRTY) !== 0) {
        this.#collectEntry(e, prefix, id, '', slots[id << 1], ops);
      }
      const byNamespace = e.namespaced?.[id];
      if (byNamespace === undefined) continue;
      for (const [namespace, slot] of byNamespace) {
        if ((slot.flags & DIRTY) !== 0) this.#collectEntry(e, prefix, id, namespace, slot.value, ops);
      }
    }
    if (e.shapeChanged) {
      const manifest = this.manifestOf(e);
      if (manifest.length > 0) {
        ops.push({ type: 'put', key: prefix, value: diskCodec.pack(manifest) });
      } else if (e.manifestOnDisk) {
        ops.push({ type: 'del', key: prefix });
      }
    }
  }

  #collectEntry(
    e: CachedKey,
    prefix: Buffer,
    id: number,
    namespace: string,
    value: unknown,
    ops: WriteOp[],
  ): void {
    const key = encodeEntryKey(prefix, this.encodedNames[id]!, namespace);
    if (value === undefined) {
      ops.push({ type: 'del', key });
      return;
    }
    ops.push({ type: 'put', key, value: this.serialise(e.key, id, namespace, value) });
  }

  /**
   * The bytes on disk of a value of state `id` (of `key`, in `namespace`): its snapshot form,
   * msgpack-encoded. `encoded`: `value` is in snapshot form already (restored before its state
   * was registered).
   * @throws {StateError} `SLUICE_STATE_STORAGE_FAILED` if it holds what no record may (`docs/records.md`).
   */
  serialise(key: Key, id: number, namespace: string, value: unknown, encoded = false): Buffer {
    const codec = encoded ? undefined : this.codecs[id];
    try {
      return diskCodec.pack(codec === undefined ? value : codec.encode(value));
    } catch (cause) {
      throw levelDbStateError(
        'SLUICE_STATE_STORAGE_FAILED',
        `cannot write state '${this.names[id]}' of key ${describeKey(key)}${namespace === '' ? '' : ` in namespace ${JSON.stringify(namespace)}`}: ` +
          `its value cannot be kept (${(cause as Error).message})`,
        { cause },
      );
    }
  }

  /** Marks everything {@link collect} wrote for `e` as written by write number `seq`. */
  commit(e: CachedKey, seq: number): void {
    let wrote = false;
    const slots = e.slots;
    const numStates = e.numStates;
    for (let id = 0; id < numStates; id++) {
      const at = id << 1;
      if (((slots[at + 1] as number) & DIRTY) !== 0) {
        slots[at + 1] = slots[at] === undefined ? 0 : ON_DISK;
        wrote = true;
      }
      const byNamespace = e.namespaced?.[id];
      if (byNamespace === undefined) continue;
      for (const [namespace, slot] of byNamespace) {
        if ((slot.flags & DIRTY) === 0) continue;
        wrote = true;
        // Deleting the current entry while iterating a Map is safe.
        if (slot.value === undefined) byNamespace.delete(namespace);
        else slot.flags = ON_DISK;
      }
    }
    if (e.shapeChanged) {
      const present = this.manifestOf(e).length > 0;
      if (present || e.manifestOnDisk) wrote = true;
      e.manifestOnDisk = present;
      e.shapeChanged = false;
    }
    if (wrote) e.writeSeq = seq;
    e.dirty = false;
    this.dirtyKeys.delete(e);
  }

  /** The manifest of `e`: `[stateName, [namespace, ...]]` for every state with present entries. */
  manifestOf(e: CachedKey): Array<[string, string[]]> {
    const out: Array<[string, string[]]> = [];
    const numStates = e.numStates;
    for (let id = 0; id < numStates; id++) {
      let namespaces: string[] | undefined;
      if (e.slots[id << 1] !== undefined) namespaces = [''];
      const byNamespace = e.namespaced?.[id];
      if (byNamespace !== undefined) {
        for (const [namespace, slot] of byNamespace) {
          if (slot.value === undefined) continue;
          if (namespaces === undefined) namespaces = [];
          namespaces.push(namespace);
        }
      }
      if (namespaces !== undefined) out.push([this.names[id]!, namespaces]);
    }
    return out;
  }

  /** Number of present (key, state, namespace) entries of `e`, optionally of one state. */
  countEntries(e: CachedKey, id?: number): number {
    let n = 0;
    const from = id ?? 0;
    const to = id === undefined ? e.numStates : id + 1;
    for (let i = from; i < to; i++) {
      if (e.slots[i << 1] !== undefined) n++;
      const byNamespace = e.namespaced?.[i];
      if (byNamespace === undefined) continue;
      for (const slot of byNamespace.values()) if (slot.value !== undefined) n++;
    }
    return n;
  }
}

function notPrefetched(key: Key, keyGroup: number, stateName: string): StateError {
  return levelDbStateError(
    'SLUICE_STATE_NOT_PREFETCHED',
    `assertion failed: state '${stateName}' of key ${describeKey(key)} (key group ${keyGroup}) was used, but the ` +
      'key is neither cached nor prefetched; the runtime must await prefetch() for every key of a batch of ' +
      'records or timers before processing it, and not evict() in between',
  );
}

/**
 * A state's {@link StateCell} over the cache, for the current key: every change marks the entry
 * for write-back. Throws `SLUICE_STATE_NOT_PREFETCHED` for a key that is not cached.
 */
export class LevelDbStateCell implements StateCell<unknown> {
  readonly #cache: LevelDbStateCache;
  /** The state's id in the cache (index of its slots in every cached key). */
  readonly #id: number;
  readonly #stateName: string;

  constructor(cache: LevelDbStateCache, id: number, stateName: string) {
    this.#cache = cache;
    this.#id = id;
    this.#stateName = stateName;
  }

  get(namespace: string): unknown {
    const cache = this.#cache;
    const e = cache.current(this.#stateName);
    // Default namespace inline: the hot path is one array load.
    return namespace === '' ? e.slots[this.#id << 1] : cache.get(e, this.#id, namespace);
  }

  set(namespace: string, value: unknown): void {
    const cache = this.#cache;
    cache.set(cache.current(this.#stateName), this.#id, namespace, value);
  }

  getForUpdate(namespace: string): unknown {
    const cache = this.#cache;
    const e = cache.current(this.#stateName);
    const value = cache.get(e, this.#id, namespace);
    if (value !== undefined) cache.touched(e, this.#id, namespace);
    return value;
  }

  remove(namespace: string): unknown {
    const cache = this.#cache;
    const e = cache.current(this.#stateName);
    const old = cache.get(e, this.#id, namespace);
    if (old !== undefined) cache.set(e, this.#id, namespace, undefined);
    return old;
  }
}

/**
 * The background cleanup's walk over one state's entries in the cache: cached keys in the cache
 * `Map`'s order, with a live iterator kept between steps (eviction's moves and deletes leave it
 * valid). Keys on disk are not visited: their expired values are dropped when they are read
 * (cleanup on access), and left out of snapshots. Changes go through the cache, so they are
 * written back. Starts over after the last key at most once per step, so a step over an empty
 * cache ends.
 */
export class LevelDbEntryCursor implements StateEntryCursor<unknown> {
  readonly #cache: LevelDbStateCache;
  readonly #id: number;
  #keys: Iterator<CachedKey> | undefined;

  constructor(cache: LevelDbStateCache, id: number) {
    this.#cache = cache;
    this.#id = id;
  }

  step(count: number, prune: (value: unknown) => unknown): void {
    const cache = this.#cache;
    const id = this.#id;
    let visited = 0;
    let wrapped = false;
    while (visited < count) {
      this.#keys ??= cache.keys.values();
      const next = this.#keys.next();
      if (next.done) {
        this.#keys = undefined;
        if (wrapped) return;
        wrapped = true;
        continue;
      }
      const e = next.value;
      // Every key looked at counts, with or without this state: a step stays bounded in a cache
      // full of keys of other states.
      visited++;
      if (id >= e.numStates) continue; // no slot yet: nothing of this state
      const value = e.slots[id << 1];
      if (value !== undefined) {
        const kept = prune(value);
        if (kept !== value) cache.set(e, id, '', kept);
      }
      const byNamespace = e.namespaced?.[id];
      if (byNamespace === undefined) continue;
      for (const [namespace, slot] of byNamespace) {
        if (slot.value === undefined) continue; // a tombstone
        visited++;
        const kept = prune(slot.value);
        if (kept !== slot.value) cache.set(e, id, namespace, kept);
      }
    }
  }
}
