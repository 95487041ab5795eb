/**
 * The byte format of a channel that encodes (today the ring, `ring-channel.ts`). Data frames are
 * batches encoded by the channel's `RecordEncoder` (msgpack, see `record-codec.ts`): `[values,
 * timestamps]` from its one pass, `[values, timestamps, null]` from its exact path; control frames (watermark, watermark status, checkpoint barrier, end of
 * input, and the parts of a batch too large for one frame) start with 0xC1, the one byte msgpack
 * never emits, so the reader tells them apart from data with one comparison.
 *
 * | frame              | bytes                                                         |
 * |--------------------|---------------------------------------------------------------|
 * | watermark          | `C1 01` f64 watermark (little endian)                         |
 * | watermark status   | `C1 02` 1 idle / 0 active                                     |
 * | end of input       | `C1 03`                                                       |
 * | part of a batch    | `C1 04` 1 last part / 0 more follow, then the batch's bytes    |
 * | checkpoint barrier | `C1 05` f64 checkpoint id (little endian)                     |
 * | keyed batch        | `C1 06` keys section (`batch-keys.ts`), then a data frame      |
 *
 * A batch on a hash-partitioned channel is a keyed batch: the key and key group of each record,
 * as the sender computed them, in front of the records. Too large for one frame, it travels as
 * parts like any batch; the joined frame starts with `C1 06` again.
 */
export const CONTROL_MARKER = 0xc1;

export const ControlType = {
  Watermark: 1,
  Status: 2,
  EndOfInput: 3,
  /** A piece of a data frame larger than the channel's largest frame; the last piece has flag 1. */
  Part: 4,
  Barrier: 5,
  /** A data frame with its records' keys in front (`batch-keys.ts`). */
  KeyedBatch: 6,
} as const;

/** Bytes in front of a keyed batch's keys section: marker, type. */
export const KEYED_BATCH_HEADER_BYTES = 2;

/** Bytes in front of a part's share of the batch: marker, type, last-part flag. */
export const PART_HEADER_BYTES = 3;

export const IDLE_FRAME: Uint8Array = Uint8Array.of(CONTROL_MARKER, ControlType.Status, 1);
export const ACTIVE_FRAME: Uint8Array = Uint8Array.of(CONTROL_MARKER, ControlType.Status, 0);
export const END_OF_INPUT_FRAME: Uint8Array = Uint8Array.of(CONTROL_MARKER, ControlType.EndOfInput);

/**
 * Writes the control frames that carry a number (watermarks, barriers) into one scratch buffer,
 * so that sending one allocates nothing: the buffer is valid until the next call, and a frame
 * that must be kept (it waits for room) is copied.
 */
export class ControlFrameWriter {
  readonly #frame = new Uint8Array(10);
  readonly #view = new DataView(this.#frame.buffer);

  constructor() {
    this.#frame[0] = CONTROL_MARKER;
  }

  watermark(watermark: number): Uint8Array {
    return this.#withNumber(ControlType.Watermark, watermark);
  }

  barrier(checkpointId: number): Uint8Array {
    return this.#withNumber(ControlType.Barrier, checkpointId);
  }

  #withNumber(type: number, value: number): Uint8Array {
    this.#frame[1] = type;
    this.#view.setFloat64(2, value, true);
    return this.#frame;
  }
}

const scratch = new DataView(new ArrayBuffer(8));

/**
 * Reads the f64 after the two header bytes (watermarks and barriers). Byte by byte through a
 * scratch view: the frame is a view into shared memory at any offset, and a DataView over it
 * would be an allocation per frame.
 */
export function readControlNumber(frame: Uint8Array): number {
  for (let i = 0; i < 8; i++) scratch.setUint8(i, frame[2 + i]!);
  return scratch.getFloat64(0, true);
}

/** Cuts a data frame into part frames of at most `maxPartBytes` each. */
export function encodeParts(frame: Uint8Array, maxPartBytes: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const chunk = maxPartBytes - PART_HEADER_BYTES;
  for (let offset = 0; offset < frame.byteLength; offset += chunk) {
    const end = Math.min(frame.byteLength, offset + chunk);
    const part = new Uint8Array(PART_HEADER_BYTES + end - offset);
    part[0] = CONTROL_MARKER;
    part[1] = ControlType.Part;
    part[2] = end === frame.byteLength ? 1 : 0;
    part.set(frame.subarray(offset, end), PART_HEADER_BYTES);
    parts.push(part);
  }
  return parts;
}

/** Joins the pieces of a data frame that arrived as parts, in order. */
export function joinParts(pieces: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.byteLength;
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const piece of pieces) {
    whole.set(piece, offset);
    offset += piece.byteLength;
  }
  return whole;
}
