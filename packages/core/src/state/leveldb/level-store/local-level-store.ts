/** {@link LevelStore} on a classic-level database opened in the calling thread. */

import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import { type LevelSnapshot, type LevelStore, RANGE_PAGE_SIZE, type WriteOp } from './level-store.ts';

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

  batch(ops: readonly WriteOp[]): Promise<void> {
    return this.#opened().batch(ops as WriteOp[]);
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
