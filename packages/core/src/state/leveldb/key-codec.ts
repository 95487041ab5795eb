/**
 * The binary layout of the LevelDB keyed state backend's records. Internal to `state/`.
 *
 * Two kinds of record per (key group, key), both starting with the same prefix:
 *
 * ```text
 * prefix   = [keyGroup u16 BE][key]
 * manifest = prefix                                      → msgpack [[stateName, [namespace, ...]], ...]
 * entry    = prefix [u32 BE nameBytes][stateName utf8][namespace utf8]  → msgpack(snapshot form of the value)
 *
 * key      = 0x01 [u32 BE byteLength][utf8]     string without lone surrogates
 *          | 0x06 [u32 BE byteLength][utf16le]  string with a lone surrogate (UTF-8 has no form
 *                                               for one: '\uD800' and '\uFFFD' would be one key)
 *          | 0x02 [float64 BE]                  number (-0 stored as 0, every NaN as one NaN)
 *          | 0x03 [u32 BE byteLength][decimal]  bigint
 *          | 0x04                               false
 *          | 0x05                               true
 * ```
 *
 * - The key group comes first, so a key group is one contiguous range `[kg, kg + 1)`: snapshots
 *   and restores of a key group are one range scan.
 * - Every key encoding is self-delimiting (fixed size or length-prefixed), so no key's prefix is a
 *   prefix of another key's: all records of one (key group, key) are exactly the range starting
 *   with its prefix, and nothing else is.
 * - The manifest lists the key's entries, so a prefetch is two `getMany` calls for a whole batch
 *   of keys (manifests, then entries) instead of one iterator per key: measured here, `getMany`
 *   reads 130k–660k keys/s in batches of 100–1000, one iterator per key 30k–45k keys/s.
 * - The namespace is last and unprefixed (it runs to the end of the record key); the state name
 *   before it is length-prefixed. A manifest is told from an entry by ending right after the key.
 *
 * Compatibility: this layout is only read back by the process that wrote it (checkpoints use the
 * backend-neutral snapshot entries), but reopening a directory relies on it; change it only
 * together with a format marker.
 */

import { decodeValue, encodeValue } from '../../records/record-codec.ts';
import { StateError, type StateErrorCode } from '../errors.ts';
import { isWellFormedString, type Key } from '../key-groups.ts';

/**
 * Values and manifests on disk: the record codec's self-contained messages (every entry decodes
 * on its own), under the record contract, so a value reads back from disk exactly as it was put
 * in — a Set, a Map, -0, holes, registered classes — as it does from heap state and from
 * checkpoints (`docs/records.md`).
 */
export const diskCodec = { pack: encodeValue, unpack: decodeValue } as const;

const TAG_STRING = 0x01;
const TAG_NUMBER = 0x02;
const TAG_BIGINT = 0x03;
const TAG_FALSE = 0x04;
const TAG_TRUE = 0x05;
const TAG_STRING_UTF16 = 0x06;

/** The 2-byte start of key group `keyGroup`'s range; `keyGroupBound(kg + 1)` is its (exclusive) end. */
export function keyGroupBound(keyGroup: number): Buffer {
  const out = Buffer.allocUnsafe(2);
  out.writeUInt16BE(keyGroup, 0);
  return out;
}

/**
 * `[keyGroup u16][key]`: the manifest's record key, and the prefix of every entry of the key.
 * @throws {StateError} `SLUICE_STATE_INVALID_KEY` if `key` is not a primitive {@link Key}.
 */
export function encodeKeyPrefix(keyGroup: number, key: Key): Buffer {
  switch (typeof key) {
    case 'string': {
      const encoding = isWellFormedString(key) ? 'utf8' : 'utf16le';
      const length = Buffer.byteLength(key, encoding);
      const out = Buffer.allocUnsafe(7 + length);
      out.writeUInt16BE(keyGroup, 0);
      out[2] = encoding === 'utf8' ? TAG_STRING : TAG_STRING_UTF16;
      out.writeUInt32BE(length, 3);
      out.write(key, 7, encoding);
      return out;
    }
    case 'number': {
      const out = Buffer.allocUnsafe(11);
      out.writeUInt16BE(keyGroup, 0);
      out[2] = TAG_NUMBER;
      // -0 and 0 are one Map key (and hash alike), so they must be one record key too.
      out.writeDoubleBE(key === 0 ? 0 : Number.isNaN(key) ? Number.NaN : key, 3);
      return out;
    }
    case 'bigint': {
      const digits = key.toString();
      const out = Buffer.allocUnsafe(7 + digits.length);
      out.writeUInt16BE(keyGroup, 0);
      out[2] = TAG_BIGINT;
      out.writeUInt32BE(digits.length, 3);
      out.write(digits, 7, 'latin1');
      return out;
    }
    case 'boolean': {
      const out = Buffer.allocUnsafe(3);
      out.writeUInt16BE(keyGroup, 0);
      out[2] = key ? TAG_TRUE : TAG_FALSE;
      return out;
    }
    default:
      throw new StateError(
        'SLUICE_STATE_INVALID_KEY',
        `a key must be a string, number, bigint or boolean, got ${key === null ? 'null' : typeof key}`,
      );
  }
}

/** `[u32 BE byteLength][utf8]` of a state name: the middle part of its entries' record keys. */
export function encodeStateName(stateName: string): Buffer {
  const length = Buffer.byteLength(stateName, 'utf8');
  const out = Buffer.allocUnsafe(4 + length);
  out.writeUInt32BE(length, 0);
  out.write(stateName, 4, 'utf8');
  return out;
}

/** `prefix + encodedName + namespace`: the record key of one entry. */
export function encodeEntryKey(prefix: Buffer, encodedName: Buffer, namespace: string): Buffer {
  const nsLength = namespace === '' ? 0 : Buffer.byteLength(namespace, 'utf8');
  const out = Buffer.allocUnsafe(prefix.length + encodedName.length + nsLength);
  prefix.copy(out, 0);
  encodedName.copy(out, prefix.length);
  if (nsLength > 0) out.write(namespace, prefix.length + encodedName.length, 'utf8');
  return out;
}

/** A record key taken apart. `stateName` is `undefined` for a manifest. */
export interface DecodedRecordKey {
  keyGroup: number;
  key: Key;
  stateName: string | undefined;
  namespace: string;
}

/**
 * Parses a record key written by {@link encodeKeyPrefix} / {@link encodeEntryKey}.
 * @throws {StateError} `SLUICE_STATE_STORAGE_CORRUPT` if the bytes do not follow the layout.
 */
export function decodeRecordKey(bytes: Uint8Array): DecodedRecordKey {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 3) throw corrupt(buf, 'shorter than a key group and a key tag');
  const keyGroup = buf.readUInt16BE(0);
  let pos = 3;
  let key: Key;
  switch (buf[2]) {
    case TAG_STRING: {
      const length = readLength(buf, pos);
      key = buf.toString('utf8', pos + 4, pos + 4 + length);
      pos += 4 + length;
      break;
    }
    case TAG_STRING_UTF16: {
      const length = readLength(buf, pos);
      key = buf.toString('utf16le', pos + 4, pos + 4 + length);
      pos += 4 + length;
      break;
    }
    case TAG_NUMBER:
      if (buf.length < pos + 8) throw corrupt(buf, 'number key cut short');
      key = buf.readDoubleBE(pos);
      pos += 8;
      break;
    case TAG_BIGINT: {
      const length = readLength(buf, pos);
      key = BigInt(buf.toString('latin1', pos + 4, pos + 4 + length));
      pos += 4 + length;
      break;
    }
    case TAG_FALSE:
      key = false;
      break;
    case TAG_TRUE:
      key = true;
      break;
    default:
      throw corrupt(buf, `unknown key tag ${buf[2]}`);
  }
  if (pos === buf.length) return { keyGroup, key, stateName: undefined, namespace: '' };
  const nameLength = readLength(buf, pos);
  const stateName = buf.toString('utf8', pos + 4, pos + 4 + nameLength);
  const namespace = buf.toString('utf8', pos + 4 + nameLength);
  return { keyGroup, key, stateName, namespace };
}

function readLength(buf: Buffer, pos: number): number {
  if (buf.length < pos + 4) throw corrupt(buf, 'length field cut short');
  const length = buf.readUInt32BE(pos);
  if (buf.length < pos + 4 + length) throw corrupt(buf, 'field longer than the record key');
  return length;
}

function corrupt(buf: Buffer, why: string): StateError {
  return levelDbStateError(
    'SLUICE_STATE_STORAGE_CORRUPT',
    `LevelDB state record key ${buf.subarray(0, 32).toString('hex')}${buf.length > 32 ? '…' : ''} is not in ` +
      `the state backend's layout (${why}); is the directory shared with something else?`,
  );
}

/** Codes only the LevelDB backend raises (besides the shared ones). */
export type LevelDbStateErrorCode = Extract<
  StateErrorCode,
  | 'SLUICE_STATE_NOT_PREFETCHED'
  | 'SLUICE_STATE_BACKEND_CLOSED'
  | 'SLUICE_STATE_STORAGE_FAILED'
  | 'SLUICE_STATE_STORAGE_CORRUPT'
>;

/** A {@link StateError} with one of the LevelDB backend's codes. */
export function levelDbStateError(
  code: LevelDbStateErrorCode,
  message: string,
  options?: ErrorOptions,
): StateError {
  return new StateError(code, message, options);
}
