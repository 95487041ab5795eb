import { assignToKeyGroup, computeOperatorIndexForKeyGroup, type Key } from '../state/key-groups.ts';
import type { BatchKeys } from './batch-keys.ts';
import type { ChannelSender } from './channel.ts';
import { admitRecord, type RecordEncoder } from './record-codec.ts';

/** {@link RecordWriter.keying} when no key selector is running. */
export const NOT_KEYING: unique symbol = Symbol('not keying');

export type Partitioner = 'forward' | 'rebalance' | 'broadcast' | 'hash';

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
 * One outgoing channel: the batch being filled, and the channel's sender, which carries it on
 * however the channel travels.
 */
class OutputChannel {
  readonly sender: ChannelSender;
  /** The sender's encoder, if it encodes: each record is checked by being encoded into the batch. */
  readonly encoder: RecordEncoder | null;
  values: unknown[] = [];
  timestamps: number[] = [];
  /**
   * Hash partitioning: each record's key and key group, sent with the batch. Allocated at the
   * batch size and written by index (measured: growing them by `push` cost more per record than
   * the selector and hash they save the receiver).
   */
  keys: BatchKeys['keys'];
  keyGroups: Uint16Array;
  /** Whether any record of the batch has a timestamp; if none, none are sent. */
  timestamped = false;
  /**
   * Whether a record of the batch holds a value only the codec's exact path carries (-0, a hole,
   * an error...), as `checkRecord` said of the records the encoder did not take.
   */
  exact = false;
  /** When the batch got its first record (ms), for the flush timeout. */
  openedAtMs = 0;
  /** Counted in the writer's blocked channels: the sender holds items that wait for room. */
  blocked = false;
  /** Records that fill a batch: the configured size, or less where the sender asks for it. */
  recordsPerBatch: number;

  constructor(sender: ChannelSender, keyed: boolean, batchSize: number) {
    this.sender = sender;
    this.recordsPerBatch = batchSize;
    this.encoder = sender.encoder ?? null;
    this.keys = keyed ? new Array<BatchKeys['keys'][number]>(batchSize) : [];
    this.keyGroups = new Uint16Array(keyed ? batchSize : 0);
  }
}

/**
 * Partitions one subtask's output over the channels of one edge and batches it. Records are
 * appended to per-channel arrays; a batch goes to the channel's sender when full, on the flush
 * timeout, or before a control element, so each send carries hundreds of records. When a
 * channel has no room the sender keeps what it was given and reports itself blocked, and
 * `isBlocked` tells the task to stop taking input: that is how backpressure travels upstream
 * without dropping anything. How a channel travels (encoded into a ring, handed over in the
 * thread) is its sender's business (`channel.ts`).
 *
 * Every record is checked against the record contract as it is emitted, on local channels too:
 * what cannot cross a thread is refused at any parallelism, in the operator that emitted it
 * (see `record-codec.ts`). On a channel whose sender encodes, the check is the encoding: the
 * record is handed to the sender's encoder at once (`RecordEncoder.append`), which writes a plain
 * record as it checks it; `checkRecord` walks only the records it does not take. Records of
 * channels that do not encode are walked by `admitRecord`. A refused record is refused before it
 * is added to any channel's batch (a plain record is never refused).
 *
 * Hash partitioning runs the key selector and the hash once per record, here, and sends each
 * record's key and key group with it (`batch-keys.ts`): the keyed operator downstream uses them
 * as they are, so routing and keyed state never depend on a re-encoded copy of the record.
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
  /**
   * The record whose key is being selected, {@link NOT_KEYING} otherwise: set around the key
   * selector so that a failure there is attributed to the keyBy (two stores a record, no try).
   */
  keying: unknown = NOT_KEYING;
  /** Which user function runs while {@link keying} is set, for the failure report. */
  keyingFunction = 'key selector';

  constructor(senders: readonly ChannelSender[], options: RecordWriterOptions, clock: () => number) {
    const keyed = options.partitioner === 'hash';
    this.#channels = senders.map((sender) => new OutputChannel(sender, keyed, options.batchSize));
    this.#partitioner = options.partitioner;
    this.#keySelector = options.keySelector;
    this.#maxParallelism = options.maxParallelism;
    this.#batchSize = options.batchSize;
    this.#clock = clock;
    this.#nextChannel = options.subtaskIndex % Math.max(1, senders.length);
    this.#channelOfKeyGroup = new Int32Array(options.maxParallelism);
    for (let kg = 0; kg < options.maxParallelism; kg++) {
      this.#channelOfKeyGroup[kg] = computeOperatorIndexForKeyGroup(
        options.maxParallelism,
        senders.length,
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
    // Each path checks the record before it is batched (#append): one that cannot cross a thread
    // throws here, so the failure names this operator.
    switch (this.#partitioner) {
      case 'forward':
        this.#append(this.#channels[0]!, value, timestamp);
        return;
      case 'rebalance': {
        const index = this.#nextChannel;
        this.#nextChannel = index + 1 === this.#channels.length ? 0 : index + 1;
        this.#append(this.#channels[index]!, value, timestamp);
        return;
      }
      case 'hash': {
        this.keying = value;
        // hashKey rejects a key that is not a primitive, with the fix in its message.
        const key = this.#keySelector!(value);
        const keyGroup = assignToKeyGroup(key, this.#maxParallelism);
        this.keying = NOT_KEYING;
        const channel = this.#channels[this.#channelOfKeyGroup[keyGroup]!]!;
        const at = channel.values.length;
        channel.keys[at] = key;
        channel.keyGroups[at] = keyGroup;
        this.#append(channel, value, timestamp);
        return;
      }
      case 'broadcast': {
        // Encoded into each channel that encodes; walked once at most for all the others.
        let walked = 0; // 1: admitted, 2: checked and plain, 3: checked, needs the exact path
        for (const channel of this.#channels) {
          if (channel.encoder === null) {
            if (walked === 0) {
              admitRecord(value);
              walked = 1;
            }
          } else if (!channel.encoder.append(value)) {
            if (walked < 2) walked = channel.encoder.checkAppended(value) ? 3 : 2;
            if (walked === 3) channel.exact = true;
          }
          this.#push(channel, value, timestamp);
        }
        return;
      }
    }
  }

  /**
   * Hash partitioning by a key the caller selected (a pre-aggregating writer, which runs the key
   * selector itself): the key group and channel as in {@link emit}, no selector call.
   */
  protected emitWithKey(value: unknown, timestamp: number, key: Key): void {
    const keyGroup = assignToKeyGroup(key, this.#maxParallelism);
    const channel = this.#channels[this.#channelOfKeyGroup[keyGroup]!]!;
    const at = channel.values.length;
    channel.keys[at] = key;
    channel.keyGroups[at] = keyGroup;
    this.#append(channel, value, timestamp);
  }

  /** Checks `value` (encoding it, where the channel encodes) and adds it to the channel's batch. */
  #append(channel: OutputChannel, value: unknown, timestamp: number): void {
    const encoder = channel.encoder;
    // Shaped for speed: a plain record on an encoding channel is checked by being encoded.
    if (encoder === null) admitRecord(value);
    else if (!encoder.append(value) && encoder.checkAppended(value)) channel.exact = true;
    this.#push(channel, value, timestamp);
  }

  #push(channel: OutputChannel, value: unknown, timestamp: number): void {
    const count = channel.values.push(value);
    channel.timestamps.push(timestamp);
    if (!Number.isNaN(timestamp)) channel.timestamped = true;
    if (count === 1) channel.openedAtMs = this.#clock();
    if (count >= channel.recordsPerBatch) this.#sendBatch(channel);
  }

  #sendBatch(channel: OutputChannel): void {
    const values = channel.values;
    if (values.length === 0) return;
    const timestamps = channel.timestamped ? channel.timestamps : null;
    const exact = channel.exact;
    let keys: BatchKeys | null = null;
    if (this.#partitioner === 'hash') {
      // A batch sent early (timeout, watermark) is shorter than the arrays.
      channel.keys.length = values.length;
      keys = { keys: channel.keys, keyGroups: channel.keyGroups.subarray(0, values.length) };
    }
    // Fresh arrays: the sender takes these (the local hand-over passes them on as they are).
    channel.values = [];
    channel.timestamps = [];
    if (keys !== null) {
      channel.keys = new Array(this.#batchSize);
      channel.keyGroups = new Uint16Array(this.#batchSize);
    }
    channel.timestamped = false;
    channel.exact = false;
    this.#track(channel, channel.sender.sendBatch(values, timestamps, exact, keys));
    // Once per batch: a sender may want smaller batches than configured (records of 1 KiB and more).
    const max = channel.sender.recordsPerBatchMax;
    channel.recordsPerBatch = max === undefined || max >= this.#batchSize ? this.#batchSize : max;
  }

  /** Counts a channel whose sender kept an item (`accepted` false) as blocked. */
  #track(channel: OutputChannel, accepted: boolean): void {
    if (accepted || channel.blocked) return;
    channel.blocked = true;
    this.#blockedChannels++;
  }

  /** Lets blocked senders move what waits; returns whether any made progress. */
  drain(): boolean {
    if (this.#blockedChannels === 0) return false;
    let moved = false;
    for (const channel of this.#channels) {
      if (!channel.blocked) continue;
      const sender = channel.sender;
      if (sender.flushPending()) moved = true;
      if (!sender.isBlocked) {
        channel.blocked = false;
        this.#blockedChannels--;
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

  // Control elements are broadcast, each after the records before it on every channel.

  emitWatermark(watermark: number): void {
    for (const channel of this.#channels) {
      this.#sendBatch(channel);
      this.#track(channel, channel.sender.sendWatermark(watermark));
    }
  }

  emitWatermarkStatus(idle: boolean): void {
    for (const channel of this.#channels) {
      this.#sendBatch(channel);
      this.#track(channel, channel.sender.sendWatermarkStatus(idle));
    }
  }

  /** A checkpoint barrier, after every record before it. */
  emitBarrier(checkpointId: number): void {
    for (const channel of this.#channels) {
      this.#sendBatch(channel);
      this.#track(channel, channel.sender.sendBarrier(checkpointId));
    }
  }

  emitEndOfInput(): void {
    for (const channel of this.#channels) {
      this.#sendBatch(channel);
      this.#track(channel, channel.sender.sendEndOfInput());
    }
  }

  /** Marks the channels closed so a consumer sees it in teardown. */
  close(): void {
    for (const channel of this.#channels) channel.sender.close();
  }
}
