/**
 * Serves the {@link LevelStore} calls of one client port on local databases, in the thread that
 * owns them. Calls are issued to LevelDB in the order they arrive (a batch issued before a read
 * is issued first, as in the client's thread). When the client's thread ends, even terminated
 * from outside, its port closes: the server lets calls in flight finish, then closes every
 * cursor, snapshot and database the client left open.
 */

import type { MessagePort } from 'node:worker_threads';
import type { LevelSnapshot, WriteOp } from './level-store.ts';
import { LocalLevelStore } from './local-level-store.ts';
import {
  type LevelRequest,
  type LevelResponse,
  type PackedStoredKeys,
  packBuffers,
  type RangePage,
  transferOf,
  unpackBuffers,
} from './wire.ts';

type Cursor = AsyncIterator<Array<[Buffer, Buffer]>>;

export class LevelStoreServer {
  readonly #port: MessagePort;
  readonly #stores = new Map<number, LocalLevelStore>();
  readonly #snapshots = new Map<number, LevelSnapshot>();
  readonly #cursors = new Map<number, Cursor>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #nextHandle = 1;
  #closed: Promise<void> | undefined;

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (request: LevelRequest) => this.#serve(request));
    port.once('close', () => void this.close());
  }

  /** Stops serving; resolves once every call in flight finished and every database is closed. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#port.close();
      while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
      for (const cursor of this.#cursors.values()) await cursor.return?.().catch(() => {});
      for (const snapshot of this.#snapshots.values()) await snapshot.close().catch(() => {});
      for (const store of this.#stores.values()) await store.close().catch(() => {});
      this.#cursors.clear();
      this.#snapshots.clear();
      this.#stores.clear();
    })();
    return this.#closed;
  }

  #serve(request: LevelRequest): void {
    let call: Promise<[unknown, ArrayBuffer[]]>;
    try {
      call = this.#dispatch(request);
    } catch (error) {
      call = Promise.reject(error);
    }
    const done = call.then(
      ([result, transfer]) => this.#reply({ id: request.id, ok: true, result }, transfer),
      (error: unknown) => {
        const e = error as { message?: string; code?: string; stack?: string; cause?: { message?: string } };
        const message =
          e.cause?.message === undefined ? String(e.message) : `${e.message}: ${e.cause.message}`;
        this.#reply({ id: request.id, ok: false, error: { message, code: e.code, stack: e.stack } }, []);
      },
    );
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }

  #reply(response: LevelResponse, transfer: ArrayBuffer[]): void {
    if (this.#closed === undefined) this.#port.postMessage(response, transfer);
  }

  /** Issues the call to LevelDB synchronously (before any await), so arrival order is issue order. */
  #dispatch(request: LevelRequest): Promise<[unknown, ArrayBuffer[]]> {
    switch (request.op) {
      case 'open': {
        if (this.#stores.has(request.store)) throw new Error(`store ${request.store} is already open`);
        const store = new LocalLevelStore(request.directory);
        this.#stores.set(request.store, store);
        return store.open().then(
          () => [undefined, []],
          (error: unknown) => {
            this.#stores.delete(request.store);
            throw error;
          },
        );
      }
      case 'getMany':
        return this.#store(request.store)
          .getMany(unpackBuffers(request.keys) as Buffer[])
          .then((values) => {
            const packed = packBuffers(values);
            return [packed, transferOf(packed)];
          });
      case 'readKeys':
        return this.#store(request.store)
          .readKeys(unpackBuffers(request.prefixes) as Buffer[], request.guessedStates)
          .then(({ manifests, entries }) => {
            const packed: PackedStoredKeys = {
              manifests: packBuffers(manifests),
              entries: packBuffers(entries),
            };
            return [packed, transferOf(packed.manifests, packed.entries)];
          });
      case 'batch': {
        const keys = unpackBuffers(request.keys) as Buffer[];
        const values = unpackBuffers(request.values) as Buffer[];
        const ops: WriteOp[] = new Array(keys.length);
        let v = 0;
        for (let i = 0; i < keys.length; i++) {
          ops[i] =
            request.puts[i] === 1
              ? { type: 'put', key: keys[i]!, value: values[v++]! }
              : { type: 'del', key: keys[i]! };
        }
        return this.#store(request.store)
          .batch(ops)
          .then(() => [undefined, []]);
      }
      case 'putPacked':
        return this.#store(request.store)
          .putPacked(request.keys, request.values)
          .then(() => [undefined, []]);
      case 'snapshot':
        return this.#store(request.store)
          .snapshot()
          .then((snapshot) => {
            const handle = this.#nextHandle++;
            this.#snapshots.set(handle, snapshot);
            return [handle, []];
          });
      case 'range': {
        const snapshot = this.#snapshots.get(request.snapshot);
        if (snapshot === undefined) throw new Error(`no open snapshot ${request.snapshot}`);
        const gte = Buffer.from(request.gte.buffer, request.gte.byteOffset, request.gte.length);
        const lt = Buffer.from(request.lt.buffer, request.lt.byteOffset, request.lt.length);
        const handle = this.#nextHandle++;
        this.#cursors.set(handle, snapshot.range(gte, lt, request.keysOnly)[Symbol.asyncIterator]());
        return Promise.resolve([handle, []]);
      }
      case 'next': {
        const cursor = this.#cursors.get(request.cursor);
        if (cursor === undefined) throw new Error(`no open cursor ${request.cursor}`);
        return cursor.next().then((step) => {
          const entries = step.done === true ? [] : step.value;
          if (step.done === true) this.#cursors.delete(request.cursor);
          const page: RangePage = {
            keys: packBuffers(entries.map(([key]) => key)),
            values: packBuffers(entries.map(([, value]) => value)),
            done: step.done === true,
          };
          return [page, transferOf(page.keys, page.values)];
        });
      }
      case 'closeCursor': {
        const cursor = this.#cursors.get(request.cursor);
        this.#cursors.delete(request.cursor);
        return (cursor?.return?.() ?? Promise.resolve()).then(() => [undefined, []]);
      }
      case 'closeSnapshot': {
        const snapshot = this.#snapshots.get(request.snapshot);
        this.#snapshots.delete(request.snapshot);
        return (snapshot?.close() ?? Promise.resolve()).then(() => [undefined, []]);
      }
      case 'close': {
        const store = this.#stores.get(request.store);
        this.#stores.delete(request.store);
        return (store?.close() ?? Promise.resolve()).then(() => [undefined, []]);
      }
    }
  }

  #store(id: number): LocalLevelStore {
    const store = this.#stores.get(id);
    if (store === undefined) throw new Error(`store ${id} is not open`);
    return store;
  }
}
