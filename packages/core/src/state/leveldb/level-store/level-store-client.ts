/**
 * {@link LevelStore}s served by another thread (the LevelDB host, see `level-store-host.ts`)
 * through one MessagePort: one message per call, never per record (a call carries a whole
 * batch's keys or writes).
 */

import type { MessagePort } from 'node:worker_threads';
import type { StoredKeys } from '../stored-keys.ts';
import type { LevelSnapshot, LevelStore, WriteOp } from './level-store.ts';
import {
  type LevelRequest,
  type LevelResponse,
  type PackedBuffers,
  type PackedStoredKeys,
  packBuffers,
  type RangePage,
  transferOf,
  unpackBuffers,
} from './wire.ts';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void; what: string };

/** Distributes the client-side calls without the request id. */
type RequestBody = LevelRequest extends infer R ? (R extends LevelRequest ? Omit<R, 'id'> : never) : never;

export class LevelStoreClient {
  readonly #port: MessagePort;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #nextStore = 1;
  #closedBecause: string | undefined;

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (response: LevelResponse) => this.#settle(response));
    port.once('close', () => this.#fail('the LevelDB host thread closed the connection'));
  }

  /** A store for the database in `directory` (opened by its `open()`). */
  store(directory: string): LevelStore {
    return new RemoteLevelStore(this, this.#nextStore++, directory);
  }

  /** Closes the connection; calls still pending fail. The host then closes what is left open. */
  close(): void {
    this.#fail('the LevelDB store client was closed');
    this.#port.close();
  }

  call<T>(request: RequestBody, what: string, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.#closedBecause !== undefined) {
      return Promise.reject(new Error(`${what} failed: ${this.#closedBecause}`));
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, what });
      this.#port.postMessage({ ...request, id }, transfer);
    });
  }

  #settle(response: LevelResponse): void {
    const pending = this.#pending.get(response.id);
    if (pending === undefined) return;
    this.#pending.delete(response.id);
    if (response.ok) {
      pending.resolve(response.result);
      return;
    }
    const error = new Error(`${pending.what} failed: ${response.error.message}`) as Error & { code?: string };
    if (response.error.code !== undefined) error.code = response.error.code;
    pending.reject(error);
  }

  #fail(reason: string): void {
    this.#closedBecause ??= reason;
    for (const { reject, what } of this.#pending.values()) reject(new Error(`${what} failed: ${reason}`));
    this.#pending.clear();
  }
}

class RemoteLevelStore implements LevelStore {
  readonly directory: string;
  readonly #client: LevelStoreClient;
  readonly #id: number;
  #closing: Promise<void> | undefined;

  constructor(client: LevelStoreClient, id: number, directory: string) {
    this.#client = client;
    this.#id = id;
    this.directory = directory;
  }

  open(): Promise<void> {
    return this.#client.call(
      { op: 'open', store: this.#id, directory: this.directory },
      `opening ${this.directory}`,
    );
  }

  async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>> {
    const packed = packBuffers(keys);
    const values = await this.#client.call<PackedBuffers>(
      { op: 'getMany', store: this.#id, keys: packed },
      `reading ${keys.length} keys of ${this.directory}`,
      transferOf(packed),
    );
    return unpackBuffers(values);
  }

  async readKeys(prefixes: readonly Buffer[], guessedStates: readonly string[]): Promise<StoredKeys> {
    const packed = packBuffers(prefixes);
    const stored = await this.#client.call<PackedStoredKeys>(
      { op: 'readKeys', store: this.#id, prefixes: packed, guessedStates },
      `reading the state of ${prefixes.length} keys of ${this.directory}`,
      transferOf(packed),
    );
    return { manifests: unpackBuffers(stored.manifests), entries: unpackBuffers(stored.entries) };
  }

  batch(ops: readonly WriteOp[]): Promise<void> {
    const puts = new Uint8Array(ops.length);
    const values: Buffer[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.type === 'put') {
        puts[i] = 1;
        values.push(op.value);
      }
    }
    const keys = packBuffers(ops.map((op) => op.key));
    const packedValues = packBuffers(values);
    return this.#client.call(
      { op: 'batch', store: this.#id, puts, keys, values: packedValues },
      `writing ${ops.length} records to ${this.directory}`,
      [puts.buffer as ArrayBuffer, ...transferOf(keys, packedValues)],
    );
  }

  putPacked(keys: PackedBuffers, values: PackedBuffers): Promise<void> {
    return this.#client.call(
      { op: 'putPacked', store: this.#id, keys, values },
      `writing ${keys.lengths.length} records to ${this.directory}`,
      transferOf(keys, values),
    );
  }

  async snapshot(): Promise<LevelSnapshot> {
    const client = this.#client;
    const directory = this.directory;
    const handle = await client.call<number>(
      { op: 'snapshot', store: this.#id },
      `a snapshot of ${directory}`,
    );
    return {
      async *range(gte, lt, keysOnly) {
        const what = `reading a range of ${directory}`;
        const cursor = await client.call<number>(
          { op: 'range', snapshot: handle, gte: Uint8Array.from(gte), lt: Uint8Array.from(lt), keysOnly },
          what,
        );
        let done = false;
        try {
          while (!done) {
            const page = await client.call<RangePage>({ op: 'next', cursor }, what);
            done = page.done;
            const keys = unpackBuffers(page.keys) as Buffer[];
            const values = unpackBuffers(page.values) as Buffer[];
            if (keys.length > 0) yield keys.map((key, i) => [key, values[i]!] as [Buffer, Buffer]);
          }
        } finally {
          if (!done) await client.call({ op: 'closeCursor', cursor }, what).catch(() => {});
        }
      },
      close: () =>
        client.call({ op: 'closeSnapshot', snapshot: handle }, `closing a snapshot of ${directory}`),
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#client.call({ op: 'close', store: this.#id }, `closing ${this.directory}`);
    return this.#closing;
  }
}
