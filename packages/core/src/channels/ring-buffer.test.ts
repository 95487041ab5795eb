import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runTsWorker } from '../testing/run-ts-worker.ts';
import { allocateDoorbell, Doorbell } from './doorbell.ts';
import {
  type IdleWaitWorkerData,
  type StreamWorkerData,
  TEST_FRAME_MAX_BYTES,
  testFrameByte,
  testFrameBytes,
} from './ring-buffer.test-worker.ts';
import {
  _getPositionsForTest,
  _setPositionsForTest,
  allocateRing,
  FrameTooLargeError,
  RING_HEADER_BYTES,
  RingReader,
  RingWriter,
} from './ring-buffer.ts';

/** A frame whose bytes are derived from `id`, so any corruption or reordering is detectable. */
function patternFrame(id: number, size: number): Uint8Array {
  const frame = new Uint8Array(size);
  for (let j = 0; j < size; j++) frame[j] = (id * 7 + j * 13) & 0xff;
  return frame;
}

/** Byte equality; far faster than `toEqual` on typed arrays, which matters in loops of thousands. */
function sameBytes(actual: Uint8Array | null | undefined, expected: Uint8Array): boolean {
  return actual != null && Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected);
}

function ringPair(capacityBytes: number, position?: number) {
  const sab = allocateRing(capacityBytes);
  if (position !== undefined) _setPositionsForTest(sab, position);
  return { sab, writer: new RingWriter(sab), reader: new RingReader(sab) };
}

/** Reads every waiting frame, copied, releasing as it goes. */
function drain(reader: RingReader): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let frame = reader.tryRead(); frame !== null; frame = reader.tryRead()) frames.push(frame.slice());
  return frames;
}

describe('allocateRing', () => {
  it('rounds the capacity up to a power of two of at least 4 KiB', () => {
    expect(allocateRing(1).byteLength).toBe(RING_HEADER_BYTES + 4096);
    expect(allocateRing(4096).byteLength).toBe(RING_HEADER_BYTES + 4096);
    expect(allocateRing(4097).byteLength).toBe(RING_HEADER_BYTES + 8192);
    expect(new RingWriter(allocateRing(100_000)).capacityBytes).toBe(131_072);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 30 + 1])(
    'rejects capacityBytes = %s with a RangeError naming the argument',
    (capacity) => {
      expect(() => allocateRing(capacity)).toThrow(RangeError);
      expect(() => allocateRing(capacity)).toThrow(/capacityBytes/);
    },
  );

  it('is refused by the writer and reader when the buffer is not a ring', () => {
    expect(() => new RingWriter(allocateDoorbell())).toThrow(/not a ring|too small/);
    expect(() => new RingReader(new SharedArrayBuffer(RING_HEADER_BYTES + 4096))).toThrow(/not a ring/);
    expect(() => new RingReader(new ArrayBuffer(8192) as unknown as SharedArrayBuffer)).toThrow(TypeError);
  });
});

describe('RingWriter / RingReader', () => {
  it('starts empty and open', () => {
    const { writer, reader } = ringPair(4096);
    expect(reader.tryRead()).toBeNull();
    expect(reader.hasData).toBe(false);
    expect(writer.freeBytes).toBe(4096);
    expect(writer.maxFrameBytes).toBe(2044);
    expect(writer.isClosed).toBe(false);
    expect(reader.isClosed).toBe(false);
  });

  it('returns false once full, writes nothing partial, and takes exactly one more frame after a release', () => {
    const { writer, reader } = ringPair(4096);
    // Framed size is 104 bytes: 39 frames use 4056 bytes and leave a 40-byte tail.
    let written = 0;
    while (writer.tryWrite(patternFrame(written, 100))) written++;
    expect(written).toBe(39);
    expect(writer.freeBytes).toBe(40);
    expect(writer.tryWrite(patternFrame(999, 100))).toBe(false);
    expect(writer.tryWrite(new Uint8Array(0))).toBe(true); // a 4-byte empty frame still fits
    expect(writer.tryWrite(new Uint8Array(32))).toBe(true); // ... and 4 + 32 fills the 36-byte rest exactly
    expect(writer.freeBytes).toBe(0);
    expect(writer.tryWrite(new Uint8Array(0))).toBe(false);

    const first = reader.tryRead();
    expect(first).toEqual(patternFrame(0, 100));
    expect(writer.tryWrite(patternFrame(39, 100))).toBe(false); // the held view still owns its space
    reader.release();
    expect(writer.tryWrite(patternFrame(39, 100))).toBe(true); // reuses frame 0's space at offset 0
    expect(writer.tryWrite(new Uint8Array(0))).toBe(false);

    const rest = drain(reader);
    expect(rest).toHaveLength(39 + 2);
    for (let i = 1; i < 39; i++) expect(rest[i - 1]).toEqual(patternFrame(i, 100));
    expect(rest[38]).toEqual(new Uint8Array(0));
    expect(rest[39]).toEqual(new Uint8Array(32));
    expect(rest[40]).toEqual(patternFrame(39, 100));
    expect(writer.freeBytes).toBe(4096);
    expect(reader.hasData).toBe(false);
  });

  it('keeps a returned view intact until the next tryRead or release', () => {
    const { writer, reader } = ringPair(4096);
    writer.tryWrite(patternFrame(1, 2000));
    const view = reader.tryRead()!;
    // The writer may not reuse the held frame's space, however hard it tries.
    while (writer.tryWrite(patternFrame(2, 500))) {}
    expect(view).toEqual(patternFrame(1, 2000));
    expect(reader.hasData).toBe(true);
    reader.release();
    reader.release(); // idempotent
    expect(reader.tryRead()).toEqual(patternFrame(2, 500));
  });

  it('frames wrap around the data area in order and intact (property)', () => {
    type Op = { kind: 'write'; size: number } | { kind: 'read' } | { kind: 'release' };
    const capacity = 4096;
    const maxFrame = capacity / 2 - 4;
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: maxFrame }))
          .map((size): Op => ({ kind: 'write', size })),
      },
      { weight: 4, arbitrary: fc.constant<Op>({ kind: 'read' }) },
      { weight: 1, arbitrary: fc.constant<Op>({ kind: 'release' }) },
    );
    const startPosition = fc.oneof(
      fc.constant(0),
      fc.constant(0xfffffff0),
      fc.integer({ min: 0, max: 0x3fffffff }).map((k) => k * 4),
    );

    fc.assert(
      fc.property(startPosition, fc.array(op, { maxLength: 300 }), (start, ops) => {
        const { writer, reader } = ringPair(capacity, start);
        const queued: Uint8Array[] = [];
        let held: { view: Uint8Array; expected: Uint8Array } | null = null;
        let nextId = 0;
        for (const o of ops) {
          if (held !== null) expect(sameBytes(held.view, held.expected)).toBe(true);
          if (o.kind === 'write') {
            const frame = patternFrame(nextId++, o.size);
            if (writer.tryWrite(frame)) {
              queued.push(frame);
            } else {
              // An emptied ring always takes a frame of up to maxFrameBytes, wherever it stands.
              expect(queued.length > 0 || held !== null).toBe(true);
            }
          } else if (o.kind === 'read') {
            const view = reader.tryRead();
            const expected = queued.shift();
            if (expected === undefined) {
              expect(view).toBeNull();
              held = null;
            } else {
              expect(sameBytes(view, expected)).toBe(true);
              held = { view: view!, expected };
            }
          } else {
            reader.release();
            held = null;
          }
          expect(writer.freeBytes).toBeGreaterThanOrEqual(0);
          expect(writer.freeBytes).toBeLessThanOrEqual(capacity);
        }
        expect(drain(reader)).toEqual(queued);
        expect(writer.freeBytes).toBe(capacity);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts a frame of maxFrameBytes into an emptied ring at every offset', () => {
    for (let offset = 0; offset < 4096; offset += 4) {
      const { writer, reader } = ringPair(4096, offset);
      const frame = patternFrame(offset, writer.maxFrameBytes);
      expect(writer.tryWrite(frame)).toBe(true);
      expect(sameBytes(reader.tryRead(), frame)).toBe(true);
    }
  });

  it('keeps counting across the 2^32 wrap of the positions', () => {
    const { sab, writer, reader } = ringPair(4096, 0xfffffff0);
    // Offset 4080: a 12-byte frame fits before the end, the next one must wrap.
    expect(writer.tryWrite(patternFrame(1, 8))).toBe(true);
    expect(_getPositionsForTest(sab).writePosition).toBe(0xfffffffc);
    expect(writer.tryWrite(patternFrame(2, 8))).toBe(true); // 4-byte tail skipped, 12 bytes at 0
    expect(_getPositionsForTest(sab).writePosition).toBe(12); // counter wrapped past 2^32
    expect(writer.freeBytes).toBe(4096 - 12 - 4 - 12);
    expect(reader.hasData).toBe(true);
    expect(drain(reader)).toEqual([patternFrame(1, 8), patternFrame(2, 8)]);
    expect(_getPositionsForTest(sab).readPosition).toBe(12);
    expect(writer.freeBytes).toBe(4096);

    // Many laps around both the data area and the counter's wrap.
    const { sab: sab2, writer: w2, reader: r2 } = ringPair(4096, 0xffff0000);
    let sent = 0;
    let received = 0;
    let bytesThrough = 0;
    while (received < 5000) {
      while (sent < 5000 && w2.tryWrite(patternFrame(sent, (sent * 97) % 700))) {
        bytesThrough += 4 + ((((sent * 97) % 700) + 3) & ~3);
        sent++;
      }
      for (let f = r2.tryRead(); f !== null; f = r2.tryRead()) {
        expect(sameBytes(f, patternFrame(received, (received * 97) % 700))).toBe(true);
        received++;
      }
    }
    const { readPosition, writePosition } = _getPositionsForTest(sab2);
    expect(readPosition).toBe(writePosition);
    expect(bytesThrough).toBeGreaterThan(0x10000); // so the counter did pass 2^32 ...
    expect(writePosition).toBeLessThan(0xffff0000); // ... and wrapped to a small value
  });

  it('throws FrameTooLargeError for a frame the ring could never hold', () => {
    const { writer, reader } = ringPair(4096);
    let error: unknown;
    try {
      writer.tryWrite(new Uint8Array(2045));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FrameTooLargeError);
    const tooLarge = error as FrameTooLargeError;
    expect(tooLarge.code).toBe('SLUICE_FRAME_TOO_LARGE');
    expect(tooLarge.message).toContain('2045');
    expect(tooLarge.message).toContain('4096');
    expect(tooLarge.maxFrameBytes).toBe(2044);
    expect(reader.tryRead()).toBeNull(); // nothing was written
    expect(writer.tryWrite(new Uint8Array(2044))).toBe(true);
  });

  it('shares the closed flag between both sides', () => {
    const { writer, reader } = ringPair(4096);
    writer.tryWrite(patternFrame(0, 10));
    writer.close();
    expect(reader.isClosed).toBe(true);
    expect(writer.isClosed).toBe(true);
    expect(reader.tryRead()).toEqual(patternFrame(0, 10)); // data written before close still drains
  });
});

describe('Doorbell', () => {
  it('resolves a wait when rung', async () => {
    const bell = new Doorbell(allocateDoorbell());
    const seen = bell.sequence;
    setTimeout(() => bell.ring(), 20);
    const startedMs = performance.now();
    await bell.wait(seen, 10_000);
    expect(performance.now() - startedMs).toBeLessThan(5_000);
    expect(bell.sequence).toBe(seen + 1);
  });

  it('resolves at once when the sequence already moved', async () => {
    const bell = new Doorbell(allocateDoorbell());
    const seen = bell.sequence;
    bell.ring();
    const startedMs = performance.now();
    await bell.wait(seen, 10_000);
    expect(performance.now() - startedMs).toBeLessThan(1_000);
  });

  it('resolves on timeout when nobody rings', async () => {
    const bell = new Doorbell(allocateDoorbell());
    const startedMs = performance.now();
    await bell.wait(bell.sequence, 50);
    expect(performance.now() - startedMs).toBeGreaterThanOrEqual(45);
    await bell.wait(bell.sequence, 0);
  });

  it('validates its arguments', () => {
    expect(() => new Doorbell(new ArrayBuffer(4) as unknown as SharedArrayBuffer)).toThrow(TypeError);
    const bell = new Doorbell(allocateDoorbell());
    expect(() => bell.wait(0, -1)).toThrow(/timeoutMs/);
    expect(() => bell.wait(0, Number.POSITIVE_INFINITY)).toThrow(/timeoutMs/);
    expect(() => bell.wait(0, Number.NaN)).toThrow(/timeoutMs/);
  });
});

const workerEntry = new URL('./ring-buffer.test-worker.ts', import.meta.url);

function startTestWorker<T>(data: StreamWorkerData | IdleWaitWorkerData): { result: Promise<T> } {
  return { result: runTsWorker<T>(workerEntry, data) };
}

describe('across worker threads', () => {
  it('streams 200k frames from a worker: each arrives once, in order, intact', async () => {
    const frameCount = 200_000;
    const ringSab = allocateRing(64 * 1024);
    const dataBellSab = allocateDoorbell();
    const roomBellSab = allocateDoorbell();
    const reader = new RingReader(ringSab);
    const dataBell = new Doorbell(dataBellSab);
    const roomBell = new Doorbell(roomBellSab);
    const worker = startTestWorker<{ fullStalls: number }>({
      role: 'stream-writer',
      ringSab,
      dataBellSab,
      roomBellSab,
      frameCount,
    });

    let workerFailure: unknown = null;
    worker.result.catch((error: unknown) => {
      workerFailure = error;
      dataBell.ring(); // wake the loop below so it stops instead of waiting for frames forever
    });

    let received = 0;
    let emptyWaits = 0;
    const problems: string[] = [];
    for (;;) {
      const seen = dataBell.sequence;
      // Read the flag before draining: everything written before close() is then drained below.
      const closed = reader.isClosed;
      for (let frame = reader.tryRead(); frame !== null; frame = reader.tryRead()) {
        const index = frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24);
        if (index !== received || frame.length !== testFrameBytes(received)) {
          if (problems.length < 10)
            problems.push(`frame ${received}: got index ${index}, ${frame.length} bytes`);
        } else {
          for (let j = 4; j < frame.length; j++) {
            if (frame[j] !== testFrameByte(received, j)) {
              if (problems.length < 10) problems.push(`frame ${received}: byte ${j} differs`);
              break;
            }
          }
        }
        received++;
        if ((received & 63) === 0) roomBell.ring(); // once per batch, not per frame
      }
      roomBell.ring(); // the ring is empty and fully released now
      if (closed) break;
      if (workerFailure !== null) throw workerFailure;
      emptyWaits++;
      await dataBell.wait(seen, 5_000);
    }

    const { fullStalls } = await worker.result;
    expect(problems).toEqual([]);
    expect(received).toBe(frameCount);
    expect(TEST_FRAME_MAX_BYTES).toBeLessThan(new RingWriter(ringSab).maxFrameBytes);
    // Both sides had to wait at some point, so the doorbells were exercised in both directions.
    expect(fullStalls + emptyWaits).toBeGreaterThan(0);
  });

  it('a doorbell wait keeps an otherwise idle worker alive until its timeout', async () => {
    const worker = startTestWorker<{ waitedMs: number }>({
      role: 'idle-wait',
      bellSab: allocateDoorbell(),
      timeoutMs: 100,
    });
    const { waitedMs } = await worker.result;
    expect(waitedMs).toBeGreaterThanOrEqual(95);
  });
});
