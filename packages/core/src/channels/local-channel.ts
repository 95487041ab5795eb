/**
 * A channel between two subtasks in the same slot (thread): items are handed over as they are,
 * with no encoding, no copy and no doorbell (both ends run in the same slot loop, which steps
 * every task again after any progress). Records are passed by reference, as between chained
 * operators: a function must not change a record after emitting it. They are checked against the
 * record contract all the same (`RecordWriter.emit`), so what a ring would refuse is refused here
 * too.
 *
 * Bounded in items (a batch or a control element each), so backpressure works as on a ring:
 * what is sent beyond the capacity is queued behind the rest and the sender reports itself
 * blocked until the consumer has taken the queue back down to the capacity. (Unlike a ring's
 * waiting frames, items over the capacity are readable at once: in one thread there is nothing
 * to gain by hiding them.)
 */
import type { BatchKeys } from './batch-keys.ts';
import type { ChannelItemKind, ChannelReceiver, ChannelSender } from './channel.ts';
import { ChannelItem } from './channel.ts';

/**
 * The queue both ends share: a growable circular buffer of items, one array per field, so that
 * handing an item over allocates nothing. It grows only past its initial size, which is twice
 * the capacity, so only while a sender is blocked.
 */
class HandOverQueue {
  readonly capacityItems: number;
  kinds: Uint8Array;
  /** A watermark, a checkpoint id, or 1 for idle / 0 for active. */
  controlValues: Float64Array;
  values: Array<unknown[] | undefined>;
  timestamps: Array<number[] | null>;
  keys: Array<BatchKeys | null>;
  head = 0;
  size = 0;

  constructor(capacityItems: number) {
    this.capacityItems = capacityItems;
    let slots = 4;
    while (slots < 2 * capacityItems) slots *= 2;
    this.kinds = new Uint8Array(slots);
    this.controlValues = new Float64Array(slots);
    this.values = new Array<unknown[] | undefined>(slots).fill(undefined);
    this.timestamps = new Array<number[] | null>(slots).fill(null);
    this.keys = new Array<BatchKeys | null>(slots).fill(null);
  }

  /** Appends an item; returns whether the queue is still within its capacity. */
  push(
    kind: ChannelItemKind,
    values: unknown[] | undefined,
    timestamps: number[] | null,
    keys: BatchKeys | null,
    controlValue: number,
  ): boolean {
    if (this.size === this.kinds.length) this.#grow();
    const slot = (this.head + this.size) & (this.kinds.length - 1);
    this.kinds[slot] = kind;
    this.values[slot] = values;
    this.timestamps[slot] = timestamps;
    this.keys[slot] = keys;
    this.controlValues[slot] = controlValue;
    this.size++;
    return this.size <= this.capacityItems;
  }

  #grow(): void {
    const slots = this.kinds.length;
    const kinds = new Uint8Array(slots * 2);
    const controlValues = new Float64Array(slots * 2);
    const values = new Array<unknown[] | undefined>(slots * 2).fill(undefined);
    const timestamps = new Array<number[] | null>(slots * 2).fill(null);
    const keys = new Array<BatchKeys | null>(slots * 2).fill(null);
    for (let i = 0; i < this.size; i++) {
      const from = (this.head + i) & (slots - 1);
      kinds[i] = this.kinds[from]!;
      controlValues[i] = this.controlValues[from]!;
      values[i] = this.values[from];
      timestamps[i] = this.timestamps[from]!;
      keys[i] = this.keys[from]!;
    }
    this.kinds = kinds;
    this.controlValues = controlValues;
    this.values = values;
    this.timestamps = timestamps;
    this.keys = keys;
    this.head = 0;
  }
}

const NO_VALUES: unknown[] = [];

class LocalSender implements ChannelSender {
  readonly #queue: HandOverQueue;
  /** Items over the capacity at the last send or flush: what "waits" on a hand-over. */
  #waiting = 0;

  constructor(queue: HandOverQueue) {
    this.#queue = queue;
  }

  get isBlocked(): boolean {
    return this.#queue.size > this.#queue.capacityItems;
  }

  sendBatch(
    values: unknown[],
    timestamps: number[] | null,
    _exact: boolean,
    keys?: BatchKeys | null,
  ): boolean {
    return this.#accepted(this.#queue.push(ChannelItem.Batch, values, timestamps, keys ?? null, 0));
  }

  sendWatermark(watermark: number): boolean {
    return this.#accepted(this.#queue.push(ChannelItem.Watermark, undefined, null, null, watermark));
  }

  sendWatermarkStatus(idle: boolean): boolean {
    return this.#accepted(this.#queue.push(ChannelItem.WatermarkStatus, undefined, null, null, idle ? 1 : 0));
  }

  sendBarrier(checkpointId: number): boolean {
    return this.#accepted(this.#queue.push(ChannelItem.Barrier, undefined, null, null, checkpointId));
  }

  sendEndOfInput(): boolean {
    return this.#accepted(this.#queue.push(ChannelItem.EndOfInput, undefined, null, null, 0));
  }

  #accepted(withinCapacity: boolean): boolean {
    if (!withinCapacity) this.#waiting = this.#queue.size - this.#queue.capacityItems;
    return withinCapacity;
  }

  /** Nothing moves on a hand-over: progress is the consumer having taken items since the last look. */
  flushPending(): boolean {
    const waiting = Math.max(0, this.#queue.size - this.#queue.capacityItems);
    const progressed = waiting < this.#waiting;
    this.#waiting = waiting;
    return progressed;
  }

  close(): void {}
}

class LocalReceiver implements ChannelReceiver {
  values: unknown[] = NO_VALUES;
  timestamps: number[] | null = null;
  keys: BatchKeys | null = null;
  watermark = Number.NEGATIVE_INFINITY;
  idle = false;
  checkpointId = 0;

  readonly #queue: HandOverQueue;

  constructor(queue: HandOverQueue) {
    this.#queue = queue;
  }

  receive(): ChannelItemKind {
    const queue = this.#queue;
    if (queue.size === 0) return ChannelItem.None;
    const slot = queue.head;
    const kind = queue.kinds[slot] as ChannelItemKind;
    switch (kind) {
      case ChannelItem.Batch:
        this.values = queue.values[slot]!;
        this.timestamps = queue.timestamps[slot]!;
        this.keys = queue.keys[slot]!;
        // Let the batch go with the consumer: the queue must not keep it alive.
        queue.values[slot] = undefined;
        queue.timestamps[slot] = null;
        queue.keys[slot] = null;
        break;
      case ChannelItem.Watermark:
        this.watermark = queue.controlValues[slot]!;
        break;
      case ChannelItem.WatermarkStatus:
        this.idle = queue.controlValues[slot] === 1;
        break;
      case ChannelItem.Barrier:
        this.checkpointId = queue.controlValues[slot]!;
        break;
    }
    queue.head = (slot + 1) & (queue.kinds.length - 1);
    queue.size--;
    return kind;
  }

  close(): void {}
}

/** Both ends of one hand-over: give `sender` to the producing task and `receiver` to the consuming one. */
export class LocalChannel {
  readonly sender: ChannelSender;
  readonly receiver: ChannelReceiver;

  /** `capacityItems` (at least 2): how many batches and control elements may wait before the sender is blocked. */
  constructor(capacityItems: number) {
    const queue = new HandOverQueue(Math.max(2, capacityItems));
    this.sender = new LocalSender(queue);
    this.receiver = new LocalReceiver(queue);
  }
}
