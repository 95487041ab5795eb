/**
 * Keys and key groups.
 *
 * A key is hashed to one of `maxParallelism` key groups; a subtask owns a contiguous
 * {@link KeyGroupRange}. State is stored and checkpointed per key group, so a job restored at
 * another parallelism moves whole key groups, never single keys. The formulas are Flink's
 * (`KeyGroupRangeAssignment`), so anyone who knows Flink can predict where a key goes.
 *
 * Compatibility: {@link hashKey} and the range formulas are part of the checkpoint format. A key's
 * key group is recomputed on restore, so changing either silently sends restored state to the
 * wrong key group. The known-answer test in `key-groups.test.ts` pins them.
 */

import { StateArgumentError, StateError } from './errors.ts';

/**
 * A key, as returned by a `keyBy` selector. Only primitives: they hash deterministically in every
 * thread and process, compare by value in a `Map`, and serialise without a schema.
 */
export type Key = string | number | bigint | boolean;

// `String.prototype.isWellFormed` (ES2024; Node 20+), which the ES2022 lib we compile against lacks.
const nativeIsWellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean })
  .isWellFormed;

/**
 * Whether a string has no lone surrogate: whether UTF-8 (msgpack, LevelDB record keys) carries it
 * exactly. A string that is not (`'\uD800'`) turns into U+FFFD there and meets other keys, so
 * key encodings fall back to UTF-16 code units for it.
 */
export function isWellFormedString(s: string): boolean {
  return nativeIsWellFormed.call(s);
}

/** Flink's default: enough key groups to rescale up to 128 subtasks. */
export const DEFAULT_MAX_PARALLELISM = 128;
/** Flink's upper bound (2^15): key groups are cheap but not free (one map per state each). */
export const MAX_MAX_PARALLELISM = 32768;

// ---------------------------------------------------------------------------------------------
// Hashing: MurmurHash3 (x86_32) block mixing and its fmix32 finalizer, Austin Appleby, public
// domain. Math.imul keeps every step in int32 arithmetic, so V8 compiles it to plain integer
// instructions: no allocation, no float rounding, the same bits on every platform.
// ---------------------------------------------------------------------------------------------

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const SEED = 0x9747b28c;

/** Mixes one 32-bit block into the running hash (murmur3 body step). */
function mixBlock(h: number, block: number): number {
  let k = Math.imul(block, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's fmix32: forces every input bit to affect every output bit (avalanche). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// Each key type starts from its own state (a type tag mixed into the seed), so `1`, `'1'`, `1n`
// and `true` land in unrelated places even where their payload bits coincide.
const START_STRING = mixBlock(SEED, 1);
const START_INT = mixBlock(SEED, 2);
const START_FLOAT = mixBlock(SEED, 3);
const START_BIGINT = mixBlock(SEED, 4);
const HASH_FALSE = fmix32(mixBlock(mixBlock(SEED, 5), 0) ^ 1);
const HASH_TRUE = fmix32(mixBlock(mixBlock(SEED, 5), 1) ^ 1);
// Every NaN is the same Map key, so every NaN must hash alike, whatever its payload bits.
const HASH_NAN = fmix32(mixBlock(SEED, 6) ^ 0);

// Shared scratch to read a double's bits without allocating. The word order is fixed to
// little-endian (low word first) whatever the host, so the hash is a function of the value alone.
const F64 = new Float64Array(1);
const I32 = new Int32Array(F64.buffer);
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LOW_WORD = LITTLE_ENDIAN_HOST ? 0 : 1;
const HIGH_WORD = 1 - LOW_WORD;
const TWO_POW_32 = 4294967296;

/**
 * Hashes a key to an unsigned 32-bit integer.
 *
 * A pure function of the key's value: the same in every thread, process and machine. Strings are
 * hashed by UTF-16 code unit, two per block, without allocating; integer numbers by their integer
 * value (so `-0` and `0` agree, as they do as `Map` keys); other numbers by their IEEE-754 bits;
 * bigints by 32-bit words of their magnitude plus sign.
 *
 * @throws {StateError} `SLUICE_STATE_INVALID_KEY` if `key` is not a primitive {@link Key}.
 * @example
 * hashKey('user-42') === hashKey('user-42'); // always
 * hashKey(1) !== hashKey('1');               // type-tagged
 */
export function hashKey(key: Key): number {
  switch (typeof key) {
    case 'string':
      return hashString(key);
    case 'number':
      return hashNumber(key);
    case 'boolean':
      return key ? HASH_TRUE : HASH_FALSE;
    case 'bigint':
      return hashBigInt(key);
    default:
      throw invalidKey(key);
  }
}

function hashString(s: string): number {
  const length = s.length;
  let h = START_STRING;
  let i = 0;
  for (; i + 1 < length; i += 2) {
    h = mixBlock(h, s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
  }
  if (i < length) {
    // murmur3 tail: mix the odd code unit without the rotate-multiply step of a full block.
    let k = Math.imul(s.charCodeAt(i), C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  return fmix32(h ^ length);
}

function hashNumber(x: number): number {
  if ((x | 0) === x) {
    // int32 (the common case for numeric keys): one block. `-0 | 0` is 0, so -0 hashes like 0.
    return fmix32(mixBlock(START_INT, x) ^ 4);
  }
  if (Number.isInteger(x)) {
    // Wider integers: low and high 32-bit words of the integer value, still no allocation.
    const high = Math.floor(x / TWO_POW_32) | 0;
    return fmix32(mixBlock(mixBlock(START_INT, x | 0), high) ^ 8);
  }
  if (Number.isNaN(x)) return HASH_NAN;
  F64[0] = x;
  return fmix32(mixBlock(mixBlock(START_FLOAT, I32[LOW_WORD]!), I32[HIGH_WORD]!) ^ 8);
}

function hashBigInt(x: bigint): number {
  const negative = x < 0n;
  let magnitude = negative ? -x : x;
  let h = mixBlock(START_BIGINT, negative ? 1 : 0);
  let words = 0;
  // Terminates: every iteration drops 32 bits of a finite magnitude.
  do {
    h = mixBlock(h, Number(magnitude & 0xffffffffn));
    magnitude >>= 32n;
    words++;
  } while (magnitude !== 0n);
  return fmix32(h ^ (words << 2));
}

function invalidKey(key: unknown): StateError {
  const type = key === null ? 'null' : typeof key;
  return new StateError(
    'SLUICE_STATE_INVALID_KEY',
    `a key must be a string, number, bigint or boolean, got ${type}; ` +
      'return a primitive from the keyBy selector (e.g. a string joining the fields of a composite key)',
  );
}

/**
 * The key group of a key: `hashKey(key) % maxParallelism`.
 *
 * On the hot path (once per record in the partitioner and the keyed operator), so it does not
 * validate `maxParallelism`; callers validate it once, up front (see
 * {@link validateMaxParallelism}).
 */
export function assignToKeyGroup(key: Key, maxParallelism: number): number {
  return (hashKey(key) >>> 0) % maxParallelism;
}

/**
 * A contiguous, inclusive range of key groups `[start, end]`; the key groups one subtask owns.
 * Empty when `end === start - 1` ({@link KeyGroupRange.EMPTY} is `[0, -1]`).
 */
export class KeyGroupRange implements Iterable<number> {
  /** The range holding no key group. */
  static readonly EMPTY = new KeyGroupRange(0, -1);

  readonly start: number;
  /** Inclusive. */
  readonly end: number;

  constructor(start: number, end: number) {
    this.start = start;
    this.end = end;
    if (!Number.isInteger(start) || start < 0 || start >= MAX_MAX_PARALLELISM) {
      throw new StateArgumentError(
        'start',
        `must be an integer in [0, ${MAX_MAX_PARALLELISM - 1}], got ${start}`,
      );
    }
    if (!Number.isInteger(end) || end < start - 1 || end >= MAX_MAX_PARALLELISM) {
      throw new StateArgumentError(
        'end',
        `must be an integer in [start - 1, ${MAX_MAX_PARALLELISM - 1}] (inclusive; start - 1 for an empty range), got ${end} with start ${start}`,
      );
    }
  }

  /** Whether `keyGroup` is in the range. */
  contains(keyGroup: number): boolean {
    return keyGroup >= this.start && keyGroup <= this.end;
  }

  /** Number of key groups in the range. */
  get size(): number {
    return this.end - this.start + 1;
  }

  /** The key groups in both ranges ({@link KeyGroupRange.EMPTY} if none). */
  intersection(other: KeyGroupRange): KeyGroupRange {
    const start = Math.max(this.start, other.start);
    const end = Math.min(this.end, other.end);
    return start <= end ? new KeyGroupRange(start, end) : KeyGroupRange.EMPTY;
  }

  equals(other: KeyGroupRange): boolean {
    return this.size === 0 ? other.size === 0 : this.start === other.start && this.end === other.end;
  }

  *[Symbol.iterator](): Generator<number, void, undefined> {
    for (let kg = this.start; kg <= this.end; kg++) yield kg;
  }

  toString(): string {
    return this.size === 0 ? '[]' : `[${this.start}, ${this.end}]`;
  }
}

/** Throws a {@link StateArgumentError} unless `maxParallelism` is an integer in `[1, MAX_MAX_PARALLELISM]`. */
export function validateMaxParallelism(maxParallelism: number, argument = 'maxParallelism'): void {
  if (!Number.isInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > MAX_MAX_PARALLELISM) {
    throw new StateArgumentError(
      argument,
      `must be an integer in [1, ${MAX_MAX_PARALLELISM}], got ${String(maxParallelism)}`,
    );
  }
}

function validateParallelism(maxParallelism: number, parallelism: number): void {
  validateMaxParallelism(maxParallelism);
  if (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > maxParallelism) {
    throw new StateArgumentError(
      'parallelism',
      `must be an integer in [1, maxParallelism = ${maxParallelism}], got ${String(parallelism)}`,
    );
  }
}

/**
 * The key groups owned by subtask `operatorIndex` of `parallelism` (Flink's formula):
 * `[ceil(i * maxP / p), ceil((i + 1) * maxP / p) - 1]`. The ranges of all subtasks are
 * contiguous, cover `[0, maxParallelism - 1]` exactly once, and differ in size by at most one.
 *
 * @example
 * computeKeyGroupRangeForOperatorIndex(128, 3, 1); // [43, 85]
 */
export function computeKeyGroupRangeForOperatorIndex(
  maxParallelism: number,
  parallelism: number,
  operatorIndex: number,
): KeyGroupRange {
  validateParallelism(maxParallelism, parallelism);
  if (!Number.isInteger(operatorIndex) || operatorIndex < 0 || operatorIndex >= parallelism) {
    throw new StateArgumentError(
      'operatorIndex',
      `must be an integer in [0, parallelism - 1 = ${parallelism - 1}], got ${String(operatorIndex)}`,
    );
  }
  // Integer ceil division; products stay below 2^30, exact in doubles.
  const start = Math.floor((operatorIndex * maxParallelism + parallelism - 1) / parallelism);
  const end = Math.floor(((operatorIndex + 1) * maxParallelism - 1) / parallelism);
  return new KeyGroupRange(start, end);
}

/**
 * The subtask that owns `keyGroup` (Flink's formula): `floor(keyGroup * parallelism / maxP)`.
 * Consistent with {@link computeKeyGroupRangeForOperatorIndex}.
 */
export function computeOperatorIndexForKeyGroup(
  maxParallelism: number,
  parallelism: number,
  keyGroup: number,
): number {
  validateParallelism(maxParallelism, parallelism);
  if (!Number.isInteger(keyGroup) || keyGroup < 0 || keyGroup >= maxParallelism) {
    throw new StateArgumentError(
      'keyGroup',
      `must be an integer in [0, maxParallelism - 1 = ${maxParallelism - 1}], got ${String(keyGroup)}`,
    );
  }
  return Math.floor((keyGroup * parallelism) / maxParallelism);
}
