/**
 * The LevelDB backend's fast restore: the entries of one `restoreKeyGroup`, checked and grouped by
 * key without an object per entry, turned into the backend's records (`key-codec.ts`) written
 * straight into packed batches for `LevelStore.putPacked`. Used for keys that have nothing on disk
 * and nothing in memory, which is every key when the runtime restores into the fresh directory of
 * a new attempt. Those keys are written in the background (a {@link PendingRestore} per key
 * group) and served from these entries until they are on disk. Internal to `state/`.
 *
 * Shaped for speed: a restore of 1,000,000 keys allocates per key only its record key prefix and
 * its msgpack value, not a Buffer, an op object and a tuple per record, which cost as much in
 * garbage collection as the rest together (measured with `--cpu-prof`).
 */

import type { Key } from '../key-groups.ts';
import { encodeKeyPrefix } from './key-codec.ts';
import { type PackedBuffers, PackedBuilder } from './level-store/wire.ts';
import { diskCodec, type LevelDbStateCache } from './state-cache.ts';

/**
 * Restored entries, grouped by key in arrays: entry `i` has state id `ids[i]`, namespace
 * `namespaces[i]` and value `values[i]` (decoded if its state is registered, else in snapshot
 * form; `undefined` when decoding left it empty); a key's entries are a chain from `first[k]`
 * through `next[i]` to -1, in the order they came.
 */
export class RestoredEntries {
  /** Distinct keys, in the order first seen. */
  readonly keys: Key[] = [];
  readonly first: number[] = [];
  readonly ids: number[] = [];
  readonly namespaces: string[] = [];
  readonly values: unknown[] = [];
  readonly next: number[] = [];
  /** State ids with no registered state when restored: their values are in snapshot form. */
  readonly unregistered = new Set<number>();
  readonly #indexOf = new Map<Key, number>();
  readonly #last: number[] = [];

  /** The index of `key` in {@link keys}, if it has entries here. */
  indexOf(key: Key): number | undefined {
    return this.#indexOf.get(key);
  }

  add(key: Key, id: number, namespace: string, value: unknown): void {
    const entry = this.ids.length;
    this.ids.push(id);
    this.namespaces.push(namespace);
    this.values.push(value);
    this.next.push(-1);
    const k = this.#indexOf.get(key);
    if (k === undefined) {
      this.#indexOf.set(key, this.keys.length);
      this.keys.push(key);
      this.first.push(entry);
      this.#last.push(entry);
    } else {
      this.next[this.#last[k]!] = entry;
      this.#last[k] = entry;
    }
  }
}

/** Records per batch: one message to the LevelDB host and one LevelDB batch per 64k records. */
export const RESTORE_BATCH_RECORDS = 65_536;

/** {@link PendingRestore.state} of a key not written by this restore (it went through the cache). */
export const NOT_DIRECT = 0;
/** {@link PendingRestore.state} of a key still served from the restore's entries. */
export const PENDING = 1;
/** {@link PendingRestore.state} of a key taken into the cache: the cache writes it, the restore skips it. */
export const TAKEN = 2;

/**
 * The keys of one restored key group that go to disk in the background: each key stays
 * {@link PENDING} (served from `entries`) until a load takes it into the cache; the writer skips
 * keys taken before their batch is built. The backend forgets the restore once every batch of it
 * is on disk, and reads those keys from disk from then on.
 */
export class PendingRestore {
  readonly keyGroup: number;
  readonly entries: RestoredEntries;
  /** Indexes (into `entries.keys`) of the keys written by this restore, in the order they came. */
  readonly keyIndexes: readonly number[];
  /** By key index: {@link NOT_DIRECT}, {@link PENDING} or {@link TAKEN}. */
  readonly state: Uint8Array;

  constructor(keyGroup: number, entries: RestoredEntries, keyIndexes: readonly number[]) {
    this.keyGroup = keyGroup;
    this.entries = entries;
    this.keyIndexes = keyIndexes;
    this.state = new Uint8Array(entries.keys.length);
    for (const k of keyIndexes) this.state[k] = PENDING;
  }

  /** The index of `key` if this restore still serves it from memory. */
  pendingIndexOf(key: Key): number | undefined {
    const k = this.entries.indexOf(key);
    return k !== undefined && this.state[k] === PENDING ? k : undefined;
  }

  /**
   * Key `k`'s entries, the latest per state and namespace, in snapshot form (values of states
   * registered at restore time were decoded: `encode` turns them back).
   */
  snapshotEntriesOf(
    k: number,
    names: readonly string[],
    encode: (id: number, value: unknown) => unknown,
  ): Array<[string, Key, string, unknown]> {
    const { keys, first, ids, namespaces, values, next, unregistered } = this.entries;
    const latest = new Map<string, number>();
    for (let e = first[k]!; e !== -1; e = next[e]!) latest.set(`${ids[e]}/${namespaces[e]}`, e);
    const out: Array<[string, Key, string, unknown]> = [];
    for (const e of latest.values()) {
      const value = values[e];
      if (value === undefined) continue;
      const id = ids[e]!;
      out.push([names[id]!, keys[k]!, namespaces[e]!, unregistered.has(id) ? value : encode(id, value)]);
    }
    return out;
  }
}

/**
 * The records of the keys of `restore` still {@link PENDING} when their batch is built: each key's
 * manifest and entries, sorted by record key (the keys in their on-disk order, each key's manifest
 * first), in batches of about {@link RESTORE_BATCH_RECORDS}. Later entries of the same state and
 * namespace win; values left empty are not written.
 * @throws {StateError} `SLUICE_STATE_STORAGE_FAILED` if a value cannot be serialised.
 */
export function* restoredRecords(
  cache: LevelDbStateCache,
  restore: PendingRestore,
): Generator<{ keys: PackedBuffers; values: PackedBuffers }, void, undefined> {
  const { keyGroup, entries, keyIndexes, state } = restore;
  const { keys: allKeys, first, ids, namespaces, values, next } = entries;
  const prefixes = keyIndexes.map((k) => encodeKeyPrefix(keyGroup, allKeys[k]!));
  const order = Array.from(prefixes.keys()).sort((a, b) => Buffer.compare(prefixes[a]!, prefixes[b]!));
  /** Packed manifests of keys with one entry, by state id and namespace: most keys share one. */
  const singleManifests = new Map<string, Buffer>();
  const recordKeys = new PackedBuilder();
  const recordValues = new PackedBuilder();
  for (const i of order) {
    const k = keyIndexes[i]!;
    // Taken into the cache since the restore (the generator runs batch by batch): the cache writes it.
    if (state[k] !== PENDING) continue;
    const key = allKeys[k]!;
    const prefix = prefixes[i]!;
    const entry = first[k]!;
    if (next[entry] === -1) {
      // One entry, the common case of every keyed operator: no grouping, a shared manifest.
      const value = values[entry];
      if (value === undefined) continue;
      const id = ids[entry]!;
      const namespace = namespaces[entry]!;
      const shape = `${id}/${namespace}`;
      let manifest = singleManifests.get(shape);
      if (manifest === undefined) {
        manifest = Buffer.from(diskCodec.pack([[cache.names[id]!, [namespace]]])); // kept: a copy
        singleManifests.set(shape, manifest);
      }
      put(recordKeys, recordValues, prefix, manifest);
      recordKeys.begin();
      recordKeys.append(prefix);
      recordKeys.append(cache.encodedNames[id]!);
      recordKeys.appendString(namespace);
      recordKeys.end();
      recordValues.begin();
      // In snapshot form if its state was not registered at restore time (it may be by now).
      recordValues.append(cache.serialise(key, id, namespace, value, entries.unregistered.has(id)));
      recordValues.end();
    } else {
      severalEntries(cache, key, prefix, entries, entry, recordKeys, recordValues);
    }
    if (recordKeys.count >= RESTORE_BATCH_RECORDS) {
      yield { keys: recordKeys.build(), values: recordValues.build() };
    }
  }
  if (recordKeys.count > 0) yield { keys: recordKeys.build(), values: recordValues.build() };
}

function put(keys: PackedBuilder, values: PackedBuilder, key: Uint8Array, value: Uint8Array): void {
  keys.begin();
  keys.append(key);
  keys.end();
  values.begin();
  values.append(value);
  values.end();
}

/** The records of a key with several entries, from entry `entry` on its chain. */
function severalEntries(
  cache: LevelDbStateCache,
  key: Key,
  prefix: Buffer,
  entries: RestoredEntries,
  entry: number,
  keys: PackedBuilder,
  values: PackedBuilder,
): void {
  const latest = new Map<string, number>();
  for (let e = entry; e !== -1; e = entries.next[e]!)
    latest.set(`${entries.ids[e]}/${entries.namespaces[e]}`, e);
  const manifest = new Map<number, string[]>();
  const records: Array<[Buffer, Buffer]> = [];
  for (const e of latest.values()) {
    const value = entries.values[e];
    if (value === undefined) continue;
    const id = entries.ids[e]!;
    const namespace = entries.namespaces[e]!;
    let list = manifest.get(id);
    if (list === undefined) {
      list = [];
      manifest.set(id, list);
    }
    list.push(namespace);
    const recordKey = Buffer.concat([prefix, cache.encodedNames[id]!, Buffer.from(namespace, 'utf8')]);
    records.push([recordKey, cache.serialise(key, id, namespace, value, entries.unregistered.has(id))]);
  }
  if (records.length === 0) return;
  put(
    keys,
    values,
    prefix,
    diskCodec.pack([...manifest].map(([id, namespaces]) => [cache.names[id]!, namespaces])),
  );
  records.sort((a, b) => Buffer.compare(a[0], b[0]));
  for (const [recordKey, value] of records) put(keys, values, recordKey, value);
}
