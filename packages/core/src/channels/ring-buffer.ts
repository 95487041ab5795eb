/**
 * A bounded single-producer / single-consumer ring of variable-length byte frames on a
 * `SharedArrayBuffer`: the data plane between two worker threads (Flink's network buffers play the
 * same role between task slots).
 *
 * Exactly one {@link RingWriter} and one {@link RingReader} may use a ring at any time; they may live
 * in different threads or in the same one. Neither side blocks: `tryWrite` returns `false` when the
 * ring is full and `tryRead` returns `null` when it is empty. Pair a ring with a `Doorbell`
 * (`./doorbell.ts`) so an idle thread can sleep until data or room appears.
 *
 * The layout follows the classic Lamport SPSC queue with free-running counters (as in Aeron's
 * `OneToOneRingBuffer` and the Linux kernel's `kfifo`): the writer owns the write position, the
 * reader owns the read position, and each publishes its own with a release store after the bytes it
 * guards are in place.
 *
 * Header (all fields little or big endian as the platform is; both threads share the platform):
 *
 * | byte offset | field                                                   |
 * |-------------|---------------------------------------------------------|
 * | 0           | Int32 write position (uint32 counter, written by writer) |
 * | 64          | Int32 read position (uint32 counter, written by reader)  |
 * | 128         | Int32 closed flag (0 open, 1 closed; either side sets)  |
 * | 132         | Int32 magic `0x534c5231` ('SLR1')                       |
 * | 136         | Int32 data capacity in bytes (a power of two)            |
 * | 192 ...     | data area, `capacity` bytes                             |
 *
 * The two positions sit on separate 64-byte cache lines so the threads do not invalidate each
 * other's line on every publish (false sharing).
 *
 * A frame in the data area is an Int32 byte length followed by the bytes, padded to 4-byte
 * alignment. When a frame does not fit contiguously before the end of the data area, the writer
 * puts the wrap marker (length `-1`) at the current offset and writes the frame at offset 0; the
 * skipped tail counts as used until the reader passes it.
 *
 * @example
 * ```ts
 * const sab = allocateRing(64 * 1024);
 * const writer = new RingWriter(sab); // usually in the producing worker
 * const reader = new RingReader(sab); // usually in the consuming worker
 * writer.tryWrite(new Uint8Array([1, 2, 3])); // true
 * reader.tryRead(); // Uint8Array [1, 2, 3], a view into the ring
 * reader.release();
 * ```
 */

import { SluiceError } from '../errors.ts';

/** Smallest data area a ring gets; smaller requests are rounded up to this. */
export const RING_MIN_CAPACITY_BYTES = 4096;

/** Largest data area a ring may have (1 GiB): keeps every offset and length in a positive Int32. */
export const RING_MAX_CAPACITY_BYTES = 1024 * 1024 * 1024;

/** Bytes before the data area; a multiple of 64 so the data area starts on its own cache line. */
export const RING_HEADER_BYTES = 192;

// Int32 indexes into the header.
const WRITE_POSITION_INDEX = 0; // byte 0
const READ_POSITION_INDEX = 16; // byte 64
const CLOSED_INDEX = 32; // byte 128
const MAGIC_INDEX = 33; // byte 132
const CAPACITY_INDEX = 34; // byte 136

const RING_MAGIC = 0x534c5231; // 'SLR1'

/** Length value meaning "nothing more before the end of the data area; continue at offset 0". */
const WRAP_MARKER = -1;

/** Bytes of the length prefix in front of each frame. */
const FRAME_HEADER_BYTES = 4;

/**
 * Thrown by {@link RingWriter.tryWrite} for a frame that could never fit, however long the writer
 * waited. Callers avoid it by splitting batches so each frame stays within `maxFrameBytes`.
 */
export class FrameTooLargeError extends SluiceError {
  declare readonly code: 'SLUICE_FRAME_TOO_LARGE';
  /** Size of the rejected frame's payload. */
  readonly frameBytes: number;
  /** Data capacity of the ring. */
  readonly capacityBytes: number;
  /** Largest payload the ring accepts. */
  readonly maxFrameBytes: number;

  constructor(frameBytes: number, capacityBytes: number, maxFrameBytes: number) {
    super(
      'SLUICE_FRAME_TOO_LARGE',
      `frame of ${frameBytes} bytes does not fit a ring of capacity ${capacityBytes} bytes ` +
        `(max frame ${maxFrameBytes} bytes); split the batch into smaller frames`,
    );
    // Explicit, not the class's name: a minifying bundler renames classes.
    this.name = 'FrameTooLargeError';
    this.frameBytes = frameBytes;
    this.capacityBytes = capacityBytes;
    this.maxFrameBytes = maxFrameBytes;
  }
}

/**
 * Allocates a ring able to hold `capacityBytes` of framed data, rounded up to a power of two and to
 * at least {@link RING_MIN_CAPACITY_BYTES}. Send the result to the worker threads (it is shared, not
 * copied) and wrap it in a {@link RingWriter} on one side and a {@link RingReader} on the other.
 */
export function allocateRing(capacityBytes: number): SharedArrayBuffer {
  if (!Number.isInteger(capacityBytes) || capacityBytes <= 0 || capacityBytes > RING_MAX_CAPACITY_BYTES) {
    throw new RangeError(
      `capacityBytes must be a positive integer <= ${RING_MAX_CAPACITY_BYTES} (1 GiB), got ${String(capacityBytes)}`,
    );
  }
  let capacity = RING_MIN_CAPACITY_BYTES;
  while (capacity < capacityBytes) capacity *= 2; // at most 18 doublings: 4 KiB -> 1 GiB
  const sab = new SharedArrayBuffer(RING_HEADER_BYTES + capacity);
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  header[MAGIC_INDEX] = RING_MAGIC;
  header[CAPACITY_INDEX] = capacity;
  return sab;
}

/**
 * The largest payload a ring of `capacityBytes` accepts: half the data area, less the length prefix.
 * Half, because a frame that must wrap also consumes the skipped tail; capping the framed size at
 * half the capacity guarantees that an emptied ring can always take the frame, wherever the
 * positions stand (either the tail or the space before it is at least half the ring).
 */
function maxFrameBytesFor(capacityBytes: number): number {
  return capacityBytes / 2 - FRAME_HEADER_BYTES;
}

/**
 * How full a ring is, 0 to 1, read from any thread without taking part in the protocol (for
 * metrics: Flink's inPoolUsage / outPoolUsage). The two positions are read one after the other, so
 * the answer may be a frame out of date; it is never outside 0..1.
 */
export function ringUsage(sab: SharedArrayBuffer): number {
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  const capacity = header[CAPACITY_INDEX]!;
  const used = (Atomics.load(header, WRITE_POSITION_INDEX) - Atomics.load(header, READ_POSITION_INDEX)) >>> 0;
  return capacity > 0 ? Math.min(1, used / capacity) : 0;
}

/** Checks that `sab` is a ring made by {@link allocateRing} and returns its data capacity. */
function ringCapacity(sab: SharedArrayBuffer, role: string): number {
  // toString rather than instanceof: a SharedArrayBuffer from another realm still qualifies.
  if (Object.prototype.toString.call(sab) !== '[object SharedArrayBuffer]') {
    throw new TypeError(`${role}: sab must be a SharedArrayBuffer from allocateRing()`);
  }
  if (sab.byteLength <= RING_HEADER_BYTES) {
    throw new RangeError(`${role}: sab of ${sab.byteLength} bytes is too small to be a ring`);
  }
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  const capacity = header[CAPACITY_INDEX]!;
  if (header[MAGIC_INDEX] !== RING_MAGIC || capacity !== sab.byteLength - RING_HEADER_BYTES) {
    throw new TypeError(`${role}: sab is not a ring (allocate it with allocateRing())`);
  }
  return capacity;
}

/**
 * Sets both positions of an idle ring to `position` (a uint32), so tests can exercise the
 * counters' wrap at 2^32 without pushing 4 GiB through the ring. Call it before constructing the
 * writer and the reader: they cache the positions. Not for production use.
 */
export function _setPositionsForTest(sab: SharedArrayBuffer, position: number): void {
  ringCapacity(sab, '_setPositionsForTest');
  if (!Number.isInteger(position) || position < 0 || position > 0xffffffff || position % 4 !== 0) {
    throw new RangeError(`position must be a uint32 multiple of 4, got ${String(position)}`);
  }
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  Atomics.store(header, READ_POSITION_INDEX, position | 0);
  Atomics.store(header, WRITE_POSITION_INDEX, position | 0);
}

/** Reads both positions as uint32s, for tests. Not for production use. */
export function _getPositionsForTest(sab: SharedArrayBuffer): {
  readPosition: number;
  writePosition: number;
} {
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  return {
    readPosition: Atomics.load(header, READ_POSITION_INDEX) >>> 0,
    writePosition: Atomics.load(header, WRITE_POSITION_INDEX) >>> 0,
  };
}

/**
 * The producing side of a ring. Only one writer may use a ring at a time.
 */
export class RingWriter {
  /** Largest payload {@link tryWrite} accepts; larger frames throw {@link FrameTooLargeError}. */
  readonly maxFrameBytes: number;
  /** Data capacity of the ring in bytes (a power of two). */
  readonly capacityBytes: number;

  readonly #header: Int32Array;
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #mask: number;
  /** Our own position; only this writer changes it, so it never needs an atomic load. */
  #writePosition: number;
  /** Last read position seen; refreshed only when the ring looks full (see tryWrite). */
  #readPositionCache: number;

  constructor(sab: SharedArrayBuffer) {
    const capacity = ringCapacity(sab, 'RingWriter');
    this.capacityBytes = capacity;
    this.maxFrameBytes = maxFrameBytesFor(capacity);
    this.#header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    this.#words = new Int32Array(sab, RING_HEADER_BYTES, capacity / 4);
    this.#bytes = new Uint8Array(sab, RING_HEADER_BYTES, capacity);
    this.#mask = capacity - 1;
    this.#writePosition = Atomics.load(this.#header, WRITE_POSITION_INDEX) >>> 0;
    this.#readPositionCache = Atomics.load(this.#header, READ_POSITION_INDEX) >>> 0;
  }

  /**
   * Appends `frame` (copied into the ring) and returns `true`, or returns `false` and writes nothing
   * when the ring lacks room for the whole frame right now. Never writes part of a frame.
   *
   * `false` does not mean the reader is alive: if a `false` persists, check {@link isClosed}.
   *
   * @throws {FrameTooLargeError} when `frame.byteLength > maxFrameBytes`: the frame would never fit.
   */
  tryWrite(frame: Uint8Array): boolean {
    const length = frame.byteLength;
    if (length > this.maxFrameBytes) {
      throw new FrameTooLargeError(length, this.capacityBytes, this.maxFrameBytes);
    }
    const capacity = this.capacityBytes;
    const position = this.#writePosition;
    let offset = position & this.#mask;
    const framedBytes = FRAME_HEADER_BYTES + ((length + 3) & ~3);
    const tailBytes = capacity - offset;
    // A frame that does not fit before the end also uses up the tail it skips.
    const neededBytes = framedBytes <= tailBytes ? framedBytes : tailBytes + framedBytes;

    // Speed: consult the cached read position first and touch the reader's cache line (an atomic
    // load) only when the cached view says the ring is full; the reader only ever frees space, so the
    // cache can be stale but never wrong in the unsafe direction.
    if (((position - this.#readPositionCache) >>> 0) + neededBytes > capacity) {
      this.#readPositionCache = Atomics.load(this.#header, READ_POSITION_INDEX) >>> 0; // acquire
      if (((position - this.#readPositionCache) >>> 0) + neededBytes > capacity) return false;
    }

    const words = this.#words;
    if (framedBytes > tailBytes) {
      words[offset >> 2] = WRAP_MARKER;
      offset = 0;
    }
    words[offset >> 2] = length;
    this.#bytes.set(frame, offset + FRAME_HEADER_BYTES);

    const next = (position + neededBytes) >>> 0;
    this.#writePosition = next;
    // Release: the store publishes the bytes above; the reader acquires them with its Atomics.load.
    Atomics.store(this.#header, WRITE_POSITION_INDEX, next | 0);
    return true;
  }

  /**
   * Raw bytes not in use right now. A frame of `n` bytes needs `4 + n` rounded up to a multiple of
   * 4, plus the rest of the data area when it has to wrap, so a frame may not fit even when
   * `freeBytes` exceeds its size.
   */
  get freeBytes(): number {
    const read = Atomics.load(this.#header, READ_POSITION_INDEX) >>> 0;
    return this.capacityBytes - ((this.#writePosition - read) >>> 0);
  }

  /** Marks the ring closed, for teardown; the other side sees it through `isClosed`. */
  close(): void {
    Atomics.store(this.#header, CLOSED_INDEX, 1);
  }

  /** Whether either side has called `close()`. */
  get isClosed(): boolean {
    return Atomics.load(this.#header, CLOSED_INDEX) !== 0;
  }
}

/**
 * The consuming side of a ring. Only one reader may use a ring at a time.
 *
 * Zero-copy contract: {@link tryRead} returns a view into the shared memory, not a copy. The view
 * stays valid until the next `tryRead()` or `release()` call; after that the writer may overwrite
 * those bytes at any moment. Decode the frame, or copy it with `slice()`, before either call.
 */
export class RingReader {
  /** Data capacity of the ring in bytes (a power of two). */
  readonly capacityBytes: number;

  readonly #header: Int32Array;
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #mask: number;
  /** Our own published position; only this reader changes it, so it never needs an atomic load. */
  #readPosition: number;
  /** Bytes taken by the frame last returned (plus any wrap tail), released on the next call. */
  #heldBytes = 0;
  /** Last write position seen; refreshed only when the cached view says the ring is empty. */
  #writePositionCache: number;

  constructor(sab: SharedArrayBuffer) {
    const capacity = ringCapacity(sab, 'RingReader');
    this.capacityBytes = capacity;
    this.#header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    this.#words = new Int32Array(sab, RING_HEADER_BYTES, capacity / 4);
    this.#bytes = new Uint8Array(sab, RING_HEADER_BYTES, capacity);
    this.#mask = capacity - 1;
    this.#readPosition = Atomics.load(this.#header, READ_POSITION_INDEX) >>> 0;
    this.#writePositionCache = Atomics.load(this.#header, WRITE_POSITION_INDEX) >>> 0;
  }

  /**
   * Releases the frame returned by the previous call, then returns the next frame as a view into the
   * ring, or `null` when no frame is waiting. The view is valid only until the next `tryRead()` or
   * `release()`.
   */
  tryRead(): Uint8Array | null {
    if (this.#heldBytes !== 0) this.release();
    const position = this.#readPosition;
    // Speed: touch the writer's cache line (an atomic load) only when the cached write position
    // says the ring is empty; the writer only ever adds frames, so a stale cache is merely cautious.
    if (position === this.#writePositionCache) {
      this.#writePositionCache = Atomics.load(this.#header, WRITE_POSITION_INDEX) >>> 0; // acquire
      if (position === this.#writePositionCache) return null;
    }

    const words = this.#words;
    let offset = position & this.#mask;
    let length = words[offset >> 2]!;
    let skippedBytes = 0;
    if (length === WRAP_MARKER) {
      // The writer publishes the marker and the frame after it in one store, so a frame is there.
      skippedBytes = this.capacityBytes - offset;
      offset = 0;
      length = words[0]!;
    }
    this.#heldBytes = skippedBytes + FRAME_HEADER_BYTES + ((length + 3) & ~3);
    const start = offset + FRAME_HEADER_BYTES;
    return this.#bytes.subarray(start, start + length);
  }

  /**
   * Hands the space of the frame last returned by {@link tryRead} back to the writer; the view
   * becomes invalid. Idempotent. `tryRead()` does this itself, so call it only to free space early,
   * e.g. before going idle.
   */
  release(): void {
    if (this.#heldBytes === 0) return;
    const next = (this.#readPosition + this.#heldBytes) >>> 0;
    this.#readPosition = next;
    this.#heldBytes = 0;
    // Release: we are done with the bytes before publishing that the writer may reuse them.
    Atomics.store(this.#header, READ_POSITION_INDEX, next | 0);
  }

  /** Whether a frame is waiting beyond the one currently held (the next `tryRead()` returns it). */
  get hasData(): boolean {
    const next = (this.#readPosition + this.#heldBytes) >>> 0;
    return Atomics.load(this.#header, WRITE_POSITION_INDEX) >>> 0 !== next;
  }

  /** Marks the ring closed, for teardown; the other side sees it through `isClosed`. */
  close(): void {
    Atomics.store(this.#header, CLOSED_INDEX, 1);
  }

  /**
   * Whether either side has called `close()`. A writer closes after its last frame, so on seeing
   * `true` the reader should drain with `tryRead()` until `null` before stopping.
   */
  get isClosed(): boolean {
    return Atomics.load(this.#header, CLOSED_INDEX) !== 0;
  }
}
