/**
 * The narrow slice of LevelDB the LevelDB keyed state backend uses, so the database can live
 * somewhere other than the thread that runs the operator (see `level-store-host.ts` for why).
 */

import type { StoredKeys } from '../stored-keys.ts';
import type { PackedBuffers } from './wire.ts';

/** A LevelDB write: put a value, or delete a key. */
export type WriteOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** One open database. Calls are served in order per store; `batch` is atomic. */
export interface LevelStore {
  /** Where the database lives (for error messages). */
  readonly directory: string;
  /** Creates the directory if needed and opens the database. */
  open(): Promise<void>;
  /** Values of `keys`, `undefined` where absent, in the order asked. */
  getMany(keys: readonly Buffer[]): Promise<Array<Buffer | undefined>>;
  /**
   * The manifests of the keys whose record-key prefixes are `prefixes`, and every entry they list,
   * read on one snapshot in one call ({@link readStoredKeys} in `../stored-keys.ts`): the state
   * backend's prefetch, one round trip when the store lives on another thread. The entries of the
   * default namespace of `guessedStates` are read along with the manifests.
   */
  readKeys(prefixes: readonly Buffer[], guessedStates: readonly string[]): Promise<StoredKeys>;
  /** Applies all of `ops` atomically. */
  batch(ops: readonly WriteOp[]): Promise<void>;
  /**
   * Puts value `i` at key `i`, all atomically: `batch` for a bulk load, which builds its records
   * packed rather than as a Buffer and an op object each.
   */
  putPacked(keys: PackedBuffers, values: PackedBuffers): Promise<void>;
  /** A read view as of now: every batch that resolved before is in it, later ones are not. */
  snapshot(): Promise<LevelSnapshot>;
  /** Waits for calls in flight and closes the database. Idempotent. */
  close(): Promise<void>;
}

/** A point-in-time read view of a {@link LevelStore}. */
export interface LevelSnapshot {
  /** Entries with `gte <= key < lt`, in key order, in pages (values empty with `keysOnly`). */
  range(gte: Buffer, lt: Buffer, keysOnly: boolean): AsyncIterable<Array<[Buffer, Buffer]>>;
  close(): Promise<void>;
}

/** Entries per page of a range read: bounds memory and message size. */
export const RANGE_PAGE_SIZE = 1024;
