/**
 * Batch encoding and decoding as core does it between threads, against JSON as a reference point,
 * and against the codec as it was before the record check became part of the encoding.
 *
 * Method. One op encodes (or decodes) one batch of {@link BATCH_SIZE} records, `[values, null]`,
 * the shape core's `RecordWriter` sends (timestamps `null` when no record has one), with core's
 * record codec (`batchPackr`/`batchUnpackr` in `msgpackr.ts`). The encoder and decoder are in
 * a channel's steady state: the record structure was sent once with an earlier frame (msgpackr
 * `sequential`), so the timed frames carry only references to it, as every frame after a
 * channel's first does. JSON.stringify/parse of the same `[values, null]` is the baseline; they
 * produce and read a string, without the UTF-8 bytes a thread boundary would need.
 *
 * MB/s is ops/s × the batch's size in core's encoding (msgpack) for every contestant, JSON
 * included, so MB/s compare as ops/s do; the JSON size is given in the unit for reference.
 *
 * The record contract's cost. `RecordWriter.emit` checks every record it sends; on a channel to
 * another thread the check is the encoding (`RecordEncoder.append`: one pass that checks a plain
 * record as it writes it). `record check + encode` times that — what a batch sent to another
 * thread costs now — against `msgpackr encode (before)`: msgpackr alone, the encoding without any
 * check, as core encoded before. Its ratio is 1 / the slowdown the contract costs (0.95x: 5%
 * slower). `record check + msgpackr encode (before)` is what the contract cost before: a walk
 * over every record (`admitRecord`, the walk of then), then msgpackr. `record check` times that
 * walk alone: records handed over inside a thread still get it.
 */
import { type BenchSpec, type HarnessOptions, runGroup } from './harness.ts';
import type { MicroResult } from './index.ts';
import { batchPackr, batchPackrBefore, batchUnpackr, batchUnpackrBefore, checkBatch } from './msgpackr.ts';
import { type BenchRecord, makeRecords, type RecordSize } from './records.ts';
import { BATCH_SIZE } from './ring-channel.ts';

/** One size's batch, encoded both ways, with encoders and decoders in their steady state. */
export interface CodecFixture {
  readonly batch: [BenchRecord[], null];
  /** What a batch sent to another thread costs a RecordWriter: every record checked, and the batch encoded. */
  readonly checkAndEncode: () => Uint8Array;
  /** Walks every record of the batch as `admitRecord` does (records handed over inside a thread). */
  readonly check: () => void;
  readonly decode: (frame: Uint8Array) => [BenchRecord[], null];
  /** A steady-state frame of the batch (structure references only). */
  readonly frame: Uint8Array;
  /** The codec before: msgpackr alone, without any check. */
  readonly encodeBefore: () => Uint8Array;
  /** The codec before: every record walked by `checkRecord`, then msgpackr. */
  readonly checkAndEncodeBefore: () => Uint8Array;
  readonly decodeBefore: (frame: Uint8Array) => [BenchRecord[], null];
  readonly frameBefore: Uint8Array;
  readonly json: string;
}

export function codecFixture(size: RecordSize, batchSize = BATCH_SIZE): CodecFixture {
  const batch: [BenchRecord[], null] = [makeRecords(size, batchSize), null];
  const packr = batchPackr();
  const unpackr = batchUnpackr();
  // The channel's first frame defines the record structure; the decoder reads it first.
  unpackr.unpack(packr.pack(batch).slice());
  const frame = packr.pack(batch).slice();
  const packrBefore = batchPackrBefore();
  const unpackrBefore = batchUnpackrBefore();
  unpackrBefore.unpack(packrBefore.pack(batch).slice());
  // A Uint8Array copy, as the frame is: a ring hands the decoder views of shared memory, not Buffers.
  const frameBefore = new Uint8Array(packrBefore.pack(batch));
  return {
    batch,
    checkAndEncode: () => packr.pack(batch),
    check: () => checkBatch(batch[0]),
    decode: (bytes) => unpackr.unpack(bytes) as [BenchRecord[], null],
    frame,
    encodeBefore: () => packrBefore.pack(batch),
    checkAndEncodeBefore: () => packrBefore.checkAndPack(batch),
    decodeBefore: (bytes) => unpackrBefore.unpack(bytes) as [BenchRecord[], null],
    frameBefore,
    json: JSON.stringify(batch),
  };
}

/** Keeps results alive so that no op can be optimised away. */
let sink = 0;

export async function runCodecBenchmarks(options: HarnessOptions): Promise<MicroResult[]> {
  const specs: BenchSpec[] = [];
  for (const size of ['small', 'large'] as const) {
    const fixture = codecFixture(size);
    const bytesPerOp = fixture.frame.byteLength;
    const jsonBytes = Buffer.byteLength(fixture.json);
    const unit =
      `batch of ${BATCH_SIZE} ${size} records (${(bytesPerOp / 1024).toFixed(1)} KiB msgpack, ` +
      `${(jsonBytes / 1024).toFixed(1)} KiB JSON)`;
    const common = { unit, recordsPerOp: BATCH_SIZE, bytesPerOp };
    const { batch, frame, frameBefore, json } = fixture;
    const before = `msgpackr encode (before), ${size} records`;
    specs.push(
      {
        ...common,
        name: before,
        baseline: `JSON.stringify, ${size} records`,
        fn: () => {
          sink += fixture.encodeBefore().byteLength;
        },
      },
      {
        ...common,
        name: `JSON.stringify, ${size} records`,
        fn: () => {
          sink += JSON.stringify(batch).length;
        },
      },
      {
        // Its ratio is the contract's cost on the way to another thread: 1 / (how much slower).
        ...common,
        name: `record check + encode, ${size} records`,
        baseline: before,
        fn: () => {
          sink += fixture.checkAndEncode().byteLength;
        },
      },
      {
        ...common,
        name: `record check + msgpackr encode (before), ${size} records`,
        baseline: before,
        fn: () => {
          sink += fixture.checkAndEncodeBefore().byteLength;
        },
      },
      {
        ...common,
        name: `record check, ${size} records`,
        baseline: before,
        fn: () => {
          fixture.check();
          sink++;
        },
      },
      {
        ...common,
        name: `decode, ${size} records`,
        baseline: `msgpackr decode (before), ${size} records`,
        fn: () => {
          sink += fixture.decode(frame)[0].length;
        },
      },
      {
        ...common,
        name: `msgpackr decode (before), ${size} records`,
        baseline: `JSON.parse, ${size} records`,
        fn: () => {
          sink += fixture.decodeBefore(frameBefore)[0].length;
        },
      },
      {
        ...common,
        name: `JSON.parse, ${size} records`,
        fn: () => {
          sink += (JSON.parse(json) as [unknown[], null])[0].length;
        },
      },
    );
  }
  const results = await runGroup('codec', specs, options);
  if (sink === 0) throw new Error('bug: no op ran');
  return results;
}
