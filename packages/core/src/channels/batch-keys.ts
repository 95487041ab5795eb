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
 *   tag 1 : [u32 length] latin1 bytes        string whose code units are all below 0x100
 *   tag 2 : [u32 length] u16 code units      any other string (lone surrogates included)
 *   tag 3 : [f64]                            number
 *   tag 4 : [u32 length] decimal latin1      bigint
 *   tag 5 / tag 6                            false / true
 * ```
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
  #view = new DataView(this.#bytes.buffer);
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
    this.#view.setUint32(this.#at, count, true);
    this.#at += 4;
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
        this.#view.setUint16(this.#at, keyGroup, true);
        this.#bytes[this.#at + 2] = TAG_NUMBER;
        this.#view.setFloat64(this.#at + 3, key, true);
        this.#at += 11;
        return;
      case 'bigint': {
        const digits = key.toString();
        this.#ensure(7 + digits.length);
        this.#view.setUint16(this.#at, keyGroup, true);
        this.#bytes[this.#at + 2] = TAG_BIGINT;
        this.#view.setUint32(this.#at + 3, digits.length, true);
        const bytes = this.#bytes;
        const start = this.#at + 7;
        for (let i = 0; i < digits.length; i++) bytes[start + i] = digits.charCodeAt(i);
        this.#at = start + digits.length;
        return;
      }
      case 'boolean':
        this.#ensure(3);
        this.#view.setUint16(this.#at, keyGroup, true);
        this.#bytes[this.#at + 2] = key ? TAG_TRUE : TAG_FALSE;
        this.#at += 3;
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
    this.#ensure(7 + 2 * length);
    const bytes = this.#bytes;
    const at = this.#at;
    this.#view.setUint16(at, keyGroup, true);
    this.#view.setUint32(at + 3, length, true);
    const start = at + 7;
    let i = 0;
    for (; i < length; i++) {
      const unit = key.charCodeAt(i);
      if (unit > 0xff) break;
      bytes[start + i] = unit;
    }
    if (i === length) {
      bytes[at + 2] = TAG_LATIN1;
      this.#at = start + length;
      return;
    }
    bytes[at + 2] = TAG_UTF16;
    for (i = 0; i < length; i++) {
      const unit = key.charCodeAt(i);
      bytes[start + 2 * i] = unit & 0xff;
      bytes[start + 2 * i + 1] = unit >>> 8;
    }
    this.#at = start + 2 * length;
  }

  #ensure(more: number): void {
    const needed = this.#at + more;
    if (needed <= this.#bytes.byteLength) return;
    let size = this.#bytes.byteLength * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#bytes.subarray(0, this.#at));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }
}

/** Keys up to this many characters are decoded in JavaScript (most keys: ids, names, codes). */
const SHORT_MAX = 16;
/** One array of each length up to {@link SHORT_MAX}, reused: `fromCharCode.apply` takes it whole. */
const SHORT_UNITS: number[][] = Array.from({ length: SHORT_MAX + 1 }, (_, n) => new Array<number>(n).fill(0));

/**
 * A short Latin-1 string without a call into C++: a native `toString` per key costs more than the
 * whole of the key selector and the hash it saves the receiver (measured on click-counts at p=2);
 * one `fromCharCode` over a reused array does not (msgpackr decodes short strings the same way).
 */
function shortLatin1(bytes: Uint8Array, at: number, length: number): string {
  const units = SHORT_UNITS[length]!;
  for (let i = 0; i < length; i++) units[i] = bytes[at + i]!;
  return String.fromCharCode.apply(null, units);
}

/**
 * Reads the keys section of a keyed batch frame (it starts after the header) (a view into shared memory at any
 * offset): the keys, and where the section ends. One Buffer and one DataView per batch; strings
 * are decoded natively (`latin1`, `utf16le`: both keep every code unit as it is).
 */
export function readBatchKeys(frame: Uint8Array): { keys: BatchKeys; end: number } {
  const offset = KEYED_BATCH_HEADER_BYTES;
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const count = view.getUint32(offset, true);
  const keys: Key[] = new Array<Key>(count);
  const keyGroups: number[] = new Array<number>(count);
  let at = offset + 4;
  for (let i = 0; i < count; i++) {
    keyGroups[i] = view.getUint16(at, true);
    const tag = buf[at + 2];
    at += 3;
    switch (tag) {
      case TAG_LATIN1: {
        const length = view.getUint32(at, true);
        keys[i] =
          length <= SHORT_MAX
            ? shortLatin1(buf, at + 4, length)
            : buf.toString('latin1', at + 4, at + 4 + length);
        at += 4 + length;
        break;
      }
      case TAG_UTF16: {
        const length = view.getUint32(at, true);
        keys[i] = buf.toString('utf16le', at + 4, at + 4 + 2 * length);
        at += 4 + 2 * length;
        break;
      }
      case TAG_NUMBER:
        keys[i] = view.getFloat64(at, true);
        at += 8;
        break;
      case TAG_BIGINT: {
        const length = view.getUint32(at, true);
        keys[i] = BigInt(buf.toString('latin1', at + 4, at + 4 + length));
        at += 4 + length;
        break;
      }
      case TAG_FALSE:
        keys[i] = false;
        break;
      case TAG_TRUE:
        keys[i] = true;
        break;
      default:
        throw new Error(`bug: unknown key tag ${tag} at byte ${at - 1} of a keyed batch frame`);
    }
  }
  return { keys: { keys, keyGroups }, end: at };
}
