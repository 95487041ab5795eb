import { assignToKeyGroup, computeOperatorIndexForKeyGroup, type Key } from '../state/key-groups.ts';
import type { Doorbell } from './doorbell.ts';
import { END_OF_INPUT_FRAME, encodeBarrier, encodeParts, encodeStatus, encodeWatermark } from './frames.ts';
import type { LocalChannel, LocalItem } from './local-channel.ts';
import { checkRecord, RecordEncoder } from './record-codec.ts';
import { RingWriter } from './ring-buffer.ts';

export type Partitioner = 'forward' | 'rebalance' | 'broadcast' | 'hash';

/** A ring to a consumer in another thread, or a local channel to one in this thread. */
export type ChannelTarget =
  | {
      readonly ring: SharedArrayBuffer;
      /** Rung after every frame so a consumer sleeping on it wakes up. */
      readonly consumerDoorbell: Doorbell;
    }
  | { readonly local: LocalChannel };

export interface RecordWriterOptions {
  readonly partitioner: Partitioner;
  /** For hash partitioning. */
  readonly keySelector: ((value: unknown) => Key) | undefined;
  readonly maxParallelism: number;
  /** Records per batch before it is encoded and sent. */
  readonly batchSize: number;
  /** The producing subtask, to stagger round-robin starts. */
  readonly subtaskIndex: number;
}

/**
 * One outgoing channel: a batch being filled, the record encoder whose record structures the
 * consumer learns in order (`sequential`), and frames waiting for room in the ring.
 */
class OutputChannel {
  readonly ring: RingWriter | undefined;
  readonly doorbell: Doorbell | undefined;
  readonly local: LocalChannel | undefined;
  readonly encoder: RecordEncoder | undefined;
  values: unknown[] = [];
  timestamps: number[] = [];
  /** Whether any record of the batch has a timestamp; if none, none are sent. */
  timestamped = false;
  /** Whether a record of the batch holds a value only the codec's exact path carries (-0, a hole, an error...). */
  exact = false;
  /** When the batch got its first record (ms), for the flush timeout. */
  openedAtMs = 0;
  readonly pending: Array<Uint8Array | LocalItem> = [];

  constructor(target: ChannelTarget) {
    if ('local' in target) {
      this.local = target.local;
    } else {
      this.ring = new RingWriter(target.ring);
      this.doorbell = target.consumerDoorbell;
      this.encoder = new RecordEncoder();
    }
  }

  tryWrite(item: Uint8Array | LocalItem): boolean {
    if (this.local !== undefined) return this.local.tryPush(item);
    return this.ring!.tryWrite(item as Uint8Array);
  }

  notify(): void {
    this.doorbell?.ring();
  }
}

/**
 * Partitions one subtask's output over the channels of one edge and batches it. Records are
 * appended to per-channel arrays; a batch is encoded when full, on the flush timeout, or before a
 * control element, so each ring write carries hundreds of records. When a ring is full the
 * encoded frame waits in `pending` and `isBlocked` tells the task to stop taking input: that is
 * how backpressure travels upstream without dropping anything.
 *
 * Every record is checked against the record contract as it is emitted, on local channels too:
 * what cannot cross a thread is refused at any parallelism, in the operator that emitted it
 * (see `record-codec.ts`).
 */
export class RecordWriter {
  readonly #channels: OutputChannel[];
  readonly #partitioner: Partitioner;
  readonly #keySelector: ((value: unknown) => Key) | undefined;
  readonly #maxParallelism: number;
  readonly #batchSize: number;
  /** Hash partitioning: key group → channel, precomputed. */
  readonly #channelOfKeyGroup: Int32Array;
  readonly #clock: () => number;
  #nextChannel: number;
  #blockedChannels = 0;

  constructor(targets: readonly ChannelTarget[], options: RecordWriterOptions, clock: () => number) {
    this.#channels = targets.map((t) => new OutputChannel(t));
    this.#partitioner = options.partitioner;
    this.#keySelector = options.keySelector;
    this.#maxParallelism = options.maxParallelism;
    this.#batchSize = options.batchSize;
    this.#clock = clock;
    this.#nextChannel = options.subtaskIndex % Math.max(1, targets.length);
    this.#channelOfKeyGroup = new Int32Array(options.maxParallelism);
    for (let kg = 0; kg < options.maxParallelism; kg++) {
      this.#channelOfKeyGroup[kg] = computeOperatorIndexForKeyGroup(
        options.maxParallelism,
        targets.length,
        kg,
      );
    }
    if (options.partitioner === 'hash' && options.keySelector === undefined) {
      throw new Error('bug: hash partitioning without a key selector');
    }
  }

  get isBlocked(): boolean {
    return this.#blockedChannels > 0;
  }

  emit(value: unknown, timestamp: number): void {
    // Throws for a record that cannot cross a thread, so the failure names this operator.
    const exact = checkRecord(value);
    switch (this.#partitioner) {
      case 'forward':
        this.#append(this.#channels[0]!, value, timestamp, exact);
        return;
      case 'rebalance': {
        const index = this.#nextChannel;
        this.#nextChannel = index + 1 === this.#channels.length ? 0 : index + 1;
        this.#append(this.#channels[index]!, value, timestamp, exact);
        return;
      }
      case 'hash': {
        // hashKey rejects a key that is not a primitive, with the fix in its message.
        const key = this.#keySelector!(value);
        const channel = this.#channelOfKeyGroup[assignToKeyGroup(key, this.#maxParallelism)]!;
        this.#append(this.#channels[channel]!, value, timestamp, exact);
        return;
      }
      case 'broadcast':
        for (const channel of this.#channels) this.#append(channel, value, timestamp, exact);
        return;
    }
  }

  #append(channel: OutputChannel, value: unknown, timestamp: number, exact: boolean): void {
    const count = channel.values.push(value);
    channel.timestamps.push(timestamp);
    if (!Number.isNaN(timestamp)) channel.timestamped = true;
    if (exact) channel.exact = true;
    if (count === 1) channel.openedAtMs = this.#clock();
    else if (count >= this.#batchSize) this.#sendBatch(channel);
  }

  #sendBatch(channel: OutputChannel): void {
    const values = channel.values;
    if (values.length === 0) return;
    const timestamps = channel.timestamped ? channel.timestamps : null;
    const exact = channel.exact;
    channel.values = [];
    channel.timestamps = [];
    channel.timestamped = false;
    channel.exact = false;
    if (channel.local !== undefined) {
      // Same thread: hand the arrays over as they are (every record was checked in emit).
      this.#send(channel, { values, timestamps }, false);
      return;
    }
    this.#send(channel, channel.encoder!.encodeBatch(values, timestamps, exact), true);
  }

  /** `reused`: the frame is the encoder's scratch buffer and must be copied if it has to wait. */
  #send(channel: OutputChannel, item: Uint8Array | LocalItem, reused: boolean): void {
    const ring = channel.ring;
    if (ring !== undefined && (item as Uint8Array).byteLength > ring.maxFrameBytes) {
      for (const part of encodeParts(item as Uint8Array, ring.maxFrameBytes))
        this.#send(channel, part, false);
      return;
    }
    if (channel.pending.length === 0 && channel.tryWrite(item)) {
      channel.notify();
      return;
    }
    if (channel.pending.length === 0) this.#blockedChannels++;
    channel.pending.push(reused ? (item as Uint8Array).slice() : item);
  }

  /** Tries to move waiting frames into their rings; returns whether any moved. */
  drain(): boolean {
    if (this.#blockedChannels === 0) return false;
    let moved = false;
    for (const channel of this.#channels) {
      const pending = channel.pending;
      if (pending.length === 0) continue;
      let written = 0;
      while (written < pending.length && channel.tryWrite(pending[written]!)) written++;
      if (written > 0) {
        moved = true;
        pending.splice(0, written);
        channel.notify();
        if (pending.length === 0) this.#blockedChannels--;
      }
    }
    return moved;
  }

  /** Sends every non-empty batch. */
  flush(): void {
    for (const channel of this.#channels) this.#sendBatch(channel);
  }

  /** Sends the batches that have waited `timeoutMs` or longer; returns the next deadline (ms) or Infinity. */
  flushOlderThan(nowMs: number, timeoutMs: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const channel of this.#channels) {
      if (channel.values.length === 0) continue;
      const deadline = channel.openedAtMs + timeoutMs;
      if (deadline <= nowMs) this.#sendBatch(channel);
      else if (deadline < next) next = deadline;
    }
    return next;
  }

  /** Control elements are broadcast, after the records before them. */
  #broadcastControl(frame: Uint8Array): void {
    for (const channel of this.#channels) {
      this.#sendBatch(channel);
      this.#send(channel, frame, false);
    }
  }

  emitWatermark(watermark: number): void {
    this.#broadcastControl(encodeWatermark(watermark));
  }

  emitWatermarkStatus(idle: boolean): void {
    this.#broadcastControl(encodeStatus(idle));
  }

  /** A checkpoint barrier, after every record before it. */
  emitBarrier(checkpointId: number): void {
    this.#broadcastControl(encodeBarrier(checkpointId));
  }

  emitEndOfInput(): void {
    this.#broadcastControl(END_OF_INPUT_FRAME);
  }

  /** Marks the rings closed so a consumer sees it in teardown. */
  close(): void {
    for (const channel of this.#channels) channel.ring?.close();
  }
}
