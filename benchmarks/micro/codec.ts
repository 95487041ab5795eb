/**
 * Batch encoding and decoding as core does it between threads, against JSON as a reference point.
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
 * The record check (`checkRecord` on every record of the batch) is timed on its own, against the
 * encoding: `RecordWriter.emit` runs it for every record it sends, to another thread or not, so a
 * batch sent to another thread costs a check and an encode. `record check + encode` times both,
 * against the encoding alone: its ratio to the baseline is 1 / the slowdown the contract costs.
 */
import { type BenchSpec, type HarnessOptions, runGroup } from './harness.ts';
import type { MicroResult } from './index.ts';
import { batchPackr, batchUnpackr, checkBatch } from './msgpackr.ts';
import { type BenchRecord, makeRecords, type RecordSize } from './records.ts';
import { BATCH_SIZE } from './ring-channel.ts';

/** One size's batch, encoded both ways, with an encoder and a decoder in their steady state. */
export interface CodecFixture {
  readonly batch: [BenchRecord[], null];
  /** Encodes the batch (its records checked once, up front, as `RecordWriter.emit` does). */
  readonly encode: () => Uint8Array;
  /** Checks every record of the batch against the record contract; whether any needs the exact path. */
  readonly check: () => boolean;
  /** What a batch sent to another thread costs a RecordWriter: the check of every record, then the encoding. */
  readonly checkAndEncode: () => Uint8Array;
  readonly decode: (frame: Uint8Array) => [BenchRecord[], null];
  /** A steady-state frame of the batch (structure references only). */
  readonly frame: Uint8Array;
  readonly json: string;
}

export function codecFixture(size: RecordSize, batchSize = BATCH_SIZE): CodecFixture {
  const batch: [BenchRecord[], null] = [makeRecords(size, batchSize), null];
  const packr = batchPackr();
  const unpackr = batchUnpackr();
  // The channel's first frame defines the record structure; the decoder reads it first.
  const first = new Uint8Array(packr.pack(batch));
  unpackr.unpack(first);
  const frame = new Uint8Array(packr.encode(batch));
  return {
    batch,
    encode: () => packr.encode(batch),
    check: () => checkBatch(batch[0]),
    checkAndEncode: () => packr.pack(batch),
    decode: (bytes) => unpackr.unpack(bytes) as [BenchRecord[], null],
    frame,
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
    const { batch, frame, json } = fixture;
    specs.push(
      {
        ...common,
        name: `msgpackr encode, ${size} records`,
        baseline: `JSON.stringify, ${size} records`,
        fn: () => {
          sink += fixture.encode().byteLength;
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
        ...common,
        name: `record check, ${size} records`,
        baseline: `msgpackr encode, ${size} records`,
        fn: () => {
          sink += fixture.check() ? 2 : 1;
        },
      },
      {
        // Its ratio is the contract's cost on the way to another thread: 1 / (how much slower).
        ...common,
        name: `record check + encode, ${size} records`,
        baseline: `msgpackr encode, ${size} records`,
        fn: () => {
          sink += fixture.checkAndEncode().byteLength;
        },
      },
      {
        ...common,
        name: `msgpackr decode, ${size} records`,
        baseline: `JSON.parse, ${size} records`,
        fn: () => {
          sink += fixture.decode(frame)[0].length;
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
