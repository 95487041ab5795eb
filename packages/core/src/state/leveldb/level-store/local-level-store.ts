/** {@link LevelStore} on a classic-level database opened in the calling thread. */

import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import { readStoredKeys, type StoredKeys } from '../stored-keys.ts';
import { type LevelSnapshot, type LevelStore, RANGE_PAGE_SIZE, type WriteOp } from './level-store.ts';
import { type PackedBuffers, unpackBuffers } from './wire.ts';

type Db = ClassicLevel<Buffer, Buffer>;

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
    return this.#opened().getMany(keys as Buffer[]);
  }

  async readKeys(prefixes: readonly Buffer[], guessedStates: readonly string[]): Promise<StoredKeys> {
    const db = this.#opened();
    // Taken now, synchronously: both reads see the database as of the call.
    const snapshot = db.snapshot();
    try {
      return await readStoredKeys((keys) => db.getMany(keys, { snapshot }), prefixes, guessedStates);
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
