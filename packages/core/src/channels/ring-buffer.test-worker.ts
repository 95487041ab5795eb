/**
 * Worker side of the cross-thread tests in `ring-buffer.test.ts`. It uses the real `RingWriter` and
 * `Doorbell`, so the test exercises the same code the runtime does. The frame pattern helpers are
 * exported for the test's reader; the worker body runs only when started as a worker.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Doorbell } from './doorbell.ts';
import { RingWriter } from './ring-buffer.ts';

/** Largest frame the streaming test sends. */
export const TEST_FRAME_MAX_BYTES = 1500;

/** Size of frame `index`: a hash of the index, at least 4 bytes (room for the index itself). */
export function testFrameBytes(index: number): number {
  let x = Math.imul(index ^ 0x9e3779b9, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  // One frame in 64 is tiny, so runs of small frames occur as well as large ones.
  if ((x & 63) === 0) return 4;
  return 4 + ((x >>> 6) % (TEST_FRAME_MAX_BYTES - 3));
}

/** Byte `j` (>= 4) of frame `index`; bytes 0..3 hold the index as a little-endian uint32. */
export function testFrameByte(index: number, j: number): number {
  return (index * 31 + j) & 0xff;
}

/** Fills `into` with frame `index` and returns the view holding exactly the frame. */
export function fillTestFrame(into: Uint8Array, index: number): Uint8Array {
  const size = testFrameBytes(index);
  into[0] = index & 0xff;
  into[1] = (index >>> 8) & 0xff;
  into[2] = (index >>> 16) & 0xff;
  into[3] = (index >>> 24) & 0xff;
  for (let j = 4; j < size; j++) into[j] = testFrameByte(index, j);
  return into.subarray(0, size);
}

export type StreamWorkerData = {
  role: 'stream-writer';
  ringSab: SharedArrayBuffer;
  /** Rung by the worker when it wrote frames; the main thread waits on it. */
  dataBellSab: SharedArrayBuffer;
  /** Rung by the main thread when it freed room; the worker waits on it. */
  roomBellSab: SharedArrayBuffer;
  frameCount: number;
};

export type IdleWaitWorkerData = {
  role: 'idle-wait';
  bellSab: SharedArrayBuffer;
  timeoutMs: number;
};

async function streamFrames(data: StreamWorkerData): Promise<{ fullStalls: number }> {
  const writer = new RingWriter(data.ringSab);
  const dataBell = new Doorbell(data.dataBellSab);
  const roomBell = new Doorbell(data.roomBellSab);
  const scratch = new Uint8Array(TEST_FRAME_MAX_BYTES);
  let fullStalls = 0;
  for (let index = 0; index < data.frameCount; index++) {
    const frame = fillTestFrame(scratch, index);
    for (;;) {
      const seen = roomBell.sequence;
      if (writer.tryWrite(frame)) break;
      fullStalls++;
      dataBell.ring(); // the ring is full: make sure the reader is awake
      await roomBell.wait(seen, 1000);
    }
    if ((index & 31) === 31) dataBell.ring(); // once per batch, not per frame
  }
  writer.close();
  dataBell.ring();
  return { fullStalls };
}

if (!isMainThread && parentPort !== null) {
  const data = workerData as StreamWorkerData | IdleWaitWorkerData;
  if (data.role === 'stream-writer') {
    const result = await streamFrames(data);
    parentPort.postMessage(result);
  } else if (data.role === 'idle-wait') {
    // Nothing else keeps this thread alive: the wait itself must, or the worker exits silently.
    const bell = new Doorbell(data.bellSab);
    const startedMs = Date.now();
    await bell.wait(bell.sequence, data.timeoutMs);
    parentPort.postMessage({ waitedMs: Date.now() - startedMs });
  }
}
