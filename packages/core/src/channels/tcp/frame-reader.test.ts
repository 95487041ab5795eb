import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameReader } from './frame-reader.ts';

function framed(payloads: readonly Uint8Array[]): Buffer {
  return Buffer.concat(
    payloads.flatMap((payload) => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(payload.byteLength, 0);
      return [length, Buffer.from(payload)];
    }),
  );
}

/** `bytes` cut at the given points (sorted, deduplicated, within the buffer). */
function cut(bytes: Buffer, points: readonly number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.byteLength + 1)))].sort((x, y) => x - y);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of at) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

describe('FrameReader', () => {
  it('hands on every frame whole and in order, however the stream is cut (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, points) => {
          const frames: Buffer[] = [];
          const reader = new FrameReader(
            300,
            // Copied: a frame handed on is a view that the callee must copy to keep.
            (frame) => frames.push(Buffer.from(frame)),
            () => {
              throw new Error('no frame is oversized here');
            },
          );
          for (const chunk of cut(framed(payloads), points)) reader.push(chunk);
          expect(frames.map((f) => Array.from(f))).toEqual(payloads.map((p) => Array.from(p)));
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('refuses a frame over the limit from its length prefix alone, even split, and stops reading', () => {
    const oversized: number[] = [];
    const frames: Buffer[] = [];
    const reader = new FrameReader(
      16,
      (frame) => frames.push(Buffer.from(frame)),
      (bytes) => oversized.push(bytes),
    );
    reader.push(framed([Buffer.from('ok')]));
    // A prefix of 2^32 - 1, in two chunks, then bytes that must never be read as a frame.
    reader.push(Buffer.from([0xff, 0xff]));
    reader.push(Buffer.from([0xff, 0xff, 0, 0, 0, 1, 7]));
    reader.push(framed([Buffer.from('after')]));
    expect(oversized).toEqual([0xffffffff]);
    expect(frames.map(String)).toEqual(['ok']);
  });
});
