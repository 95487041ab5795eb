/**
 * The two ends of a channel whose subtasks run in different processes: the same
 * `ChannelSender`/`ChannelReceiver` as the ring's (`channel.ts`), over a `DataConnection`
 * (`data-connection.ts`) that multiplexes every channel between two task managers.
 *
 * Items are the ring's frames (`frames.ts`: batches encoded by the record codec, watermarks,
 * barriers, end of input, parts of a large batch), in band and in order. Each frame travels in
 * one buffer of the receiver's announced size, and only against credit: one buffer the receiver
 * has granted and not yet seen used. A frame with no credit waits in the sender, which then says
 * it is blocked, exactly as a ring sender does when its ring is full; the writer above stops
 * taking input, and backpressure reaches the source. A batch larger than a buffer travels as
 * parts, one buffer each, and is joined again by the receiver.
 *
 * Both ends live in the thread that runs the connection (a slot thread, over its stream to the
 * peer slot); `wake` (the slot's doorbell) is called
 * when credit arrives for a sender or data for a receiver, so that a sleeping slot loop looks again.
 */
import { type BatchKeys, BatchKeysWriter, readBatchKeys } from '../batch-keys.ts';
import type { ChannelItemKind, ChannelReceiver, ChannelSender } from '../channel.ts';
import { ChannelItem } from '../channel.ts';
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
} from '../frames.ts';
import { RecordDecoder, RecordEncoder } from '../record-codec.ts';
import type { TransportError } from './errors.ts';

/** A channel's sending side as the connection keeps it: the credit its receiver granted. */
export class OutboundChannel {
  readonly channelId: number;
  /** Buffers the receiver has granted and the sender not yet used. */
  credit = 0;
  /** The receiver's buffer size; 0 until it has announced itself (then there is no credit either). */
  bufferBytes = 0;
  /** Buffers sent so far (for tests and metrics). */
  buffersSent = 0;
  wake: () => void = noop;
  hasSender = false;
  /** The sender sent its end of input and nothing waits: the channel no longer needs the connection. */
  finished = false;
  closed = false;

  constructor(channelId: number) {
    this.channelId = channelId;
  }
}

/** A channel's receiving side as the connection keeps it: the buffers that arrived, and the credit. */
export class InboundChannel {
  readonly channelId: number;
  /** Arrived frames, a circular queue: never more than the credit granted, so never grows. */
  readonly queue: Array<Uint8Array | undefined>;
  head = 0;
  size = 0;
  /** Credit announced to the sender and not yet used by a buffer. */
  outstanding = 0;
  /** Buffers consumed since the last announcement: credit to announce at the next flush. */
  unannounced = 0;
  /** Whether the channel is in the connection's list of credit to announce. */
  creditDirty = false;
  buffersReceived = 0;
  /** The end of input has arrived (it may still wait in the queue). */
  endArrived = false;
  closed = false;
  wake: () => void = noop;

  constructor(channelId: number, buffers: number) {
    this.channelId = channelId;
    this.queue = new Array<Uint8Array | undefined>(buffers).fill(undefined);
  }
}

function noop(): void {}

/** What the ends need of their connection. */
export interface DataLink {
  /** Sends `frame` as one buffer of `channel`, using one credit; the caller checked there is one. */
  writeData(channel: OutboundChannel, frame: Uint8Array): void;
  /** A buffer of `channel` was consumed: its credit goes back to the sender at the next flush. */
  returnCredit(channel: InboundChannel): void;
  /** Why the connection is unusable, once it is. */
  readonly failure: TransportError | undefined;
}

export class TcpSender implements ChannelSender {
  readonly #link: DataLink;
  readonly #channel: OutboundChannel;
  readonly #encoder = new RecordEncoder();
  readonly #keysWriter = new BatchKeysWriter();
  readonly #controlFrames = new ControlFrameWriter();
  /** Frames waiting for credit, oldest first, whole (split into parts once the buffer size is known). */
  readonly #pending: Uint8Array[] = [];
  #endSent = false;

  constructor(link: DataLink, channel: OutboundChannel) {
    this.#link = link;
    this.#channel = channel;
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
    const batch = this.#encoder.encodeBatch(values, timestamps, exact);
    return this.#send(keys == null ? batch : this.#keysWriter.frame(keys, batch), true);
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
    this.#endSent = true;
    return this.#send(END_OF_INPUT_FRAME, false);
  }

  /** `scratch`: the frame is a buffer that is reused (encoder, control frames): a copy waits in its place. */
  #send(frame: Uint8Array, scratch: boolean): boolean {
    const failure = this.#link.failure;
    if (failure !== undefined) throw failure;
    const channel = this.#channel;
    if (this.#pending.length === 0 && channel.credit > 0 && frame.byteLength <= channel.bufferBytes) {
      this.#link.writeData(channel, frame);
      this.#markFinished();
      return true;
    }
    this.#pending.push(scratch ? frame.slice() : frame);
    // A frame larger than a buffer: send the parts there is credit for now.
    if (this.#pending.length === 1 && channel.credit > 0) this.flushPending();
    return this.#pending.length === 0;
  }

  flushPending(): boolean {
    const failure = this.#link.failure;
    if (failure !== undefined) throw failure;
    const channel = this.#channel;
    const pending = this.#pending;
    let written = 0;
    while (written < pending.length && channel.credit > 0) {
      const frame = pending[written]!;
      if (frame.byteLength > channel.bufferBytes) {
        // Parts fit a buffer each (encodeParts keeps them within it), so a part is never split again.
        pending.splice(written, 1, ...encodeParts(frame, channel.bufferBytes));
        continue;
      }
      this.#link.writeData(channel, frame);
      written++;
    }
    if (written === 0) return false;
    pending.splice(0, written);
    this.#markFinished();
    return true;
  }

  #markFinished(): void {
    if (this.#endSent && this.#pending.length === 0) this.#channel.finished = true;
  }

  close(): void {
    this.#channel.closed = true;
  }
}

/** What `#readControl` returns for a part that is not the batch's last: nothing to hand on yet. */
const PART_HELD = -1;

export class TcpReceiver implements ChannelReceiver {
  values: unknown[] = [];
  timestamps: number[] | null = null;
  keys: BatchKeys | null = null;
  watermark = Number.NEGATIVE_INFINITY;
  idle = false;
  checkpointId = 0;

  readonly #link: DataLink;
  readonly #channel: InboundChannel;
  readonly #decoder = new RecordDecoder();
  /** The pieces of a batch that arrives as parts, until its last part. */
  #pieces: Uint8Array[] | undefined;
  #ended = false;

  constructor(link: DataLink, channel: InboundChannel) {
    this.#link = link;
    this.#channel = channel;
  }

  receive(): ChannelItemKind {
    const channel = this.#channel;
    // Bounded by the credit granted: at most that many frames wait.
    for (;;) {
      if (channel.size === 0) {
        const failure = this.#link.failure;
        // What arrived before a failure is still handed on; then the failure, unless the input ended.
        if (failure !== undefined && !this.#ended) throw failure;
        return ChannelItem.None;
      }
      const queue = channel.queue;
      const frame = queue[channel.head]!;
      queue[channel.head] = undefined;
      channel.head = channel.head + 1 === queue.length ? 0 : channel.head + 1;
      channel.size--;
      this.#link.returnCredit(channel);
      // Frames are copies the connection made for this channel: decoding may keep views into them.
      const kind = frame[0] === CONTROL_MARKER ? this.#readControl(frame) : this.#readBatch(frame);
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
        this.#ended = true;
        return ChannelItem.EndOfInput;
      case ControlType.Barrier:
        this.checkpointId = readControlNumber(frame);
        return ChannelItem.Barrier;
      case ControlType.KeyedBatch:
        return this.#readKeyedBatch(frame);
      case ControlType.Part: {
        const pieces = this.#pieces ?? [];
        this.#pieces = pieces;
        pieces.push(frame.subarray(PART_HEADER_BYTES));
        if (frame[2] !== 1) return PART_HELD;
        this.#pieces = undefined;
        // A batch never starts with the marker (msgpack never emits it); a keyed batch does.
        const whole = joinParts(pieces);
        return whole[0] === CONTROL_MARKER ? this.#readKeyedBatch(whole) : this.#readBatch(whole);
      }
      default:
        throw new Error(`bug: unknown control frame type ${frame[1]} on a TCP channel`);
    }
  }

  close(): void {
    const channel = this.#channel;
    channel.closed = true;
    // Let what arrived go: nothing reads it any more (later data for the channel is dropped on arrival).
    channel.queue.fill(undefined);
    channel.size = 0;
    this.#pieces = undefined;
  }
}
