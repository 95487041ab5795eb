/**
 * A channel to a subtask in another thread: items are encoded as frames (`frames.ts`; batches by
 * the record codec, whose record structures the consumer learns in order) and written into a
 * shared-memory ring (`ring-buffer.ts`). Each end rings the other's doorbell when it has done
 * something the other may be waiting for: the sender after a frame went in, the receiver after a
 * frame came out (room). A batch larger than the ring's largest frame travels as parts and is
 * joined again by the receiver; the gate above sees one batch either way.
 */
import { type BatchKeys, BatchKeysWriter, readBatchKeys } from './batch-keys.ts';
import type { ChannelItemKind, ChannelReceiver, ChannelSender } from './channel.ts';
import { ChannelItem } from './channel.ts';
import type { Doorbell } from './doorbell.ts';
import {
  ACTIVE_FRAME,
  CONTROL_MARKER,
  ControlFrameWriter,
  ControlType,
  END_OF_INPUT_FRAME,
  encodeParts,
  IDLE_FRAME,
  joinParts,
  PART_HEADER_BYTES,
  readControlNumber,
} from './frames.ts';
import { RecordDecoder, RecordEncoder } from './record-codec.ts';
import { RingReader, RingWriter } from './ring-buffer.ts';

/** A batch's frame aims at no more than 1/FRAME_SHARE of the ring... */
const FRAME_SHARE = 16;
/**
 * ... unless that is less than this: smaller frames cost more per record than they save (measured
 * with 64 KiB rings: 4 KiB frames of 85-byte records grew a slow pipeline's memory by a sixth), so
 * a batch is never cut below 64 KiB of frame.
 */
const MIN_TARGET_FRAME_BYTES = 64 * 1024;
/** ... and a batch keeps at least this many records, so that huge records still travel in batches. */
const MIN_RECORDS_PER_BATCH = 8;

export class RingSender implements ChannelSender {
  readonly #ring: RingWriter;
  readonly #consumer: Doorbell;
  readonly encoder = new RecordEncoder();
  readonly #keysWriter = new BatchKeysWriter();
  readonly #controlFrames = new ControlFrameWriter();
  /** Frames that found the ring full, oldest first: they go before anything sent later. */
  readonly #pending: Uint8Array[] = [];
  /** See {@link ChannelSender.recordsPerBatchMax}: set from the size of the last batch's frame. */
  recordsPerBatchMax = Number.POSITIVE_INFINITY;

  /** `consumerDoorbell`: rung after every frame written, so a consumer asleep on it wakes up. */
  constructor(ring: SharedArrayBuffer, consumerDoorbell: Doorbell) {
    this.#ring = new RingWriter(ring);
    this.#consumer = consumerDoorbell;
  }

  get isBlocked(): boolean {
    return this.#pending.length > 0;
  }

  sendBatch(
    values: unknown[],
    timestamps: number[] | null,
    exact: boolean,
    keys?: BatchKeys | null,
  ): boolean {
    const batch = this.encoder.encodeBatch(values, timestamps, exact);
    const frame = keys == null ? batch : this.#keysWriter.frame(keys, batch);
    // A batch's frame should be a small share of the ring: with frames near half of it (512
    // records of 1 KiB in a 1 MiB ring), one frame waits for the reader to empty the ring and
    // the two threads take turns instead of overlapping (measured: 0.57x of structured-clone
    // postMessage, 0.79x with a ring 8x larger). Records this large get smaller batches.
    const recordsPerFrameShare = Math.floor(
      (values.length * Math.max(this.#ring.capacityBytes / FRAME_SHARE, MIN_TARGET_FRAME_BYTES)) /
        frame.byteLength,
    );
    this.recordsPerBatchMax = Math.max(MIN_RECORDS_PER_BATCH, recordsPerFrameShare);
    if (frame.byteLength > this.#ring.maxFrameBytes) return this.#sendInParts(frame);
    return this.#send(frame, true);
  }

  sendWatermark(watermark: number): boolean {
    return this.#send(this.#controlFrames.watermark(watermark), true);
  }

  sendWatermarkStatus(idle: boolean): boolean {
    return this.#send(idle ? IDLE_FRAME : ACTIVE_FRAME, false);
  }

  sendBarrier(checkpointId: number): boolean {
    return this.#send(this.#controlFrames.barrier(checkpointId), true);
  }

  sendEndOfInput(): boolean {
    return this.#send(END_OF_INPUT_FRAME, false);
  }

  #sendInParts(frame: Uint8Array): boolean {
    let accepted = true;
    for (const part of encodeParts(frame, this.#ring.maxFrameBytes)) {
      if (!this.#send(part, false)) accepted = false;
    }
    return accepted;
  }

  /** `scratch`: the frame is a buffer that is reused (encoder, control frames): a copy waits in its place. */
  #send(frame: Uint8Array, scratch: boolean): boolean {
    if (this.#pending.length === 0 && this.#ring.tryWrite(frame)) {
      this.#consumer.ring();
      return true;
    }
    this.#pending.push(scratch ? frame.slice() : frame);
    return false;
  }

  flushPending(): boolean {
    const pending = this.#pending;
    let written = 0;
    while (written < pending.length && this.#ring.tryWrite(pending[written]!)) written++;
    if (written === 0) return false;
    pending.splice(0, written);
    // Once per flush, not per frame: a notify costs far more than a ring write.
    this.#consumer.ring();
    return true;
  }

  close(): void {
    this.#ring.close();
  }
}

/** What `#readControl` returns for a part that is not the batch's last: nothing to hand on yet. */
const PART_HELD = -1;

export class RingReceiver implements ChannelReceiver {
  values: unknown[] = [];
  timestamps: number[] | null = null;
  keys: BatchKeys | null = null;
  watermark = Number.NEGATIVE_INFINITY;
  idle = false;
  checkpointId = 0;

  readonly #ring: RingReader;
  readonly #producer: Doorbell;
  readonly #decoder = new RecordDecoder();
  /** The pieces of a batch that arrives as parts, until its last part. */
  #pieces: Uint8Array[] | undefined;

  /** `producerDoorbell`: rung after every frame read, so a producer waiting for room wakes up. */
  constructor(ring: SharedArrayBuffer, producerDoorbell: Doorbell) {
    this.#ring = new RingReader(ring);
    this.#producer = producerDoorbell;
  }

  receive(): ChannelItemKind {
    const ring = this.#ring;
    // Bounded by what the producer writes of one batch: a part only ever continues a batch.
    for (;;) {
      const frame = ring.tryRead();
      if (frame === null) return ChannelItem.None;
      // Decoded before the frame's room is released: the frame is a view into the ring. The
      // decoded batch copies what it needs (the codec copies binary data), so it outlives it.
      const kind = frame[0] === CONTROL_MARKER ? this.#readControl(frame) : this.#readBatch(frame);
      ring.release();
      this.#producer.ring();
      if (kind !== PART_HELD) return kind;
    }
  }

  #readBatch(frame: Uint8Array): ChannelItemKind {
    const batch = this.#decoder.decodeBatch(frame);
    this.values = batch[0];
    this.timestamps = batch[1];
    this.keys = null;
    return ChannelItem.Batch;
  }

  /** A keyed batch: the keys section, then the batch's data frame. */
  #readKeyedBatch(frame: Uint8Array): ChannelItemKind {
    const { keys, end } = readBatchKeys(frame);
    const batch = this.#decoder.decodeBatch(frame.subarray(end));
    this.values = batch[0];
    this.timestamps = batch[1];
    this.keys = keys;
    return ChannelItem.Batch;
  }

  #readControl(frame: Uint8Array): ChannelItemKind | typeof PART_HELD {
    switch (frame[1]) {
      case ControlType.Watermark:
        this.watermark = readControlNumber(frame);
        return ChannelItem.Watermark;
      case ControlType.Status:
        this.idle = frame[2] === 1;
        return ChannelItem.WatermarkStatus;
      case ControlType.EndOfInput:
        return ChannelItem.EndOfInput;
      case ControlType.Barrier:
        this.checkpointId = readControlNumber(frame);
        return ChannelItem.Barrier;
      case ControlType.KeyedBatch:
        return this.#readKeyedBatch(frame);
      case ControlType.Part: {
        const pieces = this.#pieces ?? [];
        this.#pieces = pieces;
        pieces.push(frame.slice(PART_HEADER_BYTES));
        if (frame[2] !== 1) return PART_HELD;
        this.#pieces = undefined;
        // A batch never starts with the marker (msgpack never emits it); a keyed batch does.
        const whole = joinParts(pieces);
        return whole[0] === CONTROL_MARKER ? this.#readKeyedBatch(whole) : this.#readBatch(whole);
      }
      default:
        throw new Error(`bug: unknown control frame type ${frame[1]} on a ring channel`);
    }
  }

  close(): void {
    this.#ring.close();
  }
}
