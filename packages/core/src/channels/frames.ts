/**
 * What travels through a channel. Data frames are batches `[values, timestamps]` encoded by the
 * channel's `RecordEncoder` (msgpack, see `record-codec.ts`); control frames (watermark, watermark status, end of input, and pieces of a batch too large
 * for the ring) start with 0xC1, the one byte msgpack never emits, so the reader tells them
 * apart from data with one comparison.
 */
export const CONTROL_MARKER = 0xc1;

export const ControlType = {
  Watermark: 1,
  Status: 2,
  EndOfInput: 3,
  /** A piece of a data frame larger than the ring's largest frame; the last piece has flag 1. */
  Part: 4,
  /** A checkpoint barrier: `[marker, type, f64 checkpoint id]`. */
  Barrier: 5,
} as const;

const scratch = new DataView(new ArrayBuffer(8));

export function encodeWatermark(watermark: number): Uint8Array {
  const frame = new Uint8Array(10);
  frame[0] = CONTROL_MARKER;
  frame[1] = ControlType.Watermark;
  new DataView(frame.buffer).setFloat64(2, watermark, true);
  return frame;
}

export function encodeBarrier(checkpointId: number): Uint8Array {
  const frame = new Uint8Array(10);
  frame[0] = CONTROL_MARKER;
  frame[1] = ControlType.Barrier;
  new DataView(frame.buffer).setFloat64(2, checkpointId, true);
  return frame;
}

/** Reads the f64 after the two header bytes (watermarks and barriers). */
export function decodeControlNumber(frame: Uint8Array): number {
  for (let i = 0; i < 8; i++) scratch.setUint8(i, frame[2 + i]!);
  return scratch.getFloat64(0, true);
}

export function decodeWatermark(frame: Uint8Array): number {
  for (let i = 0; i < 8; i++) scratch.setUint8(i, frame[2 + i]!);
  return scratch.getFloat64(0, true);
}

export function encodeStatus(idle: boolean): Uint8Array {
  return Uint8Array.of(CONTROL_MARKER, ControlType.Status, idle ? 1 : 0);
}

export const END_OF_INPUT_FRAME: Uint8Array = Uint8Array.of(CONTROL_MARKER, ControlType.EndOfInput);

export function encodeParts(frame: Uint8Array, maxPartBytes: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const chunk = maxPartBytes - 3;
  for (let offset = 0; offset < frame.byteLength; offset += chunk) {
    const end = Math.min(frame.byteLength, offset + chunk);
    const part = new Uint8Array(3 + end - offset);
    part[0] = CONTROL_MARKER;
    part[1] = ControlType.Part;
    part[2] = end === frame.byteLength ? 1 : 0;
    part.set(frame.subarray(offset, end), 3);
    parts.push(part);
  }
  return parts;
}
