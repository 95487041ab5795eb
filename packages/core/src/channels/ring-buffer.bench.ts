/**
 * Same-thread cost of moving frames through a ring: write a batch, read it back. Measures the
 * ring's own overhead (framing, position bookkeeping, atomics), not cross-core cache traffic.
 * Run with `pnpm exec vitest bench packages/core/src/channels`.
 */
import { bench, describe } from 'vitest';
import { allocateRing, RingReader, RingWriter } from './ring-buffer.ts';

const FRAMES_PER_ITERATION = 1000;

function setup(frameBytes: number) {
  const sab = allocateRing(8 * 1024 * 1024); // holds a whole iteration of the largest frames;
  return {
    writer: new RingWriter(sab),
    reader: new RingReader(sab),
    frame: new Uint8Array(frameBytes).fill(7),
  };
}

describe(`ring round trip, ${FRAMES_PER_ITERATION} frames per iteration`, () => {
  for (const frameBytes of [16, 256, 4096]) {
    const { writer, reader, frame } = setup(frameBytes);
    bench(`${frameBytes}-byte frames`, () => {
      for (let i = 0; i < FRAMES_PER_ITERATION; i++) {
        if (!writer.tryWrite(frame)) throw new Error('ring full: the benchmark drains every iteration');
      }
      let read = 0;
      while (reader.tryRead() !== null) read++;
      if (read !== FRAMES_PER_ITERATION) throw new Error(`read ${read} frames`);
    });
  }
});
