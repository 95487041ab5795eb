/**
 * The keys of a batch on a hash-partitioned channel, computed once by the sender and carried with
 * the records, so that the receiving keyed operator never runs the key selector or the hash again
 * (Flink recomputes both; here a key selector is user JavaScript and the hash is murmur over the
 * key's code units, together the larger share of a keyed record's cost).
 *
 * Carrying them also makes routing independent of how values travel: a key computed from a
 * decoded copy of a record can differ from the key computed from the original (msgpack writes
 * strings as UTF-8, which has no form for a lone surrogate, so `'\uD800'` arrives as `'\uFFFD'`),
 * and then state lands under the wrong key or in a key group the subtask does not own. Keys are
 * encoded here by UTF-16 code unit, so every string key arrives exactly as it left.
 *
 * Layout of the keys section of a keyed batch frame (`frames.ts`), little endian throughout:
 *
 * ```text
 * section = [u32 count] key*count
 * key     = [u16 keyGroup] tag payload
 *   tag 1 : length latin1 bytes              string whose code units are all below 0x100
 *   tag 2 : length u16 code units            any other string (lone surrogates included)
 *   tag 3 : [f64]                            number
 *   tag 4 : length decimal latin1            bigint
 *   tag 5 / tag 6                            false / true
 * length  = [u8 n] when n < 255, else [u8 255][u32 n]   (in code units)
 * ```
 *
 * Read and written a byte at a time, no DataView or Buffer call per key: the section is on the
 * hot path (once per keyed record at each end), where it replaces the receiver's key selector and
 * hash, so it has to stay cheap next to them.
 */
import type { Key } from '../state/key-groups.ts';
import { CONTROL_MARKER, ControlType, KEYED_BATCH_HEADER_BYTES } from './frames.ts';

/** Record `i` of the batch has key `keys[i]`, in key group `keyGroups[i]`. */
export interface BatchKeys {
  readonly keys: Key[];
  readonly keyGroups: ArrayLike<number>;
}

const TAG_LATIN1 = 1;
const TAG_UTF16 = 2;
const TAG_NUMBER = 3;
const TAG_BIGINT = 4;
const TAG_FALSE = 5;
const TAG_TRUE = 6;

/**
 * Writes keys sections into one growing scratch buffer, so that a batch allocates nothing once
 * the buffer has reached the size of the largest batch: the result is valid until the next call.
 */
export class BatchKeysWriter {
  #bytes = new Uint8Array(4096);
  #at = 0;

  constructor() {
    this.#bytes[0] = CONTROL_MARKER;
    this.#bytes[1] = ControlType.KeyedBatch;
  }

  /**
   * A keyed batch frame: the header, the keys section of `keys`, then `batch` (the data frame of
   * the batch's records), in the writer's scratch buffer.
   */
  frame(keys: BatchKeys, batch: Uint8Array): Uint8Array {
    const { keys: list, keyGroups } = keys;
    const count = list.length;
    this.#at = KEYED_BATCH_HEADER_BYTES;
    this.#ensure(4);
    this.#u32(count);
    for (let i = 0; i < count; i++) this.#writeKey(list[i]!, keyGroups[i]!);
    const keysEnd = this.#at;
    this.#ensure(batch.byteLength);
    this.#bytes.set(batch, keysEnd);
    return this.#bytes.subarray(0, keysEnd + batch.byteLength);
  }

  #writeKey(key: Key, keyGroup: number): void {
    switch (typeof key) {
      case 'string':
        this.#writeString(key, keyGroup);
        return;
      case 'number':
        this.#ensure(11);
        this.#head(keyGroup, TAG_NUMBER);
        F64[0] = key;
        this.#bytes.set(F64_BYTES, this.#at);
        this.#at += 8;
        return;
      case 'bigint': {
        const digits = key.toString();
        this.#ensure(8 + digits.length);
        this.#head(keyGroup, TAG_BIGINT);
        this.#length(digits.length);
        const bytes = this.#bytes;
        const start = this.#at;
        for (let i = 0; i < digits.length; i++) bytes[start + i] = digits.charCodeAt(i);
        this.#at = start + digits.length;
        return;
      }
      case 'boolean':
        this.#ensure(3);
        this.#head(keyGroup, key ? TAG_TRUE : TAG_FALSE);
        return;
      default:
        // The sender hashed the key first, which refuses anything but a primitive.
        throw new Error(`bug: a key of type ${typeof key} reached the batch keys writer`);
    }
  }

  /**
   * Latin-1 when every code unit fits a byte (the common case: one byte a character), else UTF-16
   * code units, which carry any string, lone surrogates included. One pass, written as it goes;
   * a wide code unit restarts the string in the wide form.
   */
  #writeString(key: string, keyGroup: number): void {
    const length = key.length;
    this.#ensure(8 + 2 * length);
    const tagAt = this.#at + 2;
    this.#head(keyGroup, TAG_LATIN1);
    this.#length(length);
    const bytes = this.#bytes;
    const start = this.#at;
    let i = 0;
    for (; i < length; i++) {
      const unit = key.charCodeAt(i);
      if (unit > 0xff) break;
      bytes[start + i] = unit;
    }
    if (i === length) {
      this.#at = start + length;
      return;
    }
    bytes[tagAt] = TAG_UTF16;
    for (i = 0; i < length; i++) {
      const unit = key.charCodeAt(i);
      bytes[start + 2 * i] = unit & 0xff;
      bytes[start + 2 * i + 1] = unit >>> 8;
    }
    this.#at = start + 2 * length;
  }

  #head(keyGroup: number, tag: number): void {
    const bytes = this.#bytes;
    const at = this.#at;
    bytes[at] = keyGroup & 0xff;
    bytes[at + 1] = keyGroup >>> 8;
    bytes[at + 2] = tag;
    this.#at = at + 3;
  }

  #length(length: number): void {
    if (length < 0xff) {
      this.#bytes[this.#at++] = length;
      return;
    }
    this.#bytes[this.#at++] = 0xff;
    this.#u32(length);
  }

  #u32(value: number): void {
    const bytes = this.#bytes;
    const at = this.#at;
    bytes[at] = value & 0xff;
    bytes[at + 1] = (value >>> 8) & 0xff;
    bytes[at + 2] = (value >>> 16) & 0xff;
    bytes[at + 3] = value >>> 24;
    this.#at = at + 4;
  }

  #ensure(more: number): void {
    const needed = this.#at + more;
    if (needed <= this.#bytes.byteLength) return;
    let size = this.#bytes.byteLength * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = grown;
  }
}

// A number's bytes, through a scratch array in the host's byte order (sender and receiver share
// the machine: a channel never leaves the process).
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);

/** Keys up to this many characters are decoded in JavaScript (most keys: ids, names, codes). */
const SHORT_MAX = 16;
/** One array of each length up to {@link SHORT_MAX}, reused: `fromCharCode.apply` takes it whole. */
const SHORT_UNITS: number[][] = Array.from({ length: SHORT_MAX + 1 }, (_, n) => new Array<number>(n).fill(0));

/**
 * A short Latin-1 string without a call into C++ (a `toString` per key costs more than reading a
 * few bytes here): one `fromCharCode` over a reused array, as msgpackr decodes short strings.
 */
function shortLatin1(bytes: Uint8Array, at: number, length: number): string {
  const units = SHORT_UNITS[length]!;
  for (let i = 0; i < length; i++) units[i] = bytes[at + i]!;
  return String.fromCharCode.apply(null, units);
}

/**
 * Reads the keys section of a keyed batch frame (after its header; the frame is a view into
 * shared memory at any offset): the keys, and where the section ends. Long strings are decoded
 * natively (`latin1`, `utf16le`: both keep every code unit as it is), through one Buffer a batch.
 */
export function readBatchKeys(frame: Uint8Array): { keys: BatchKeys; end: number } {
  let buf: Buffer | undefined;
  const native = (): Buffer => {
    buf ??= Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    return buf;
  };
  let at = KEYED_BATCH_HEADER_BYTES;
  const count = frame[at]! | (frame[at + 1]! << 8) | (frame[at + 2]! << 16) | (frame[at + 3]! << 24);
  at += 4;
  const keys: Key[] = new Array<Key>(count);
  const keyGroups = new Uint16Array(count);
  for (let i = 0; i < count; i++) {
    keyGroups[i] = frame[at]! | (frame[at + 1]! << 8);
    const tag = frame[at + 2];
    at += 3;
    if (tag === TAG_NUMBER) {
      for (let b = 0; b < 8; b++) F64_BYTES[b] = frame[at + b]!;
      keys[i] = F64[0]!;
      at += 8;
      continue;
    }
    if (tag === TAG_FALSE || tag === TAG_TRUE) {
      keys[i] = tag === TAG_TRUE;
      continue;
    }
    let length = frame[at++]!;
    if (length === 0xff) {
      length = (frame[at]! | (frame[at + 1]! << 8) | (frame[at + 2]! << 16) | (frame[at + 3]! << 24)) >>> 0;
      at += 4;
    }
    switch (tag) {
      case TAG_LATIN1:
        keys[i] =
          length <= SHORT_MAX ? shortLatin1(frame, at, length) : native().toString('latin1', at, at + length);
        at += length;
        break;
      case TAG_UTF16:
        keys[i] = native().toString('utf16le', at, at + 2 * length);
        at += 2 * length;
        break;
      case TAG_BIGINT:
        keys[i] = BigInt(native().toString('latin1', at, at + length));
        at += length;
        break;
      default:
        throw new Error(`bug: unknown key tag ${tag} at byte ${at} of a keyed batch frame`);
    }
  }
  return { keys: { keys, keyGroups }, end: at };
}
