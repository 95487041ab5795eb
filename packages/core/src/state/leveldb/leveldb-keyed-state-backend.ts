/**
 * The LevelDB keyed state backend (Flink's RocksDB backend, on `classic-level`): keyed state
 * larger than memory, with the same synchronous state API as the heap backend.
 *
 * State calls are synchronous and LevelDB is not, so the backend keeps a **write-back cache** of
 * whole keys (a key is cached with all its state, every state name and namespace, or not at
 * all) and the runtime drives the disk around the operator, never inside it:
 *
 * 1. before a batch of records or timers: `const p = backend.prefetch(keys); if (p) await p;` —
 *    loads the keys not cached yet (one call to the store for the whole batch, one round trip
 *    to the LevelDB host: see `stored-keys.ts`), and returns `undefined` without allocating when
 *    all are cached;
 * 2. the operator runs the batch: `setCurrentKey` and state calls touch memory only;
 * 3. between batches: `const w = backend.evict(); if (w) await w;` — while more than
 *    `cacheMaxKeys` keys are cached, writes the least recently used ones (CLOCK, an LRU
 *    approximation; see `leveldb-state-cache.ts`) back in one `batch()` and drops them. The
 *    current key is never evicted. The write goes on behind the task: `evict()` returns a
 *    promise only when more than two eviction writes are queued.
 *
 * Using state of a key that is neither cached nor prefetched is a runtime bug and throws
 * `SLUICE_STATE_NOT_PREFETCHED`. `cacheMaxKeys` must be at least the number of distinct keys in
 * one batch: keys prefetched for a batch stay cached until the next `evict()`.
 *
 * Ordering. All writes (evictions, the flush before a snapshot, close) go through one queue, in
 * the order they were issued, so disk never goes back in time. A key evicted with its write still
 * in flight is kept aside and revived by a prefetch instead of being read from disk; so any key
 * read from disk has no pending write. Snapshots are point-in-time as of the call: the dirty
 * entries are serialised synchronously when `snapshotKeyGroup` is called, and the range is read
 * from a LevelDB snapshot taken right after they are written.
 *
 * One backend per subtask, one database per backend, in its own `directory`: LevelDB allows one
 * open handle per directory per process. The directory is working storage, not recovery: a job
 * recovers from checkpoints (snapshots per key group); `destroy()` removes it.
 *
 * @example
 * const backend = new LevelDbKeyedStateBackend({
 *   maxParallelism: 128, keyGroupRange: new KeyGroupRange(0, 63), directory: '/tmp/sluice/op-1-0',
 * });
 * await backend.open();
 * const count = backend.getState(valueState<number>('count', { defaultValue: 0 }));
 * await backend.prefetch([['page-1', assignToKeyGroup('page-1', 128)]]);
 * backend.setCurrentKey('page-1');
 * count.update(count.value()! + 1);
 * await backend.evict();
 * await backend.close();
 */

import { rm } from 'node:fs/promises';
import {
  AbstractKeyedStateBackend,
  type KeyedStateBackendOptions,
  type KeyGroupSnapshotEntry,
} from '../backend/keyed-state-backend.ts';
import type { StateDescriptor } from '../descriptors.ts';
import { describeKey, StateArgumentError, StateError } from '../errors.ts';
import type { Key } from '../key-groups.ts';
import type { AnyKeyedState } from '../kinds.ts';
import { PENDING, PendingRestore, RestoredEntries, restoredRecords, TAKEN } from './bulk-restore.ts';
import { decodeRecordKey, encodeKeyPrefix, keyGroupBound, levelDbStateError } from './key-codec.ts';
import type { LevelSnapshot, LevelStore } from './level-store/level-store.ts';
import { LocalLevelStore } from './level-store/local-level-store.ts';
import type { PackedBuffers } from './level-store/wire.ts';
import {
  CachedKey,
  DIRTY,
  diskCodec,
  LevelDbEntryCursor,
  LevelDbStateCache,
  LevelDbStateCell,
  NsSlot,
  ON_DISK,
  type WriteOp,
} from './state-cache.ts';
import { parseManifest } from './stored-keys.ts';

export interface LevelDbKeyedStateBackendOptions extends KeyedStateBackendOptions {
  /**
   * The backend's own working directory (created by `open()`); one per backend: LevelDB locks it.
   * Existing data in it is used as is: pass a fresh directory unless reopening on purpose.
   */
  directory: string;
  /**
   * Keys kept in memory, each with all its state (default {@link DEFAULT_CACHE_MAX_KEYS}). At
   * least the number of distinct keys in one batch. `evict()` brings the cache back to this size.
   */
  cacheMaxKeys?: number;
  /**
   * Where the database is served (default: opened in this thread). The runtime passes a store
   * served by the LevelDB host thread, so terminating the operator's thread cannot crash the
   * process (see `level-store/level-store-host.ts`).
   */
  store?: LevelStore;
}

/** Default of {@link LevelDbKeyedStateBackendOptions.cacheMaxKeys}. */
export const DEFAULT_CACHE_MAX_KEYS = 100_000;

/** Restore batches in flight at most: the next restore waits for the oldest (bounds memory). */
const RESTORE_BATCHES_IN_FLIGHT = 4;
/** Eviction writes that may be queued before `evict()` makes the task wait for one. */
const MAX_EVICTIONS_IN_FLIGHT = 2;

/** What a snapshot reads from a pending restore's memory instead of disk (see `#pendingAsOfNow`). */
interface PendingAsOf {
  has(key: Key): boolean;
  entries(): Array<[string, Key, string, unknown]>;
}

/** Keys a restore wrote straight to disk: indexes into the entries of that restore. */
interface RestoredKeys {
  readonly entries: RestoredEntries;
  readonly keyIndexes: readonly number[];
}

type Status = 'new' | 'opening' | 'open' | 'closing' | 'closed';

function noop(): void {}

export class LevelDbKeyedStateBackend extends AbstractKeyedStateBackend {
  readonly directory: string;
  readonly cacheMaxKeys: number;

  readonly #cache = new LevelDbStateCache(this.keyContext);
  /** Keys being read from disk, and the read's promise: a second prefetch waits for the first. */
  readonly #loading = new Map<Key, Promise<void>>();
  /**
   * States whose default-namespace entry is read along with the manifests (`stored-keys.ts`):
   * those that at least half the keys of the last load with state on disk had. `undefined`
   * until such a load: then every state known is guessed.
   */
  #guessedStates: string[] | undefined;

  readonly #store: LevelStore;
  #db: LevelStore | undefined;
  #status: Status = 'new';
  /** Set when a write failed: disk and cache disagree from then on, so the backend stops. */
  #failure: StateError | undefined;
  /** Tail of the write queue; every write (and snapshot) runs after the previous one. */
  #writeTail: Promise<void> = Promise.resolve();
  /** Eviction writes queued or running, that no caller waits for (see `evict`). */
  #evictionsInFlight = 0;
  /** Sequence numbers of writes issued and completed; a key's `writeSeq` is its last write's. */
  #issuedSeq = 0;
  #completedSeq = 0;
  /** Key groups (indexed by key group) this backend has issued writes for since it was opened. */
  readonly #written: Uint8Array;
  /** Whether the database held nothing in this backend's range when opened; probed on the first restore. */
  #emptyAtOpen: Promise<boolean> | undefined;
  /**
   * Restored batches written straight to disk and not done yet, oldest first; and the tail of the
   * write queue they all wait for (the writes issued before them), while they are the last writes.
   */
  readonly #restoreWrites: Array<Promise<void>> = [];
  #restoreBase: Promise<void> | undefined;
  /** Restores still being written in the background, by key group: their keys load from memory. */
  readonly #pendingRestores = new Map<number, PendingRestore>();
  /** Restores whose batches are not all sent yet, oldest first; and the loop sending them. */
  readonly #restoreQueue: PendingRestore[] = [];
  #restoreWriter: Promise<void> | undefined;
  /** Set by `destroy()`: the restore writer sends nothing more. */
  #stopRestoring = false;
  /**
   * The last keys restored straight to disk (about half the cache: what the cache path would have
   * left cached). Their values of states not registered at restore time are checked when those
   * states are registered, as cached values are. Forgotten at the next load from disk, from when
   * keys may change in the cache instead.
   */
  #restoredTail: RestoredKeys[] = [];

  constructor(options: LevelDbKeyedStateBackendOptions) {
    super(options, '{ maxParallelism, keyGroupRange, directory, cacheMaxKeys? }');
    const { directory, cacheMaxKeys = DEFAULT_CACHE_MAX_KEYS, store } = options;
    if (typeof directory !== 'string' || directory.length === 0) {
      throw new StateArgumentError('options.directory', 'must be a non-empty path of a working directory');
    }
    if (!Number.isInteger(cacheMaxKeys) || cacheMaxKeys < 1) {
      throw new StateArgumentError(
        'options.cacheMaxKeys',
        `must be a positive integer (keys kept in memory), got ${String(cacheMaxKeys)}`,
      );
    }
    this.directory = directory;
    this.cacheMaxKeys = cacheMaxKeys;
    this.#store = store ?? new LocalLevelStore(directory);
    this.#written = new Uint8Array(this.maxParallelism);
  }

  /** Number of keys in the cache (may exceed `cacheMaxKeys` until the next `evict()`). */
  get numCachedKeys(): number {
    return this.#cache.keys.size;
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

  /**
   * Creates the directory if needed and opens the database.
   * @throws {StateError} `SLUICE_STATE_STORAGE_FAILED` if LevelDB cannot open it (e.g. another
   *   handle in this process or another holds its lock).
   */
  async open(): Promise<void> {
    if (this.#status !== 'new') {
      throw levelDbStateError(
        'SLUICE_STATE_BACKEND_CLOSED',
        `open() can be called once, on a new backend; this one is ${this.#status}`,
      );
    }
    this.#status = 'opening';
    const db = this.#store;
    try {
      await db.open();
    } catch (cause) {
      this.#status = 'closed';
      const reason = (cause as { cause?: Error }).cause?.message ?? (cause as Error).message;
      throw levelDbStateError(
        'SLUICE_STATE_STORAGE_FAILED',
        `cannot open the LevelDB state directory ${this.directory}: ${reason}; a directory can be open in ` +
          'only one backend at a time (LevelDB locks it), so give every backend its own',
        { cause },
      );
    }
    this.#db = db;
    this.#status = 'open';
  }

  /**
   * Writes every dirty entry back, waits for all writes, and closes the database. Removes
   * nothing: reopening the directory finds the state again. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#status === 'closed' || this.#status === 'closing') return;
    if (this.#status !== 'open') {
      this.#status = 'closed';
      return;
    }
    this.#status = 'closing';
    const db = this.#db!;
    try {
      // Restored keys still in memory go to disk first: reopening the directory finds them.
      await this.#restoreWriter;
      const flush = this.#failure === undefined ? this.#flushDirty() : undefined;
      if (flush !== undefined) await this.#enqueueWrite(flush.seq, flush.ops);
      await this.#writeTail;
      if (this.#failure !== undefined) throw this.#failure;
    } finally {
      this.#cache.clear();
      this.#status = 'closed';
      this.#db = undefined;
      await db.close();
    }
  }

  /** Closes without writing back, then deletes the directory and everything in it. */
  async destroy(): Promise<void> {
    const db = this.#db;
    this.#status = 'closed';
    this.#db = undefined;
    this.#cache.clear();
    this.#stopRestoring = true;
    if (db !== undefined) {
      await this.#restoreWriter;
      await this.#writeTail;
      await db.close();
    }
    await rm(this.directory, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------
  // Keys and state (synchronous, memory only)
  // -------------------------------------------------------------------------------------------

  /**
   * Makes `key` the key every state object reads and writes. Hot path: once per record; besides
   * the shared part, one Map lookup and one store (the key's CLOCK `referenced` flag).
   *
   * Setting a key that is not cached is allowed (an operator may not touch state); using its
   * state is not (`SLUICE_STATE_NOT_PREFETCHED`).
   *
   * @param keyGroup the key's key group if already computed (trusted, not re-hashed).
   * @throws {StateError} `SLUICE_KEY_GROUP_OUT_OF_RANGE` if the key group is not in the range.
   */
  override setCurrentKey(key: Key, keyGroup?: number): void {
    super.setCurrentKey(key, keyGroup);
    const cache = this.#cache;
    const e = cache.keys.get(key);
    cache.entry = e;
    if (e !== undefined) e.referenced = true;
  }

  /**
   * A new state object, with the state id of its name (assigned now, or when its values were seen
   * on disk or restored). Values of this state already cached (loaded or restored before
   * registration) are converted now; those still on disk when they are prefetched.
   *
   * @throws {StateError} `SLUICE_STATE_RESTORE_INVALID` if a cached value does not fit the kind.
   */
  protected createState(descriptor: StateDescriptor): AnyKeyedState {
    const cache = this.#cache;
    const knownId = cache.existingIdOf(descriptor.name);
    const id = knownId ?? cache.idOf(descriptor.name);
    const state = this.newStateObject(
      descriptor,
      new LevelDbStateCell(cache, id, descriptor.name),
      () => new LevelDbEntryCursor(cache, id),
    );
    if (knownId !== undefined) {
      this.#checkRestoredTail(state, id);
      this.#adopt(state, id);
    }
    cache.codecs[id] = state;
    return state;
  }

  /** Decodes the cached snapshot-form values of a state being registered (all or nothing). */
  #adopt(state: AnyKeyedState, id: number): void {
    const cache = this.#cache;
    const decoded: Array<[CachedKey, string, unknown]> = [];
    for (const map of [cache.keys, cache.detached]) {
      for (const e of map.values()) {
        const value = e.slots[id << 1];
        if (value !== undefined) decoded.push([e, '', state.decode(value)]);
        const byNamespace = e.namespaced?.[id];
        if (byNamespace === undefined) continue;
        for (const [namespace, slot] of byNamespace) {
          if (slot.value !== undefined) decoded.push([e, namespace, state.decode(slot.value)]);
        }
      }
    }
    for (const [e, namespace, value] of decoded) {
      if (value === undefined) cache.set(e, id, namespace, undefined);
      // Same snapshot form on disk: converting does not make the entry dirty.
      else if (namespace === '') e.slots[id << 1] = value;
      else e.namespacesOf(id)!.get(namespace)!.value = value;
    }
  }

  /**
   * The CACHED keys that have state `stateName` in `namespace` (default `''`): synchronous, so it
   * cannot see keys only on disk; use {@link keysAsync} for all keys. Lazy, like a Map iterator.
   */
  *keys(stateName: string, namespace = ''): Generator<Key, void, undefined> {
    const cache = this.#cache;
    const id = cache.existingIdOf(stateName);
    if (id === undefined) return;
    for (const e of cache.keys.values()) {
      if (cache.get(e, id, namespace) !== undefined) yield e.key;
    }
  }

  /**
   * Every key (cached or on disk) with state `stateName` in `namespace`, as of the call: writes
   * dirty entries back first, then scans the backend's key groups on a LevelDB snapshot.
   */
  async keysAsync(stateName: string, namespace = ''): Promise<Key[]> {
    this.#openDb('keysAsync');
    const inMemory = new Map<number, PendingAsOf>();
    for (const keyGroup of this.#pendingRestores.keys())
      inMemory.set(keyGroup, this.#pendingAsOfNow(keyGroup)!);
    const snapshot = await this.#flushAndSnapshot();
    const out: Key[] = [];
    for (const pending of inMemory.values()) {
      for (const [name, key, ns] of pending.entries())
        if (name === stateName && ns === namespace) out.push(key);
    }
    try {
      if (this.keyGroupRange.size === 0) return out;
      for await (const page of snapshot.range(
        keyGroupBound(this.keyGroupRange.start),
        keyGroupBound(this.keyGroupRange.end + 1),
        true,
      )) {
        for (const [recordKey] of page) {
          const record = decodeRecordKey(recordKey);
          if (record.stateName !== stateName || record.namespace !== namespace) continue;
          if (inMemory.get(record.keyGroup)?.has(record.key)) continue;
          out.push(record.key);
        }
      }
    } catch (cause) {
      throw storageFailure(cause, `listing keys of state '${stateName}' in ${this.directory}`);
    } finally {
      await snapshot.close();
    }
    return out;
  }

  inMemoryStateEntries(): number {
    return this.numCachedStateEntries();
  }

  /** Number of (key, namespace) entries in the CACHE, of one state or of all. For tests and metrics. */
  numCachedStateEntries(stateName?: string): number {
    const cache = this.#cache;
    const id = stateName === undefined ? undefined : cache.existingIdOf(stateName);
    if (stateName !== undefined && id === undefined) return 0;
    let n = 0;
    for (const e of cache.keys.values()) n += cache.countEntries(e, id);
    return n;
  }

  // -------------------------------------------------------------------------------------------
  // Prefetch and eviction
  // -------------------------------------------------------------------------------------------

  /**
   * Loads the state of every key not cached yet, with its key group (trusted, as in
   * `setCurrentKey`). Returns `undefined` — no promise, no allocation — when every key is cached,
   * the common case; otherwise a promise to await before processing the batch.
   *
   * @throws {StateError} `SLUICE_KEY_GROUP_OUT_OF_RANGE` (assertion) for a key group outside the
   *   range; `SLUICE_STATE_BACKEND_CLOSED` if a key must be loaded and the backend is not open.
   *   The promise rejects with `SLUICE_STATE_STORAGE_FAILED` if LevelDB fails, or
   *   `SLUICE_STATE_RESTORE_INVALID` if a stored value does not fit its registered state.
   */
  prefetch(keys: Iterable<readonly [key: Key, keyGroup: number]>): Promise<void> | undefined {
    const cached = this.#cache.keys;
    let missing: Map<Key, number> | undefined;
    // Hot path: one Map lookup per key; nothing allocated unless a key is missing.
    for (const pair of keys) {
      const key = pair[0];
      if (cached.has(key)) continue;
      if (missing === undefined) missing = new Map();
      missing.set(key, pair[1]);
    }
    return missing === undefined ? undefined : this.#fetch(missing);
  }

  #fetch(missing: Map<Key, number>): Promise<void> | undefined {
    this.#openDb('prefetch');
    this.#restoredTail = [];
    const cache = this.#cache;
    const toLoad: Array<[Key, number]> = [];
    const waits: Array<Promise<void>> = [];
    for (const [key, kg] of missing) {
      if (!this.inRange(kg)) throw this.keyGroupOutOfRange(key, kg);
      // Evicted with its write still in flight: revive it rather than read what may be stale.
      const detached = cache.detached.get(key);
      if (detached !== undefined) {
        cache.detached.delete(key);
        cache.insert(detached);
        continue;
      }
      const loading = this.#loading.get(key);
      if (loading !== undefined) {
        waits.push(loading);
        continue;
      }
      // Restored, and maybe not on disk yet: from memory. A key of a restore not pending any more
      // is on disk (the restore is forgotten only once all its batches are written).
      const restore = this.#pendingRestores.get(kg);
      const k = restore?.pendingIndexOf(key);
      if (k === undefined) toLoad.push([key, kg]);
      else {
        try {
          this.#take(restore!, k);
        } catch (error) {
          return Promise.reject(error);
        }
      }
    }
    if (toLoad.length > 0) {
      const batch = toLoad;
      const load: Promise<void> = this.#load(batch).finally(() => {
        for (const [key] of batch) if (this.#loading.get(key) === load) this.#loading.delete(key);
      });
      for (const [key] of batch) this.#loading.set(key, load);
      waits.push(load);
    }
    if (waits.length === 0) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(noop);
  }

  /**
   * Reads keys with no pending write: their manifests and every entry they list, in one call to
   * the store (`stored-keys.ts`: one round trip to the LevelDB host, whatever the states).
   */
  async #load(batch: ReadonlyArray<[Key, number]>): Promise<void> {
    const db = this.#db!;
    const cache = this.#cache;
    const prefixes = batch.map(([key, kg]) => encodeKeyPrefix(kg, key));
    // For each entry listed, in the order the store returns them: the index of its key in
    // `batch`, its state id, its namespace.
    const owners: number[] = [];
    const ids: number[] = [];
    const namespaces: string[] = [];
    let values: Array<Buffer | undefined>;
    let manifests: Array<Buffer | undefined>;
    try {
      ({ manifests, entries: values } = await db.readKeys(prefixes, this.#guessedStates ?? cache.names));
      let withState = 0;
      const defaultEntries = new Array<number>(cache.numStates).fill(0);
      for (let i = 0; i < batch.length; i++) {
        const bytes = manifests[i];
        if (bytes === undefined) continue;
        withState++;
        for (const [name, nss] of parseManifest(bytes, () => batch[i]![0])) {
          const id = cache.idOf(name);
          for (const namespace of nss) {
            owners.push(i);
            ids.push(id);
            namespaces.push(namespace);
            if (namespace === '') defaultEntries[id] = (defaultEntries[id] ?? 0) + 1;
          }
        }
      }
      if (values.length !== owners.length) {
        throw new Error(`bug: the store returned ${values.length} entries for ${owners.length} listed`);
      }
      if (withState > 0) {
        this.#guessedStates = cache.names.filter((_, id) => 2 * (defaultEntries[id] ?? 0) >= withState);
      }
    } catch (cause) {
      throw storageFailure(cause, `reading the state of ${batch.length} keys from ${this.directory}`);
    }
    // No await from here on: the keys are built and inserted in one go (state ids, registered
    // codecs and the cache are as of now).
    const built = batch.map(([key, kg], i) => {
      const e = new CachedKey(key, kg, cache.numStates);
      e.manifestOnDisk = manifests[i] !== undefined;
      return e;
    });
    let tombstones = false;
    for (let j = 0; j < owners.length; j++) {
      const e = built[owners[j]!]!;
      const bytes = values[j];
      if (bytes === undefined) {
        throw levelDbStateError(
          'SLUICE_STATE_STORAGE_CORRUPT',
          `the manifest of key ${describeKey(e.key)} lists an entry of state '${cache.names[ids[j]!]}' that is ` +
            `not in ${this.directory}`,
        );
      }
      const id = ids[j]!;
      const codec = cache.codecs[id];
      const stored = diskCodec.unpack(bytes);
      const value = codec === undefined ? stored : codec.decode(stored);
      const namespace = namespaces[j]!;
      // An empty value on disk (restored before its state was registered) is removed on write-back.
      const flags = value === undefined ? ON_DISK | DIRTY : ON_DISK;
      if (value === undefined) {
        tombstones = true;
        e.shapeChanged = true;
      }
      if (namespace === '') {
        e.slots[id << 1] = value;
        e.slots[(id << 1) + 1] = flags;
      } else {
        e.namespacesOf(id, true).set(namespace, new NsSlot(value, flags));
      }
    }
    for (const e of built) {
      // Cached meanwhile (restored, or revived): memory is newer than what was read.
      if (cache.keys.has(e.key) || cache.detached.has(e.key)) continue;
      cache.insert(e);
      if (tombstones && e.shapeChanged) {
        e.dirty = true;
        cache.dirtyKeys.add(e);
      }
    }
  }

  /**
   * While more than `cacheMaxKeys` keys are cached, drops the least recently used ones (CLOCK; never
   * the current key), writing their dirty entries back in one `batch()` (removed entries become
   * deletes). Returns `undefined` when nothing had to be written or the write may go on behind
   * the task, and the write's promise when more than MAX_EVICTIONS_IN_FLIGHT are queued.
   *
   * @throws {StateError} `SLUICE_STATE_STORAGE_FAILED` if a value cannot be serialised (nothing
   *   is evicted then) or an earlier write failed.
   */
  evict(): Promise<void> | undefined {
    const cache = this.#cache;
    const excess = cache.keys.size - this.cacheMaxKeys;
    if (excess <= 0) return undefined;
    this.#openDb('evict');
    const ctx = this.keyContext;
    const current = ctx.keyGroup < 0 ? undefined : (cache.entry ?? cache.keys.get(ctx.key));
    const victims = cache.pickVictims(excess, current);
    const ops: WriteOp[] = [];
    for (const e of victims) {
      if (e.dirty) cache.collect(e, ops); // may throw: no entry has changed yet
    }
    const seq = ops.length === 0 ? 0 : ++this.#issuedSeq;
    const written = this.#written;
    for (const e of victims) {
      if (e.dirty) {
        cache.commit(e, seq);
        written[e.keyGroup] = 1;
      }
      cache.remove(e);
      if (e.writeSeq > this.#completedSeq) cache.detached.set(e.key, e);
    }
    if (ops.length === 0) return undefined;
    // Write-behind: the evicted entries wait in `detached` until their write is done (a prefetch
    // revives them from there), so the task need not wait for the disk, only for room: once
    // more than MAX_EVICTIONS_IN_FLIGHT writes are queued it waits for this one. A write that
    // fails fails the backend (#enqueue), and the next call throws.
    const write = this.#enqueueWrite(seq, ops);
    this.#evictionsInFlight++;
    // Also what keeps a failure nobody waits for from being an unhandled rejection.
    const done = (): void => {
      this.#evictionsInFlight--;
    };
    write.then(done, done);
    return this.#evictionsInFlight > MAX_EVICTIONS_IN_FLIGHT ? write : undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Snapshot and restore (per key group, the heap backend's format)
  // -------------------------------------------------------------------------------------------

  /**
   * Every entry of every state in key group `keyGroup`, as plain data in the heap backend's
   * format (lists as arrays, maps as `[key, value]` pairs), including states not registered.
   * Point-in-time as of the call: dirty entries are serialised synchronously, written, and the
   * key group read from a LevelDB snapshot; later state changes do not show. Values of registered
   * states with TTL that are expired as of the call are left out (unless `ttl.cleanup.inSnapshots`
   * is `false`).
   */
  async snapshotKeyGroup(keyGroup: number): Promise<KeyGroupSnapshotEntry[]> {
    this.indexOfKeyGroup(keyGroup, 'snapshotKeyGroup');
    this.#openDb('snapshotKeyGroup');
    const inMemory = this.#pendingAsOfNow(keyGroup);
    const nowMs = this.clock();
    const snapshot = await this.#flushAndSnapshot();
    const out: KeyGroupSnapshotEntry[] = [];
    for (const [name, key, namespace, stored] of inMemory?.entries() ?? []) {
      const state = this.registeredState(name);
      const value = state === undefined ? stored : state.pruneEncoded(stored, nowMs);
      if (value !== undefined) out.push([name, key, namespace, value]);
    }
    try {
      for await (const page of snapshot.range(keyGroupBound(keyGroup), keyGroupBound(keyGroup + 1), false)) {
        for (const [recordKey, bytes] of page) {
          const record = decodeRecordKey(recordKey);
          if (record.stateName === undefined) continue; // a manifest
          if (inMemory?.has(record.key)) continue; // maybe written already, but memory is the answer
          const state = this.registeredState(record.stateName);
          const stored: unknown = diskCodec.unpack(bytes);
          // Expired values of TTL state are left out (see KeyedState.pruneEncoded).
          const value = state === undefined ? stored : state.pruneEncoded(stored, nowMs);
          if (value !== undefined) out.push([record.stateName, record.key, record.namespace, value]);
        }
      }
    } catch (cause) {
      throw storageFailure(cause, `reading key group ${keyGroup} from ${this.directory}`);
    } finally {
      await snapshot.close();
    }
    return out;
  }

  /**
   * Loads entries produced by a `snapshotKeyGroup` (of this or the heap backend, with any range)
   * into key group `keyGroup`, overwriting entries with the same state, key and namespace. Every
   * entry is validated before anything changes. Do not prefetch concurrently.
   *
   * Two paths. Keys with nothing on disk and nothing in memory — every key, when the runtime
   * restores into the fresh directory of a new attempt — are written straight to disk in large
   * sorted batches, in the background ({@link #restoreInBackground}): this resolves once the
   * entries are checked and decoded; until a key is on disk, a load takes it from the restore's
   * memory and a snapshot reads it from there; `close()` waits for the writes, and a failed one
   * fails the backend (`SLUICE_STATE_STORAGE_FAILED` on its next use).
   * Other keys are loaded, updated in the cache and written back in chunks, so that they merge
   * with the state they have and memory stays within `cacheMaxKeys`.
   *
   * @throws {StateError} `SLUICE_STATE_RESTORE_INVALID` if an entry is malformed or its key does
   *   not belong to `keyGroup`; values of states not registered yet are checked on registration
   *   (if cached) or when prefetched.
   */
  async restoreKeyGroup(
    keyGroup: number,
    entries: Iterable<readonly [string, Key, string, unknown]>,
  ): Promise<void> {
    this.indexOfKeyGroup(keyGroup, 'restoreKeyGroup');
    this.#openDb('restoreKeyGroup');
    const cache = this.#cache;
    const restored = new RestoredEntries();
    for (const entry of entries) {
      this.checkRestoredEntry(keyGroup, entry);
      const [name, key, namespace, encoded] = entry;
      if (encoded === undefined) continue;
      const id = cache.idOf(name);
      const codec = cache.codecs[id];
      if (codec === undefined) restored.unregistered.add(id);
      restored.add(key, id, namespace, codec === undefined ? encoded : codec.decode(encoded));
    }
    const keys = restored.keys;
    if (keys.length === 0) return;
    // Nothing of this key group on disk: it was empty when opened, and nothing was written since.
    const emptyOnDisk = this.#written[keyGroup] === 0 && (await this.#isEmptyAtOpen());
    const direct: number[] = [];
    const viaCache: number[] = [];
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      const inMemory = cache.keys.has(key) || cache.detached.has(key) || this.#loading.has(key);
      (emptyOnDisk && !inMemory ? direct : viaCache).push(k);
    }
    if (direct.length > 0) this.#restoreInBackground(new PendingRestore(keyGroup, restored, direct));
    // Half the cache per chunk: the chunk's keys survive the evict() that follows it.
    const chunkSize = Math.max(1, Math.floor(this.cacheMaxKeys / 2));
    for (let from = 0; from < viaCache.length; from += chunkSize) {
      const chunk = viaCache.slice(from, from + chunkSize);
      const load = this.prefetch(chunk.map((k) => [keys[k]!, keyGroup] as const));
      if (load !== undefined) await load;
      for (const k of chunk) {
        const e = cache.keys.get(keys[k]!)!;
        for (let i = restored.first[k]!; i !== -1; i = restored.next[i]!) {
          cache.set(e, restored.ids[i]!, restored.namespaces[i]!, restored.values[i]);
        }
      }
      const write = this.evict();
      if (write !== undefined) await write;
    }
  }

  /**
   * Whether the database held nothing in this backend's key groups when it was opened: one range
   * probe, on the first restore. Known only while nothing was written yet (the runtime restores
   * right after `open()`); later, `false`.
   */
  #isEmptyAtOpen(): Promise<boolean> {
    this.#emptyAtOpen ??=
      this.#issuedSeq > 0
        ? Promise.resolve(false)
        : this.#enqueue(async () => {
            const snapshot = await this.#db!.snapshot();
            try {
              const { start, end } = this.keyGroupRange;
              for await (const page of snapshot.range(keyGroupBound(start), keyGroupBound(end + 1), true)) {
                return page.length === 0;
              }
              return true;
            } finally {
              await snapshot.close();
            }
          });
    return this.#emptyAtOpen;
  }

  /**
   * Queues restored keys that have nothing on disk or in memory to be written straight to
   * LevelDB in the background, and serves them from memory meanwhile (a load takes a key into the
   * cache, and the writer skips it; a snapshot reads what is still pending from memory): the task
   * processes records while the restore goes to disk. The writer sends their manifests and
   * entries, built packed (`bulk-restore.ts`) in batches of up to 64k records sorted by record key
   * (keys in their on-disk order, each key's manifest before its entries): no cache entry, no read
   * from disk and no write-back per key; and since the runtime restores key groups in ascending
   * order, LevelDB's memtables flush into files with disjoint key ranges, which its compaction
   * moves down a level instead of merging and rewriting them.
   */
  #restoreInBackground(restore: PendingRestore): void {
    // Marked before anything is written: from now on this key group is not empty on disk.
    this.#written[restore.keyGroup] = 1;
    this.#pendingRestores.set(restore.keyGroup, restore);
    this.#restoreQueue.push(restore);
    // Started on the next turn of the event loop, not now: the other key groups of the restore
    // are decoded and the task opens first (restores follow one another without I/O).
    this.#restoreWriter ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#writeRestores())
      .finally(() => {
        this.#restoreWriter = undefined;
      });
    // The last half-cache of keys restored, for #checkRestoredTail.
    const { entries, keyIndexes } = restore;
    if (entries.unregistered.size === 0) return;
    const tail = this.#restoredTail;
    const tailMax = Math.max(1, Math.floor(this.cacheMaxKeys / 2));
    tail.push({ entries, keyIndexes: keyIndexes.slice(-tailMax) });
    let tailKeys = 0;
    for (const part of tail) tailKeys += part.keyIndexes.length;
    while (tail.length > 1 && tailKeys - tail[0]!.keyIndexes.length >= tailMax) {
      tailKeys -= tail.shift()!.keyIndexes.length;
    }
  }

  /**
   * Sends the queued restores, batch by batch, at most {@link RESTORE_BATCHES_IN_FLIGHT} in
   * flight. A batch is built only once there is room for it and sent at once, so a key taken into
   * the cache before that is left out of it, and one taken after is written back after it.
   * A restore is forgotten (its keys read from disk) once all its batches are on disk.
   */
  async #writeRestores(): Promise<void> {
    const queue = this.#restoreQueue;
    const inFlight = this.#restoreWrites;
    while (queue.length > 0) {
      const restore = queue[0]!;
      const batches = restoredRecords(this.#cache, restore);
      const sent: Array<Promise<void>> = [];
      for (;;) {
        while (inFlight.length >= RESTORE_BATCHES_IN_FLIGHT) await inFlight[0];
        if (this.#stopRestoring || this.#failure !== undefined) {
          queue.length = 0;
          return;
        }
        const batch = batches.next();
        if (batch.done === true) break;
        sent.push(this.#sendRestoredBatch(batch.value.keys, batch.value.values));
      }
      queue.shift();
      void Promise.all(sent).then(() => {
        if (this.#pendingRestores.get(restore.keyGroup) === restore) {
          this.#pendingRestores.delete(restore.keyGroup);
        }
      });
    }
  }

  /**
   * Takes restored key `k` of `restore` into the cache, as if loaded: its entries count as on disk
   * (the writer may have written them, so removing one must write a delete) and as dirty (it may
   * not have, and skips the key from now on), so the cache writes the key back.
   */
  #take(restore: PendingRestore, k: number): void {
    const cache = this.#cache;
    const { entries } = restore;
    // Values of states registered since the restore are decoded now (may throw: nothing changed yet).
    const values: unknown[] = [];
    for (let i = entries.first[k]!; i !== -1; i = entries.next[i]!) {
      const id = entries.ids[i]!;
      const codec = cache.codecs[id];
      const value = entries.values[i];
      values.push(entries.unregistered.has(id) && codec !== undefined ? codec.decode(value) : value);
    }
    restore.state[k] = TAKEN;
    const e = new CachedKey(entries.keys[k]!, restore.keyGroup, cache.numStates);
    e.manifestOnDisk = true;
    for (let i = entries.first[k]!, j = 0; i !== -1; i = entries.next[i]!, j++) {
      const value = values[j];
      if (value === undefined) continue;
      const id = entries.ids[i]!;
      const namespace = entries.namespaces[i]!;
      if (namespace === '') {
        e.slots[id << 1] = value;
        e.slots[(id << 1) + 1] = ON_DISK | DIRTY;
      } else {
        e.namespacesOf(id, true).set(namespace, new NsSlot(value, ON_DISK | DIRTY));
      }
    }
    e.shapeChanged = true;
    e.dirty = true;
    cache.dirtyKeys.add(e);
    cache.insert(e);
  }

  /**
   * The keys of key group `keyGroup` still served from memory by its restore, as of now, and
   * their entries in snapshot form; `undefined` if none.
   */
  #pendingAsOfNow(keyGroup: number): PendingAsOf | undefined {
    const restore = this.#pendingRestores.get(keyGroup);
    if (restore === undefined) return undefined;
    const pending: number[] = [];
    for (const k of restore.keyIndexes) if (restore.state[k] === PENDING) pending.push(k);
    if (pending.length === 0) return undefined;
    const keys = new Set(pending.map((k) => restore.entries.keys[k]!));
    const cache = this.#cache;
    const encode = (id: number, value: unknown) => cache.codecs[id]!.encode(value);
    return {
      has: (key) => keys.has(key),
      entries: () => pending.flatMap((k) => restore.snapshotEntriesOf(k, cache.names, encode)),
    };
  }

  /**
   * Decodes the values of state `id` in {@link #restoredTail} that were restored before it was
   * registered, for the check only (they stay on disk in snapshot form, decoded when loaded).
   * @throws {StateError} `SLUICE_STATE_RESTORE_INVALID` if one does not fit the state's kind.
   */
  #checkRestoredTail(state: AnyKeyedState, id: number): void {
    for (const { entries, keyIndexes } of this.#restoredTail) {
      if (!entries.unregistered.has(id)) continue;
      for (const k of keyIndexes) {
        for (let i = entries.first[k]!; i !== -1; i = entries.next[i]!) {
          if (entries.ids[i] === id) state.decode(entries.values[i]);
        }
      }
    }
  }

  /**
   * Sends a batch of restored records, to be written after every write issued before it but
   * alongside the other restore batches: they hold other keys, so LevelDB may commit them
   * together while the host thread converts the next one, and this thread builds the next. Writes
   * issued later wait for all of them. Returns when the batch is on disk (never rejects: a
   * failure fails the backend).
   */
  #sendRestoredBatch(keys: PackedBuffers, values: PackedBuffers): Promise<void> {
    const inFlight = this.#restoreWrites;
    this.#restoreBase ??= this.#writeTail;
    const db = this.#db!;
    const write = this.#restoreBase.then(async () => {
      if (this.#failure !== undefined) throw this.#failure;
      try {
        await db.putPacked(keys, values);
      } catch (cause) {
        throw storageFailure(
          cause,
          `writing ${keys.lengths.length} restored state records to ${this.directory}`,
        );
      }
    });
    const done = write.then(noop, (error: unknown) => {
      this.#failure ??=
        error instanceof StateError ? error : storageFailure(error, `writing to ${this.directory}`);
    });
    inFlight.push(done);
    void done.then(() => inFlight.splice(inFlight.indexOf(done), 1));
    this.#writeTail = Promise.all([this.#writeTail, done]).then(noop);
    return done;
  }

  // -------------------------------------------------------------------------------------------
  // Writes
  // -------------------------------------------------------------------------------------------

  /** Serialises every dirty key (synchronously) and marks it written by a new write number. */
  #flushDirty(): { seq: number; ops: WriteOp[] } | undefined {
    const cache = this.#cache;
    if (cache.dirtyKeys.size === 0) return undefined;
    const dirty = [...cache.dirtyKeys];
    const ops: WriteOp[] = [];
    for (const e of dirty) cache.collect(e, ops);
    const seq = ops.length === 0 ? 0 : ++this.#issuedSeq;
    const written = this.#written;
    for (const e of dirty) {
      cache.commit(e, seq);
      written[e.keyGroup] = 1;
    }
    return ops.length === 0 ? undefined : { seq, ops };
  }

  /** Writes back everything dirty now, then takes a LevelDB snapshot after that write (and all before). */
  #flushAndSnapshot(): Promise<LevelSnapshot> {
    const db = this.#db!;
    const flush = this.#flushDirty();
    return this.#enqueue(async () => {
      if (flush !== undefined) await this.#batch(flush.seq, flush.ops);
      return db.snapshot();
    });
  }

  #enqueueWrite(seq: number, ops: WriteOp[]): Promise<void> {
    return this.#enqueue(() => this.#batch(seq, ops));
  }

  async #batch(seq: number, ops: WriteOp[]): Promise<void> {
    try {
      await this.#db!.batch(ops);
    } catch (cause) {
      throw storageFailure(cause, `writing ${ops.length} state records to ${this.directory}`);
    }
    this.#completedSeq = seq;
    // Keys evicted with this write (or an earlier one) in flight are on disk now.
    const detached = this.#cache.detached;
    for (const [key, e] of detached) if (e.writeSeq <= seq) detached.delete(key);
  }

  /** Runs `job` after every job enqueued before it; a failed job fails the backend. */
  #enqueue<T>(job: () => Promise<T>): Promise<T> {
    this.#restoreBase = undefined; // restore batches issued after this job wait for it
    const run = this.#writeTail.then(() => {
      if (this.#failure !== undefined) throw this.#failure;
      return job();
    });
    this.#writeTail = run.then(noop, (error: unknown) => {
      this.#failure ??=
        error instanceof StateError ? error : storageFailure(error, `writing to ${this.directory}`);
    });
    return run;
  }

  // -------------------------------------------------------------------------------------------
  // Checks
  // -------------------------------------------------------------------------------------------

  #openDb(method: string): LevelStore {
    if (this.#failure !== undefined) {
      throw levelDbStateError(
        'SLUICE_STATE_STORAGE_FAILED',
        `${method}() refused: an earlier write to ${this.directory} failed, so disk and memory disagree; ` +
          'restart from the last checkpoint',
        { cause: this.#failure },
      );
    }
    if (this.#status !== 'open' || this.#db === undefined) {
      throw levelDbStateError(
        'SLUICE_STATE_BACKEND_CLOSED',
        `${method}() needs an open backend, but it is ${this.#status}` +
          (this.#status === 'new' ? '; call and await open() first' : ''),
      );
    }
    return this.#db;
  }
}

function storageFailure(cause: unknown, doing: string): StateError {
  if (cause instanceof StateError) return cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return levelDbStateError('SLUICE_STATE_STORAGE_FAILED', `${doing} failed: ${message}`, { cause });
}
