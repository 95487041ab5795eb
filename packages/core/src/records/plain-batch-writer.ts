/**
 * The record codec's fast path: one pass over a batch that checks each value against the record
 * contract and writes it, for the values most records are made of — null, undefined, booleans,
 * numbers, strings, BigInts within 64 bits, dates, plain objects and plain arrays. Anything else
 * (-0, a hole, a lone surrogate, an own field "__proto__", nesting deeper than the limit, and
 * every other kind of value: maps, sets, errors, registered classes, functions...) abandons the pass, and the
 * batch takes the record codec's other path, which walks it with `checkRecord` to refuse it with
 * the field's path or carry it exactly (`record-codec.ts`). Before this writer, every record was
 * walked twice, once to be checked and once by msgpackr to be written; the check cost about an
 * eighth of the encoding.
 *
 * The bytes are what msgpackr writes with `useRecords` and `sequential` (its own record
 * structures: 0xd4 0x72 id, then the keys, defines structure `id` in place the first time an
 * object of those keys is written; later objects write only `id`, one byte in 0x40-0x7f), so
 * msgpackr's `Unpackr` decodes them, as fast as it decodes its own. The structures are this
 * writer's: the decoder that reads its frames must read no other encoder's, and every frame in
 * order. An abandoned pass takes back the structures it defined, since its frame is never sent.
 *
 * Shaped for speed, and why: no allocation per value (the output buffer is reused and returned as
 * it is); record structures are a trie of key transitions whose nodes remember their first child,
 * so a stable schema costs one string identity test per key where msgpackr looks each key up in a
 * dictionary; one for-in loop per object where msgpackr makes two (one for the keys, to write the
 * structure's id first, one for the values): the id byte is reserved and filled in after the
 * values. A structure new to the frame is defined in place of that byte, the values moved up;
 * and where an object inside defined the structure first (a tree of nodes of one shape), the
 * object is written again keys first, as msgpackr writes, once per structure and frame, so that
 * every definition comes before its first use. Short strings are written by a loop that sees
 * lone surrogates as it goes; long ones by V8's UTF-8 writer after `isWellFormed`.
 *
 * Records can be appended one at a time as they are emitted (`begin`, `append`, `finish`): the
 * frame is then the batch's, its count of records filled in at the end.
 */

/** Record structure ids msgpackr reads as references: 0x40-0x7f, one byte (msgpackr's own structures, 64). */
const STRUCTURE_ID_FIRST = 0x40;
const STRUCTURE_IDS = 64;
/** Transition nodes kept before the trie is dropped and rebuilt (objects with ever new key sets). */
const TRANSITIONS_MAX = 10_000;
/** Headroom past `position` that the writes of fixed size may use without a capacity check. */
const SLACK_BYTES = 16;
/** Strings shorter than this are written by the loop; longer ones by `utf8Write`. */
const SHORT_STRING_CHARS = 64;
const INITIAL_BYTES = 64 * 1024;

/** A node of the structure trie: the keys seen so far on the way from the root. */
class Transition {
  /** msgpackr's record id (0x40-0x7f) of an object whose keys end here, 0 when it has none. */
  id = 0;
  /** The writer's object count when an object of this structure was last written (see `#defineInPlace`). */
  writtenAt = 0;
  /** The object count when the object that defined `id` started: objects started before it may not use `id`. */
  definedAt = 0;
  /** The first key seen after this one, and where it leads: most schemas never need `others`. */
  firstKey: string | undefined = undefined;
  firstNext: Transition | null = null;
  others: Map<string, Transition> | null = null;
}

/** Node's `utf8Write`: writes a string's UTF-8 into the buffer at an offset without arguments parsing. */
interface Utf8Writable {
  utf8Write(string: string, offset: number, length: number): number;
}

type WellFormed = { isWellFormed(): boolean };

/**
 * Writes `[values, timestamps]` batches of plain records, as msgpackr would with `useRecords` and
 * `sequential`, or returns null for a batch it leaves to the exact path.
 */
export class PlainBatchWriter {
  readonly #depthMax: number;
  #buffer: Buffer = Buffer.allocUnsafe(INITIAL_BYTES);
  #view: DataView = viewOf(this.#buffer);
  /**
   * The buffer as a plain Uint8Array, for the frames returned: a caller that keeps a frame copies
   * it with `slice`, which on a Buffer would be another view of the scratch buffer.
   */
  #bytes: Uint8Array = bytesOf(this.#buffer);
  #position = 0;
  /** `#buffer.length - SLACK_BYTES`: past this, a value grows the buffer before writing. */
  #safeEnd = INITIAL_BYTES - SLACK_BYTES;

  #root = new Transition();
  #transitions = 0;
  /** The transition holding each record id, in order of definition: ids are reused oldest first, as msgpackr does. */
  #holders: Array<Transition | null> = new Array<Transition | null>(STRUCTURE_IDS).fill(null);
  #nextId = 0;
  /** The frame's definitions, to take back if it is not finished: (transition, previous holder, slot). */
  readonly #defined: Array<Transition | null | number> = [];
  #nextIdAtStart = 0;
  /** Objects started so far (all batches): when each structure was defined and last used. */
  #objects = 0;
  /** Objects are being written keys first, as msgpackr does (see `#writeObject`). */
  #keysFirst = false;
  /** See {@link appended}. */
  #appended = -1;

  /** `depthMax`: objects and arrays nested this deep or deeper abandon the pass. */
  constructor(depthMax: number) {
    this.#depthMax = depthMax;
  }

  /**
   * The batch's frame — the writer's scratch buffer, valid until the next call — or null when a
   * value is outside the fast path (nothing was sent then, and the writer's state is as before).
   */
  write(values: readonly unknown[], timestamps: readonly number[] | null): Uint8Array | null {
    if (!this.#start()) return null;
    this.#writeArrayHeader(values.length);
    if (!this.#writeArray(values, 0)) {
      this.#takeBack();
      return null;
    }
    return this.#end(timestamps);
  }

  // The same, record by record, as a RecordWriter emits them: begin, append each, finish.

  /** Records appended to the frame begun, or -1 when none is begun. */
  get appended(): number {
    return this.#appended;
  }

  /** Begins a frame; false when no record can take the fast path now (see `#start`). */
  begin(): boolean {
    if (!this.#start()) return false;
    // The values' count is not known yet: an array 16 header, its count filled in by `finish`.
    this.#buffer[this.#position] = 0xdc;
    this.#position += 3;
    this.#appended = 0;
    return true;
  }

  /** Appends a record to the frame begun; false (and the frame is given up) when it is not plain. */
  append(value: unknown): boolean {
    if (this.#writeValue(value, 0)) {
      this.#appended++;
      return true;
    }
    this.abandon();
    return false;
  }

  /** The frame begun, with `timestamps` (one per record appended), as {@link write} returns it. */
  finish(timestamps: readonly number[] | null): Uint8Array {
    const count = this.#appended;
    this.#appended = -1;
    if (count > 0xffff) {
      // Larger than array 16: an array 32 header, two bytes more (batches this large are rare).
      if (this.#position + 2 > this.#safeEnd) this.#grow(this.#position + 2);
      this.#buffer.copyWithin(6, 4, this.#position);
      this.#position += 2;
      this.#buffer[1] = 0xdd;
      this.#view.setUint32(2, count);
    } else {
      this.#buffer[2] = count >> 8;
      this.#buffer[3] = count & 0xff;
    }
    return this.#end(timestamps);
  }

  /** Gives up the frame begun: the structures it defined are taken back, as the decoder never sees them. */
  abandon(): void {
    if (this.#appended === -1) return;
    this.#appended = -1;
    this.#takeBack();
  }

  /** Starts a frame `[values, timestamps]` at the start of the buffer. */
  #start(): boolean {
    // A frame left unfinished (a getter threw in the middle of it) was never sent.
    if (this.#defined.length > 0) this.#takeBack();
    this.#keysFirst = false;
    this.#appended = -1;
    // An enumerable field on Object.prototype would be met by for-in in every plain object.
    for (const _ in Object.prototype) return false;
    if (this.#transitions > TRANSITIONS_MAX) this.#dropTransitions();
    this.#position = 0;
    this.#defined.length = 0;
    this.#nextIdAtStart = this.#nextId;
    this.#buffer[this.#position++] = 0x92;
    return true;
  }

  #end(timestamps: readonly number[] | null): Uint8Array {
    this.#defined.length = 0; // sent: nothing to take back
    if (this.#position > this.#safeEnd) this.#grow(this.#position);
    if (timestamps === null) this.#buffer[this.#position++] = 0xc0;
    else this.#writeTimestamps(timestamps);
    return this.#bytes.subarray(0, this.#position);
  }

  #writeTimestamps(timestamps: readonly number[]): void {
    this.#writeArrayHeader(timestamps.length);
    for (let i = 0; i < timestamps.length; i++) {
      if (this.#position > this.#safeEnd) this.#grow(this.#position);
      // -0 is written as 0 here, as the exact path writes it: a timestamp is a number of ms.
      this.#writeNumber(timestamps[i]! === 0 ? 0 : timestamps[i]!);
    }
  }

  /** false: the value is outside the fast path. */
  #writeValue(value: unknown, depth: number): boolean {
    if (this.#position > this.#safeEnd) this.#grow(this.#position);
    switch (typeof value) {
      case 'string':
        return this.#writeString(value);
      case 'number':
        if (value === 0 && 1 / value < 0) return false; // -0
        this.#writeNumber(value);
        return true;
      case 'object': {
        if (value === null) {
          this.#buffer[this.#position++] = 0xc0;
          return true;
        }
        if (depth >= this.#depthMax) return false;
        const proto = Object.getPrototypeOf(value) as unknown;
        if (proto === Object.prototype) return this.#writeObject(value, depth + 1);
        return this.#writeArrayOrDate(value, proto, depth);
      }
      case 'boolean':
        this.#buffer[this.#position++] = value ? 0xc3 : 0xc2;
        return true;
      case 'undefined': {
        // msgpackr's undefined: fixext 1, type 0, data 0.
        const buffer = this.#buffer;
        buffer[this.#position++] = 0xd4;
        buffer[this.#position++] = 0;
        buffer[this.#position++] = 0;
        return true;
      }
      case 'bigint':
        return this.#writeBigInt(value);
      default:
        return false; // function, symbol
    }
  }

  /** msgpackr's choice of format for each number, so frames are what it would write. */
  #writeNumber(value: number): void {
    const buffer = this.#buffer;
    if (value >>> 0 === value) {
      if (value < 0x40) {
        buffer[this.#position++] = value;
      } else if (value < 0x100) {
        buffer[this.#position++] = 0xcc;
        buffer[this.#position++] = value;
      } else if (value < 0x10000) {
        buffer[this.#position++] = 0xcd;
        buffer[this.#position++] = value >> 8;
        buffer[this.#position++] = value & 0xff;
      } else {
        buffer[this.#position++] = 0xce;
        this.#view.setUint32(this.#position, value);
        this.#position += 4;
      }
    } else if (value >> 0 === value) {
      if (value >= -0x20) {
        buffer[this.#position++] = 0x100 + value;
      } else if (value >= -0x80) {
        buffer[this.#position++] = 0xd0;
        buffer[this.#position++] = value + 0x100;
      } else if (value >= -0x8000) {
        buffer[this.#position++] = 0xd1;
        this.#view.setInt16(this.#position, value);
        this.#position += 2;
      } else {
        buffer[this.#position++] = 0xd2;
        this.#view.setInt32(this.#position, value);
        this.#position += 4;
      }
    } else {
      buffer[this.#position++] = 0xcb;
      this.#view.setFloat64(this.#position, value);
      this.#position += 8;
    }
  }

  /** Off `#writeValue`, which stays small enough to inline where it is hot: records are mostly objects. */
  #writeArrayOrDate(value: object, proto: unknown, depth: number): boolean {
    if (proto === Array.prototype && Array.isArray(value))
      return this.#writeArrayWithHeader(value, depth + 1);
    if (proto === Date.prototype) {
      this.#writeDate(value as Date);
      return true;
    }
    return false;
  }

  /** msgpack's timestamp extension (type -1), in the sizes msgpackr picks, to the millisecond. */
  #writeDate(date: Date): void {
    const buffer = this.#buffer;
    const ms = date.getTime();
    const seconds = ms / 1000;
    if (date.getMilliseconds() === 0 && seconds >= 0 && seconds < 0x100000000) {
      buffer[this.#position++] = 0xd6; // fixext 4: seconds
      buffer[this.#position++] = 0xff;
      this.#view.setUint32(this.#position, seconds);
      this.#position += 4;
    } else if (seconds > 0 && seconds < 0x400000000) {
      buffer[this.#position++] = 0xd7; // fixext 8: nanoseconds (30 bits), seconds (34 bits)
      buffer[this.#position++] = 0xff;
      this.#view.setUint32(this.#position, date.getMilliseconds() * 4000000 + ((seconds / 0x100000000) >> 0));
      this.#view.setUint32(this.#position + 4, seconds);
      this.#position += 8;
    } else if (Number.isNaN(ms)) {
      buffer[this.#position++] = 0xd4; // msgpackr's invalid date
      buffer[this.#position++] = 0xff;
      buffer[this.#position++] = 0xff;
    } else {
      buffer[this.#position++] = 0xc7; // ext 8, 12 bytes: nanoseconds, seconds (64 bits)
      buffer[this.#position++] = 12;
      buffer[this.#position++] = 0xff;
      this.#view.setUint32(this.#position, date.getMilliseconds() * 1000000);
      this.#view.setBigInt64(this.#position + 4, BigInt(Math.floor(seconds)));
      this.#position += 12;
    }
  }

  #writeBigInt(value: bigint): boolean {
    if (value >= -0x8000000000000000n && value < 0x8000000000000000n) {
      this.#buffer[this.#position++] = 0xd3;
      this.#view.setBigInt64(this.#position, value);
    } else if (value > 0n && value < 0x10000000000000000n) {
      this.#buffer[this.#position++] = 0xcf;
      this.#view.setBigUint64(this.#position, value);
    } else {
      return false; // msgpackr's extension for larger ones: the exact path
    }
    this.#position += 8;
    return true;
  }

  #writeString(value: string): boolean {
    const length = value.length;
    // The header's size from the length in characters; moved below if the bytes need a larger one.
    const headerBytes = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
    const maxEnd = this.#position + headerBytes + length * 3;
    if (maxEnd > this.#safeEnd) this.#grow(maxEnd);
    const buffer = this.#buffer;
    const start = this.#position + headerBytes;
    let bytes: number;
    if (length < SHORT_STRING_CHARS) {
      let at = start;
      for (let i = 0; i < length; i++) {
        const c = value.charCodeAt(i);
        if (c < 0x80) {
          buffer[at++] = c;
        } else if (c < 0x800) {
          buffer[at++] = (c >> 6) | 0xc0;
          buffer[at++] = (c & 0x3f) | 0x80;
        } else if ((c & 0xf800) !== 0xd800) {
          buffer[at++] = (c >> 12) | 0xe0;
          buffer[at++] = ((c >> 6) & 0x3f) | 0x80;
          buffer[at++] = (c & 0x3f) | 0x80;
        } else {
          const low = value.charCodeAt(i + 1);
          // A lone surrogate has no UTF-8: msgpackr would write U+FFFD. The exact path carries it.
          if (c > 0xdbff || (low & 0xfc00) !== 0xdc00) return false;
          const point = 0x10000 + ((c & 0x3ff) << 10) + (low & 0x3ff);
          i++;
          buffer[at++] = (point >> 18) | 0xf0;
          buffer[at++] = ((point >> 12) & 0x3f) | 0x80;
          buffer[at++] = ((point >> 6) & 0x3f) | 0x80;
          buffer[at++] = (point & 0x3f) | 0x80;
        }
      }
      bytes = at - start;
    } else {
      if (!(value as unknown as WellFormed).isWellFormed()) return false;
      bytes = (buffer as unknown as Utf8Writable).utf8Write(value, start, buffer.length - start);
    }
    let position = this.#position;
    if (bytes < 0x20) {
      buffer[position++] = 0xa0 | bytes;
    } else if (bytes < 0x100) {
      if (headerBytes < 2) buffer.copyWithin(start + 1, start, start + bytes);
      buffer[position++] = 0xd9;
      buffer[position++] = bytes;
    } else if (bytes < 0x10000) {
      if (headerBytes < 3) buffer.copyWithin(position + 3, start, start + bytes);
      buffer[position++] = 0xda;
      buffer[position++] = bytes >> 8;
      buffer[position++] = bytes & 0xff;
    } else {
      if (headerBytes < 5) buffer.copyWithin(position + 5, start, start + bytes);
      buffer[position++] = 0xdb;
      this.#view.setUint32(position, bytes);
      position += 4;
    }
    this.#position = position + bytes;
    return true;
  }

  #writeArrayHeader(length: number): void {
    const buffer = this.#buffer;
    if (length < 0x10) {
      buffer[this.#position++] = 0x90 | length;
    } else if (length < 0x10000) {
      buffer[this.#position++] = 0xdc;
      buffer[this.#position++] = length >> 8;
      buffer[this.#position++] = length & 0xff;
    } else {
      buffer[this.#position++] = 0xdd;
      this.#view.setUint32(this.#position, length);
      this.#position += 4;
    }
  }

  #writeArrayWithHeader(array: readonly unknown[], depth: number): boolean {
    this.#writeArrayHeader(array.length);
    return this.#writeArray(array, depth);
  }

  /** The elements of an array whose header is written. */
  #writeArray(array: readonly unknown[], depth: number): boolean {
    const length = array.length;
    for (let i = 0; i < length; i++) {
      const value = array[i];
      // A hole reads as undefined; `in` tells them apart only then.
      if (value === undefined && !(i in array)) return false;
      if (!this.#writeValue(value, depth)) return false;
    }
    return true;
  }

  /**
   * A plain object as a msgpackr record: its structure's id, then its values in for-in order. The
   * id byte is reserved first and filled in once the keys have led to their structure: one loop
   * over the keys, not two.
   */
  #writeObject(object: object, depth: number): boolean {
    if (this.#keysFirst) return this.#writeObjectKeysFirst(object, depth);
    const idAt = this.#position++;
    const startedAt = this.#objects++;
    const definedMark = this.#defined.length;
    const nextIdMark = this.#nextId;
    let transition = this.#root;
    for (const key in object) {
      if (key === '__proto__') return false; // msgpackr renames it; the exact path keeps it
      let next = transition.firstNext;
      if (transition.firstKey !== key) next = this.#follow(transition, key);
      transition = next!;
      if (!this.#writeValue((object as Record<string, unknown>)[key], depth)) return false;
    }
    transition.writtenAt = this.#objects;
    const id = transition.id;
    if (id === 0) return this.#defineInPlace(transition, object, idAt, startedAt);
    if (transition.definedAt < startedAt) {
      this.#buffer[idAt] = id;
      return true;
    }
    // An object inside this one defined the structure, after this object's id byte: the decoder
    // would meet the id before its definition. Undone, and written again with the definition
    // first (this object and all inside it: else each enclosing level would be written again).
    this.#undefine(definedMark);
    this.#nextId = nextIdMark;
    this.#position = idAt;
    this.#keysFirst = true;
    const written = this.#writeObjectKeysFirst(object, depth);
    this.#keysFirst = false;
    return written;
  }

  /**
   * A plain object as msgpackr writes it: a loop over its keys to find its structure, the id (or
   * the definition) written, then a loop over its values. Only where a structure is new in a frame.
   */
  #writeObjectKeysFirst(object: object, depth: number): boolean {
    const startedAt = this.#objects++;
    let transition = this.#root;
    for (const key in object) {
      if (key === '__proto__') return false;
      let next = transition.firstNext;
      if (transition.firstKey !== key) next = this.#follow(transition, key);
      transition = next!;
    }
    if (transition.id !== 0) {
      if (this.#position > this.#safeEnd) this.#grow(this.#position);
      this.#buffer[this.#position++] = transition.id;
    } else {
      // The values come after: no id they use can be given here (a structure the new one
      // displaces is defined again where it is next used).
      if (!this.#define(transition, object, this.#nextId, startedAt)) return false;
    }
    for (const key in object) {
      if (!this.#writeValue((object as Record<string, unknown>)[key], depth)) return false;
    }
    transition.writtenAt = this.#objects;
    return true;
  }

  /** The transition on `key` from `transition`, made if new. Off the fast path of a stable schema. */
  #follow(transition: Transition, key: string): Transition {
    if (transition.firstNext === null) {
      const next = new Transition();
      this.#transitions++;
      transition.firstKey = key;
      transition.firstNext = next;
      return next;
    }
    let others = transition.others;
    if (others === null) others = transition.others = new Map();
    let next = others.get(key);
    if (next === undefined) {
      next = new Transition();
      this.#transitions++;
      others.set(key, next);
    }
    return next;
  }

  /**
   * Defines the structure of an object whose values are written already: the definition goes
   * where its id byte is, before the values (moved up to make room).
   *
   * The decoder reads the definition before the values, so the id must not be one that a nested
   * object among those values was written with (a structure used since `startedAt`): that id
   * would mean the new structure by the time the values are read. Such ids are passed over;
   * false (the exact path) when all 64 are (an object holding objects of 64 other structures).
   */
  #defineInPlace(transition: Transition, object: object, idAt: number, startedAt: number): boolean {
    let slot = this.#nextId;
    let previous = this.#holders[slot]!;
    for (let tried = 1; previous !== null && previous.writtenAt > startedAt; tried++) {
      if (tried === STRUCTURE_IDS) return false;
      slot = slot + 1 === STRUCTURE_IDS ? 0 : slot + 1;
      previous = this.#holders[slot]!;
    }
    const valuesEnd = this.#position;
    if (!this.#define(transition, object, slot, startedAt)) return false;
    // The definition was written past the values: the two change places.
    const buffer = this.#buffer;
    const definitionEnd = this.#position;
    const values = Buffer.from(buffer.subarray(idAt + 1, valuesEnd)); // a copy: the ranges overlap
    buffer.copyWithin(idAt, valuesEnd, definitionEnd);
    values.copy(buffer, idAt + (definitionEnd - valuesEnd));
    this.#position = idAt + (definitionEnd - valuesEnd) + values.length;
    return true;
  }

  /**
   * Gives the structure ending at `transition` record id `slot` (taking it from the structure that
   * held it) and writes its definition at the position: fixext 1 "r" id, then the keys as an
   * array. Once per structure and id. False for a key with a lone surrogate.
   */
  #define(transition: Transition, object: object, slot: number, startedAt: number): boolean {
    const keys = Object.keys(object);
    let keyChars = 0;
    for (const key of keys) keyChars += key.length;
    const definitionMax = 3 + 5 + keys.length * 5 + keyChars * 3;
    if (this.#position + definitionMax > this.#safeEnd) this.#grow(this.#position + definitionMax);
    const id = STRUCTURE_ID_FIRST + slot;
    const buffer = this.#buffer;
    buffer[this.#position++] = 0xd4;
    buffer[this.#position++] = 0x72;
    buffer[this.#position++] = id;
    this.#writeArrayHeader(keys.length);
    for (const key of keys) if (!this.#writeString(key)) return false;

    this.#nextId = slot + 1 === STRUCTURE_IDS ? 0 : slot + 1;
    const previous = this.#holders[slot]!;
    if (previous !== null) previous.id = 0;
    this.#holders[slot] = transition;
    this.#defined.push(transition, previous, slot);
    transition.id = id;
    transition.definedAt = startedAt;
    return true;
  }

  /** Undoes the definitions made since `#defined` had `mark` entries, latest first: the decoder never saw them. */
  #undefine(mark: number): void {
    const defined = this.#defined;
    // Latest first, so a slot given twice gets back the holder it had before the first time.
    for (let i = defined.length - 3; i >= mark; i -= 3) {
      const transition = defined[i] as Transition;
      const previous = defined[i + 1] as Transition | null;
      const slot = defined[i + 2] as number;
      transition.id = 0;
      this.#holders[slot] = previous;
      if (previous !== null) previous.id = STRUCTURE_ID_FIRST + slot;
    }
    defined.length = mark;
  }

  /** An abandoned batch's structure definitions are undone: its frame is never sent. */
  #takeBack(): void {
    this.#undefine(0);
    this.#nextId = this.#nextIdAtStart;
    this.#keysFirst = false;
  }

  /** Starts the trie again; structures already sent are defined again, under new ids, when next used. */
  #dropTransitions(): void {
    this.#root = new Transition();
    this.#transitions = 0;
    this.#holders.fill(null);
  }

  #grow(end: number): void {
    let size = this.#buffer.length * 2;
    while (size - SLACK_BYTES < end) size *= 2;
    const buffer = Buffer.allocUnsafe(size);
    this.#buffer.copy(buffer, 0, 0, this.#position);
    this.#buffer = buffer;
    this.#view = viewOf(buffer);
    this.#bytes = bytesOf(buffer);
    this.#safeEnd = size - SLACK_BYTES;
  }
}

function viewOf(buffer: Buffer): DataView {
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
