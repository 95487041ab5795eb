/**
 * Keys as checkpoints store them. Checkpoint files are msgpack, which writes strings as UTF-8: a
 * key with a lone surrogate (`'\uD800'`) would come back as `'\uFFFD'`, merged with another key
 * and, hashed again on restore, in another key group. Such a key is stored as the bytes of its
 * UTF-16 code units instead; every other key is stored as it is. A key is never binary, so the
 * stored form says which it is, and checkpoints written before this form read back unchanged.
 */
import { isWellFormedString, type Key } from './key-groups.ts';

/** A key as a checkpoint holds it. */
export type SnapshotKey = Key | Uint8Array;

export function toSnapshotKey(key: Key): SnapshotKey {
  if (typeof key !== 'string' || isWellFormedString(key)) return key;
  return new Uint8Array(Buffer.from(key, 'utf16le'));
}

export function fromSnapshotKey(stored: SnapshotKey): Key {
  if (!(stored instanceof Uint8Array)) return stored;
  return Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf16le');
}

/** Whether any key needs the stored form: snapshots without one are passed on as they are. */
export function needsSnapshotForm(key: Key): boolean {
  return typeof key === 'string' && !isWellFormedString(key);
}
