/**
 * Core's batch codec, as the benchmarks drive it: `packages/core/src/records/record-codec.ts`,
 * which encodes with the msgpackr module `@sluice/core` itself loads (msgpackr is a dependency of
 * `@sluice/core`, not of `@sluice/benchmarks`).
 */
import {
  checkRecord,
  checkRecords,
  RecordDecoder,
  RecordEncoder,
} from '../../packages/core/src/channels/record-codec.ts';

export interface BatchPackr {
  /**
   * What a `RecordWriter` does for a batch sent to another thread: checks every record against the
   * record contract (`checkRecord`, which `RecordWriter.emit` runs per record), then encodes
   * `[values, timestamps]` as one frame. The result is the encoder's scratch buffer.
   */
  pack(batch: readonly [readonly unknown[], readonly number[] | null]): Uint8Array;
  /** The encoding alone, for records already checked (as they are when a batch is sent). */
  encode(batch: readonly [readonly unknown[], readonly number[] | null]): Uint8Array;
}

export interface BatchUnpackr {
  unpack(frame: Uint8Array): [unknown[], number[] | null];
}

/**
 * A batch encoder as core's `RecordWriter` has one per ring channel
 * (`packages/core/src/channels/record-writer.ts`): record structures are sent inline the first
 * time they are used, so the decoder must read every frame of the channel in order.
 * `micro.test.ts` checks that this encoder writes the same bytes as a real `RecordWriter`.
 */
export function batchPackr(): BatchPackr {
  const encoder = new RecordEncoder();
  return {
    pack: ([values, timestamps]) => {
      // RecordWriter.emit, record by record: a plain record is checked by being encoded; any
      // other is walked by checkRecord (which may refuse it).
      let exact = false;
      for (let i = 0; i < values.length; i++) {
        if (!encoder.append(values[i]) && checkRecord(values[i])) exact = true;
      }
      return encoder.encodeBatch(values, timestamps, exact);
    },
    encode: ([values, timestamps]) => encoder.encodeBatch(values, timestamps, false),
  };
}

/** Checks every record of a batch against the record contract, as `RecordWriter.emit` does. */
export const checkBatch: (records: readonly unknown[]) => boolean = checkRecords;

/** A batch decoder as core's `InputGate` has one per ring channel (`channels/input-gate.ts`). */
export function batchUnpackr(): BatchUnpackr {
  const decoder = new RecordDecoder();
  return { unpack: (frame) => decoder.decodeBatch(frame) };
}
