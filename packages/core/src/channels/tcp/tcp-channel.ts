/**
 * The two ends of a channel whose subtasks run in different processes: the same
 * `ChannelSender`/`ChannelReceiver` as the ring's (`channel.ts`), over a `DataConnection`
 * (`data-connection.ts`) that multiplexes every channel between two task managers.
 *
 * Items are the ring's frames (`frames.ts`: batches encoded by the record codec, watermarks,
 * barriers, end of input, parts of a large batch), in band and in order. Frames are packed into
 * buffers of at most the receiver's announced size, each frame behind its u32 length, and a buffer
 * travels only against credit: room the receiver has granted and not yet seen used. The
 * sender fills one open buffer at a time; it goes when the next frame does not fit, or at the
 * connection's flush (when the slot loop gives the event loop a turn), whichever is first.
 *
 * Packing is what makes credit a bound on bytes rather than on frames. With one frame per
 * buffer, a paced source's small batches and the watermark after each used a credit apiece:
 * 8 credits per channel covered a few hundred records, the sender waited for credit a round trip
 * at a time, and q1-rebalance across two processes fell behind at 0.3M events/s when it ran at
 * 1.1M unpaced (p99 ~0.1–0.8 s; benchmarks/README.md, "Across processes"). Flink's buffers hold
 * many records and their watermarks for the same reason.
 *
 * When neither the open buffer nor credit has room, a frame waits in the sender, which then says
 * it is blocked, exactly as a ring sender does when its ring is full; the writer above stops
 * taking input, and backpressure reaches the source. So a sender holds at most its open buffer
 * and what waited before it said it was blocked. A batch larger than a buffer travels as parts,
 * one buffer each, and is joined again by the receiver.
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
  /** Bytes the receiver has granted and the sender not yet used. */
  credit = 0;
  /** The receiver's buffer size; 0 until it has announced itself (then there is no credit either). */
  bufferBytes = 0;
  /** Buffers sent so far (for tests and metrics). */
  buffersSent = 0;
  /**
   * The open buffer: a data message being filled (its header first, then length-prefixed
   * frames), kept for the channel's life and copied out when sealed.
   */
  open: Buffer | undefined;
  /** Bytes of frames (with their lengths) in the open buffer; 0: it is empty. */
  packedBytes = 0;
  /** Whether the open buffer is in the connection's list to send at its next flush. */
  scheduled = false;
  wake: () => void = noop;
  hasSender = false;
  /** The sender sent its end of input and nothing waits in it (its open buffer may still hold it). */
  finished = false;
  closed = false;

  constructor(channelId: number) {
    this.channelId = channelId;
  }
}

/** A channel's receiving side as the connection keeps it: the buffers that arrived, and the credit. */
export class InboundChannel {
  readonly channelId: number;
  /**
   * Arrived buffers (frames packed), a circular queue: their bytes never exceed the credit
   * granted; it grows (doubling) only when many small buffers arrive.
   */
  queue: Array<Uint8Array | undefined>;
  head = 0;
  size = 0;
  /** Credit (bytes) announced to the sender and not yet used by a buffer. */
  outstanding = 0;
  /** Bytes of buffers consumed since the last announcement: credit to announce at the next flush. */
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

  enqueue(buffer: Uint8Array): void {
    let queue = this.queue;
    if (this.size === queue.length) {
      const grown = new Array<Uint8Array | undefined>(queue.length * 2).fill(undefined);
      for (let i = 0; i < this.size; i++) grown[i] = queue[(this.head + i) % queue.length];
      this.queue = queue = grown;
      this.head = 0;
    }
    let tail = this.head + this.size;
    if (tail >= queue.length) tail -= queue.length;
    queue[tail] = buffer;
    this.size++;
  }
}

function noop(): void {}

/** Bytes before each frame in a buffer: its length (u32, big endian). */
export const FRAME_PREFIX_BYTES = 4;

/** What the ends need of their connection. */
export interface DataLink {
  /**
   * Copies `frame` (at most `bufferBytes - FRAME_PREFIX_BYTES`) into `channel`'s open buffer,
   * sending the buffer first when the frame does not fit and there is credit for it; `false`:
   * no room until credit comes, nothing taken.
   */
  append(channel: OutboundChannel, frame: Uint8Array): boolean;
  /** A buffer of `channel` was consumed: its `bytes` of credit go back to the sender at the next flush. */
  returnCredit(channel: InboundChannel, bytes: number): void;
  /** Why the connection is unusable, once it is. */
  readonly failure: TransportError | undefined;
}

export class TcpSender implements ChannelSender {
  readonly #link: DataLink;
  readonly #channel: OutboundChannel;
  readonly #encoder = new RecordEncoder();
  readonly #keysWriter = new BatchKeysWriter();
  readonly #controlFrames = new ControlFrameWriter();
  /** Frames waiting for room, oldest first, whole (split into parts once the buffer size is known). */
  readonly #pending: Uint8Array[] = [];
  #endSent = false;

  constructor(link: DataLink, channel: OutboundChannel) {
    this.#link = link;
    this.#channel = channel;
  }

  /**
   * Frames wait for room; or the end of input was sent and its buffer has not left yet. The
   * latter holds the task back from finishing (`sendEndOfInput` says false then): were it to
   * finish, its slot could close the connection before the buffer left, and the receiver would
   * fail with "the peer closed the data connection while channel N still expected input".
   */
  get isBlocked(): boolean {
    return this.#pending.length > 0 || (this.#endSent && this.#channel.packedBytes > 0);
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

  /**
   * Always taken; but `false` (blocked) until its buffer has left, as {@link isBlocked} says: the
   * writer then counts the channel as blocked and holds its task back from finishing.
   */
  sendEndOfInput(): boolean {
    this.#endSent = true;
    this.#send(END_OF_INPUT_FRAME, false);
    return !this.isBlocked;
  }

  /** `scratch`: the frame is a buffer that is reused (encoder, control frames): a copy waits in its place. */
  #send(frame: Uint8Array, scratch: boolean): boolean {
    const failure = this.#link.failure;
    if (failure !== undefined) throw failure;
    const channel = this.#channel;
    if (
      this.#pending.length === 0 &&
      channel.bufferBytes !== 0 &&
      frame.byteLength <= channel.bufferBytes - FRAME_PREFIX_BYTES &&
      this.#link.append(channel, frame)
    ) {
      this.#markFinished();
      return true;
    }
    this.#pending.push(scratch ? frame.slice() : frame);
    // A frame larger than a buffer: send the parts there is room for now.
    if (this.#pending.length === 1 && channel.bufferBytes !== 0) this.flushPending();
    return this.#pending.length === 0;
  }

  flushPending(): boolean {
    const channel = this.#channel;
    const pending = this.#pending;
    // Nothing waits in this sender: whatever became of the connection since, it is not this
    // channel's failure (the peer may close it as soon as this channel's end of input arrived).
    if (pending.length === 0 && channel.packedBytes === 0) return false;
    const failure = this.#link.failure;
    if (failure !== undefined) throw failure;
    // Before the receiver announced its buffer size there is no room (and no size to split by).
    if (channel.bufferBytes === 0) return false;
    const maxFrameBytes = channel.bufferBytes - FRAME_PREFIX_BYTES;
    let moved = 0;
    while (moved < pending.length) {
      const frame = pending[moved]!;
      if (frame.byteLength > maxFrameBytes) {
        // Parts fit a buffer each (encodeParts keeps them within it), so a part is never split again.
        pending.splice(moved, 1, ...encodeParts(frame, maxFrameBytes));
        continue;
      }
      if (!this.#link.append(channel, frame)) break;
      moved++;
    }
    if (moved === 0) return false;
    pending.splice(0, moved);
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
  /** The buffer whose frames are being handed on, and where its next frame starts. */
  #buffer: Uint8Array | undefined;
  #view: DataView | undefined;
  #offset = 0;
  /** The pieces of a batch that arrives as parts, until its last part. */
  #pieces: Uint8Array[] | undefined;
  #ended = false;

  constructor(link: DataLink, channel: InboundChannel) {
    this.#link = link;
    this.#channel = channel;
  }

  receive(): ChannelItemKind {
    const channel = this.#channel;
    // Bounded by the credit granted: at most that many buffers wait.
    for (;;) {
      let buffer = this.#buffer;
      if (buffer === undefined) {
        if (channel.size === 0) {
          const failure = this.#link.failure;
          // What arrived before a failure is still handed on; then the failure, unless the input ended.
          if (failure !== undefined && !this.#ended) throw failure;
          return ChannelItem.None;
        }
        const queue = channel.queue;
        buffer = queue[channel.head]!;
        queue[channel.head] = undefined;
        channel.head = channel.head + 1 === queue.length ? 0 : channel.head + 1;
        channel.size--;
        this.#buffer = buffer;
        this.#view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        this.#offset = 0;
      }
      // The connection checked the lengths when the buffer arrived.
      const start = this.#offset + FRAME_PREFIX_BYTES;
      const end = start + this.#view!.getUint32(this.#offset);
      const frame = buffer.subarray(start, end);
      this.#offset = end;
      if (end === buffer.byteLength) {
        this.#buffer = undefined;
        this.#view = undefined;
        this.#link.returnCredit(channel, buffer.byteLength);
      }
      // Buffers are copies the connection made for this channel: decoding may keep views into them.
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
    this.#buffer = undefined;
    this.#view = undefined;
    this.#pieces = undefined;
  }
}
