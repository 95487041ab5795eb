/** {@link LevelStore} on a classic-level database opened in the calling thread. */

import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import { readStoredKeys, type StoredKeys } from '../stored-keys.ts';
import { type LevelSnapshot, type LevelStore, RANGE_PAGE_SIZE, type WriteOp } from './level-store.ts';
import { type PackedBuffers, unpackBuffers } from './wire.ts';

type Db = ClassicLevel<Buffer, Buffer>;

/** Keys per part, at least, when a `getMany` is split (below this, a part costs more than it saves). */
const GET_MANY_PART_KEYS = 128;
/** Parts of a split `getMany` at most: libuv's default thread pool (the addon reads on it) has 4 threads. */
const GET_MANY_MAX_PARTS = 4;

/**
 * `db.getMany(keys)` as up to {@link GET_MANY_MAX_PARTS} concurrent calls, in order. One call reads
 * its keys one after the other on one thread of the pool; a prefetch's read (the manifests and
 * entries of ~460 missing keys, 920 gets) took 1.31 ms as one call, 1.02 ms as two, 0.90 ms as
 * four (same database, interleaved rounds, quiet 2-core machine).
 */
function getManySplit(
  db: Db,
  keys: readonly Buffer[],
  snapshot: ReturnType<Db['snapshot']> | undefined,
): Promise<Array<Buffer | undefined>> {
  const options = snapshot === undefined ? {} : { snapshot };
  const parts = Math.min(GET_MANY_MAX_PARTS, Math.floor(keys.length / GET_MANY_PART_KEYS));
  if (parts <= 1) return db.getMany(keys as Buffer[], options);
  const size = Math.ceil(keys.length / parts);
  const calls: Array<Promise<Array<Buffer | undefined>>> = [];
  for (let from = 0; from < keys.length; from += size)
    calls.push(db.getMany(keys.slice(from, from + size), options));
  return Promise.all(calls).then((results) => results.flat());
}

export class LocalLevelStore implements LevelStore {
  readonly directory: string;
  #db: Db | undefined;
  #closing: Promise<void> | undefined;

  constructor(directory: string) {
    this.directory = directory;
  }

  // Created here, not in the constructor: a new ClassicLevel opens itself on the next tick.
  async open(): Promise<void> {
    if (this.#db !== undefined) throw new Error(`${this.directory} is already open`);
    await mkdir(this.directory, { recursive: true });
    this.#db = new ClassicLevel<Buffer, Buffer>(this.directory, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    });
    await this.#db.open();
  }

  getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    return getManySplit(this.#opened(), keys, undefined);
  }

  async readKeys(prefixes: readonly Buffer[], guessedStates: readonly string[]): Promise<StoredKeys> {
    const db = this.#opened();
    // Taken now, synchronously: both reads see the database as of the call (every part of a split one too).
    const snapshot = db.snapshot();
    try {
      return await readStoredKeys((keys) => getManySplit(db, keys, snapshot), prefixes, guessedStates);
    } finally {
      await snapshot.close();
    }
  }

  batch(ops: readonly WriteOp[]): Promise<void> {
    // A chained batch, not batch(array): that clones every op into a new object and the addon
    // then reads three properties of each (measured: about half the time per op).
    const batch = this.#opened().batch();
    try {
      for (const op of ops) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
    } catch (error) {
      return batch.close().then(() => Promise.reject(error));
    }
    return batch.write();
  }

  putPacked(keys: PackedBuffers, values: PackedBuffers): Promise<void> {
    const keyViews = unpackBuffers(keys);
    const valueViews = unpackBuffers(values);
    if (keyViews.length !== valueViews.length) {
      return Promise.reject(new Error(`putPacked: ${keyViews.length} keys but ${valueViews.length} values`));
    }
    const batch = this.#opened().batch();
    for (let i = 0; i < keyViews.length; i++) batch.put(keyViews[i]!, valueViews[i]!);
    return batch.write();
  }

  async snapshot(): Promise<LevelSnapshot> {
    const db = this.#opened();
    const snapshot = db.snapshot();
    return {
      async *range(gte, lt, keysOnly) {
        const iterator = db.iterator({ gte, lt, snapshot, keys: true, values: !keysOnly });
        const empty = Buffer.alloc(0);
        try {
          for (;;) {
            const page = await iterator.nextv(RANGE_PAGE_SIZE);
            if (page.length === 0) return;
            yield keysOnly ? page.map(([key]) => [key, empty]) : (page as Array<[Buffer, Buffer]>);
          }
        } finally {
          await iterator.close();
        }
      },
      close: () => snapshot.close(),
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#db?.close() ?? Promise.resolve();
    return this.#closing;
  }

  #opened(): Db {
    if (this.#db === undefined) throw new Error(`${this.directory} is not open`);
    return this.#db;
  }
}
