/**
 * Core's batch codec, as the benchmarks drive it: `packages/core/src/records/record-codec.ts`,
 * which encodes with the msgpackr module `@sluice/core` itself loads (msgpackr is a dependency of
 * `@sluice/core`, not of `@sluice/benchmarks`), and the codec as it was before its single pass
 * (msgpackr alone, each record walked by `checkRecord` first), kept as the baseline.
 */
import { Packr, Unpackr } from '../../packages/core/node_modules/msgpackr/index.js';
import { admitRecord, RecordDecoder, RecordEncoder } from '../../packages/core/src/channels/record-codec.ts';

export interface BatchPackr {
  /**
   * What a `RecordWriter` does for a batch sent to another thread: checks every record against the
   * record contract as it is emitted, then encodes `[values, timestamps]` as one frame. The
   * result is the encoder's scratch buffer.
   */
  pack(batch: readonly [readonly unknown[], readonly number[] | null]): Uint8Array;
}

export interface BatchUnpackr {
  unpack(frame: Uint8Array): [unknown[], number[] | null];
}

/**
 * A batch encoder as core's `RecordWriter` has one per ring channel
 * (`packages/core/src/channels/record-writer.ts`): each record handed to the channel's encoder
 * as it is emitted (a plain record is checked by being encoded; `checkRecord` walks any other),
 * then the batch finished. Record structures are sent inline the first time they are used, so
 * the decoder must read every frame of the channel in order. `micro.test.ts` checks that this
 * encoder writes the same bytes as a real `RecordWriter`.
 */
export function batchPackr(): BatchPackr {
  const encoder = new RecordEncoder();
  return {
    pack: ([values, timestamps]) => {
      let exact = false;
      for (let i = 0; i < values.length; i++) {
        if (!encoder.append(values[i]) && encoder.checkAppended(values[i])) exact = true;
      }
      return encoder.encodeBatch(values, timestamps, exact);
    },
  };
}

/**
 * Checks every record of a batch against the record contract with `admitRecord`: the walk
 * `RecordWriter.emit` makes for records it hands over inside a thread, and the walk every record
 * got before the single pass (less the look for lone surrogates, which only encoding needs).
 */
export function checkBatch(records: readonly unknown[]): void {
  for (let i = 0; i < records.length; i++) admitRecord(records[i]);
}

/** A batch decoder as core's `InputGate` has one per ring channel (`channels/input-gate.ts`). */
export function batchUnpackr(): BatchUnpackr {
  const decoder = new RecordDecoder();
  return { unpack: (frame) => decoder.decodeBatch(frame) };
}

/**
 * The codec before the single pass, the baseline: msgpackr with core's options of then
 * (`sequential`, `useRecords`, `moreTypes`), every record walked first (`checkAndPack`, with
 * {@link checkBatch}: the walk of then), or not (`pack`: the encoding alone).
 */
export interface BatchPackrBefore extends BatchPackr {
  checkAndPack(batch: readonly [readonly unknown[], readonly number[] | null]): Uint8Array;
}

export function batchPackrBefore(): BatchPackrBefore {
  const packr = new Packr({ sequential: true, useRecords: true, moreTypes: true });
  return {
    pack: (batch) => packr.pack(batch),
    checkAndPack: (batch) => {
      checkBatch(batch[0]);
      return packr.pack(batch);
    },
  };
}

/** The decoder before, as core's `RecordDecoder` was: one msgpackr `Unpackr`, reading a Buffer over the frame. */
export function batchUnpackrBefore(): BatchUnpackr {
  const unpackr = new Unpackr({ sequential: true, useRecords: true, copyBuffers: true });
  return {
    unpack: (frame) => {
      const bytes = Buffer.isBuffer(frame)
        ? frame
        : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
      return unpackr.unpack(bytes) as [unknown[], number[] | null];
    },
  };
}
