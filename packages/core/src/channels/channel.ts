/**
 * The transport seam: what a channel between two subtasks offers its two ends, whatever carries
 * it. A {@link ChannelSender} takes batches and control elements from a `RecordWriter`; a
 * {@link ChannelReceiver} hands them, in the same order, to an `InputGate`. The writer and the
 * gate keep what is the same for every transport (partitioning, batching, the flush timeout, the
 * watermark valve, barrier alignment); an implementation owns how the items travel: framing,
 * encoding, splitting what is too large, waiting for room, and waking the other end.
 *
 * Three implementations exist, chosen per channel by `ChannelFactory` (`channel-factory.ts`):
 * - `ring-channel.ts`: to another thread, over a shared-memory ring with doorbells, records
 *   encoded by the record codec;
 * - `local-channel.ts`: to a subtask in the same thread, a hand-over of the arrays as they are;
 * - `tcp/tcp-channel.ts`: to another process, the ring's frames over a TCP connection shared by
 *   all channels between two task managers, with credit-based flow control.
 *
 * Both interfaces are called per batch, never per record, so that a call through them costs no
 * more than the branch on the transport it replaces.
 */

import type { BatchKeys } from './batch-keys.ts';
import type { RecordEncoder } from './record-codec.ts';

/** What {@link ChannelReceiver.receive} found: nothing, a batch of records, or a control element. */
export const ChannelItem = {
  /** Nothing is waiting now. */
  None: 0,
  /** A batch of records: `values` and `timestamps`. */
  Batch: 1,
  /** A watermark: `watermark`. */
  Watermark: 2,
  /** The producer went idle or became active again: `idle`. */
  WatermarkStatus: 3,
  /** A checkpoint barrier: `checkpointId`. */
  Barrier: 4,
  /** The producer has ended; nothing follows. */
  EndOfInput: 5,
} as const;

export type ChannelItemKind = (typeof ChannelItem)[keyof typeof ChannelItem];

/**
 * The producing end of one channel. Every `send...` method takes the item whatever the room:
 * what does not fit now waits in the sender, in order, and the sender reports itself blocked
 * until {@link flushPending} has moved it on. Nothing is dropped, and a writer that stops taking
 * input while any of its senders is blocked bounds what waits (see `RecordWriter`).
 *
 * Each `send...` method returns `true` when the item left at once and `false` when it waits (the
 * sender is then blocked). A sender wakes its consumer itself when it hands something over.
 */
export interface ChannelSender {
  /**
   * A transport that encodes records: its encoder, to which the writer hands each record as it is
   * emitted (`RecordEncoder.append`), so that checking a plain record and encoding it are one
   * pass. Absent where records are not encoded (the writer checks them with `admitRecord`).
   */
  readonly encoder?: RecordEncoder;
  /**
   * A batch of records, with their timestamps (`null` when none has one). The arrays are handed
   * over: the caller must not change them afterwards (the local hand-over passes them on as they
   * are). `exact` is what `checkRecord` said of the batch's records that the sender's
   * {@link encoder} did not take: whether one needs the codec's exact path (transports that do
   * not encode ignore it). `keys`: on a hash-partitioned channel,
   * each record's key and key group as the writer computed them, handed over like the arrays;
   * they arrive with the batch, exactly as sent.
   */
  sendBatch(values: unknown[], timestamps: number[] | null, exact: boolean, keys?: BatchKeys | null): boolean;
  sendWatermark(watermark: number): boolean;
  sendWatermarkStatus(idle: boolean): boolean;
  sendBarrier(checkpointId: number): boolean;
  /** The last item a sender sends. */
  sendEndOfInput(): boolean;
  /** Whether items wait for room: the producer should take no more input until it is not. */
  readonly isBlocked: boolean;
  /** Moves waiting items on as far as there is room; returns whether any progress was made. */
  flushPending(): boolean;
  /** Teardown: marks the channel closed for the other end, where the transport has such a mark. */
  close(): void;
  /**
   * At most this many records in the next batch, where the transport wants smaller batches than
   * the configured size (records so large that a full batch would fill its buffer); read by the
   * writer after each batch. Absent: the configured size.
   */
  readonly recordsPerBatchMax?: number;
}

/**
 * The consuming end of one channel: a cursor over the items, in the order they were sent.
 * {@link receive} takes the next item and says what it is; its content is in the fields below
 * (only those of its kind are meaningful) until the next call. A receiver tells its producer
 * itself when it has made room.
 */
export interface ChannelReceiver {
  /** Takes the next item, or returns {@link ChannelItem.None} when none is waiting. */
  receive(): ChannelItemKind;
  /** Batch: the records. */
  readonly values: unknown[];
  /** Batch: the records' timestamps, or `null` when none has one. */
  readonly timestamps: number[] | null;
  /** Batch: the records' keys and key groups as the sender computed them, or `null` when not keyed. */
  readonly keys: BatchKeys | null;
  /** Watermark: the watermark. */
  readonly watermark: number;
  /** WatermarkStatus: whether the producer went idle (`false`: active again). */
  readonly idle: boolean;
  /** Barrier: the checkpoint's id. */
  readonly checkpointId: number;
  /** Teardown: marks the channel closed for the other end, where the transport has such a mark. */
  close(): void;
}
