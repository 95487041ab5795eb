import type { ChannelSender } from '../channels/channel.ts';
import { NOT_KEYING, RecordWriter, type RecordWriterOptions } from '../channels/record-writer.ts';
import type { AggregateFunction, ReduceFunction } from '../contracts/functions.ts';
import type { WindowFunctionSpec } from '../plan/stream-node.ts';
import type { Key } from '../state/key-groups.ts';
import type { SlidingWindowAssigner, TumblingWindowAssigner } from '../time/windows.ts';
import { NO_TIMESTAMP } from './operator.ts';

/**
 * What crosses a pre-aggregated edge. A partial, `[key, windowStart, accumulator, lateCount]`:
 * the records of one input batch of one producing subtask folded together for one key and
 * window; `lateCount` is how many of them have this window as their latest, so that the
 * receiver counts a record as late once, when its latest window is late, as it would have. A
 * record passed through whole, `[key, record]` with its timestamp: the receiver assigns its
 * windows as it does without local aggregation.
 */
export type LocalAggregationRecord =
  | [key: Key, windowStart: number, accumulator: unknown, lateCount: number]
  | [key: Key, record: unknown];

/** The key a pre-aggregated edge is partitioned by: the one its sender computed and carried. */
export function partialKey(value: unknown): Key {
  return (value as LocalAggregationRecord)[0];
}

/** What the local aggregation needs of its window: the assigner's arithmetic and the function. */
export interface LocalAggregationSpec {
  readonly assigner: TumblingWindowAssigner | SlidingWindowAssigner;
  readonly fn: Extract<WindowFunctionSpec, { kind: 'reduce' | 'aggregate' }>;
  /** The user's keyBy. */
  readonly keySelector: (value: unknown) => Key;
}

/**
 * The local half of two-phase ("local-global") window aggregation, in the producing subtask at
 * the end of its chain: the record writer of a hash edge into a window that merges partials
 * (`plan/local-aggregation.ts`). Flink SQL does the same with a mini-batch operator
 * (`MiniBatchLocalGroupAggFunction`); here the batch is the task's own step, so no timer and no
 * buffer size are needed.
 *
 * Each record is assigned its windows as the window operator would, and folded into a partial
 * accumulator per key and window. The partials go out, in the order their first records came,
 * before anything else leaves the writer: at the end of each task step (`flushOlderThan`), and
 * before a watermark, a watermark status, a barrier or end of input. So nothing is held across
 * a checkpoint (there is no state), and every record reaches the window operator before the
 * watermark that followed it, as without local aggregation.
 *
 * A record is folded only when all its windows end after the last watermark this writer
 * passed on. The window operator's watermark is never ahead of that one (it is the minimum over
 * its inputs, this channel included), so a folded record's windows are neither late nor due to
 * fire at once when its partial arrives: a window fires once per partial exactly where it would
 * have fired once for its records. Any other record (its window already due: late data within
 * the allowed lateness, or too late) passes through whole, after the partials before it, and
 * the window operator treats it as it always did: it fires the window per record, drops and
 * counts it. After this channel has gone idle the window operator's watermark may run ahead of
 * it, so from then on every record passes through whole.
 *
 * Shaped for speed: one Map lookup per record (the key), the windows of a key chained by index;
 * nothing is allocated per record beyond a new (key, window)'s partial, which is what is sent.
 */
export class LocalWindowAggregatingWriter extends RecordWriter {
  readonly #keySelector: (value: unknown) => Key;
  readonly #size: number;
  readonly #slide: number;
  readonly #offset: number;
  readonly #reduce: ReduceFunction<unknown> | undefined;
  readonly #aggregate: AggregateFunction<unknown, unknown, unknown> | undefined;
  /** The partials of this batch, in the order of their first records. */
  readonly #partials: [Key, number, unknown, number][] = [];
  /** For each partial, the index of the same key's partial created before it, or -1. */
  readonly #previousOfKey: number[] = [];
  /** Each key's newest partial in {@link #partials}. */
  readonly #newestOfKey = new Map<Key, number>();
  /** The last watermark passed on: a record with a window ending at or before it passes whole. */
  #watermark = Number.NEGATIVE_INFINITY;
  /** Set once the channel went idle: records pass whole from then on. */
  #passThrough = false;

  constructor(
    senders: readonly ChannelSender[],
    options: Omit<RecordWriterOptions, 'keySelector' | 'partitioner'>,
    clock: () => number,
    spec: LocalAggregationSpec,
  ) {
    super(senders, { ...options, partitioner: 'hash', keySelector: partialKey }, clock);
    this.#keySelector = spec.keySelector;
    const assigner = spec.assigner;
    this.#size = assigner.size;
    this.#slide = assigner.kind === 'sliding' ? assigner.slide : assigner.size;
    this.#offset = assigner.offset;
    this.#reduce = spec.fn.kind === 'reduce' ? spec.fn.reduce : undefined;
    this.#aggregate = spec.fn.kind === 'aggregate' ? spec.fn.aggregate : undefined;
    this.keyingFunction = 'key selector';
  }

  override emit(value: unknown, timestamp: number): void {
    this.keying = value;
    this.keyingFunction = 'key selector';
    const key = this.#keySelector(value);
    this.keying = NOT_KEYING;
    const size = this.#size;
    const slide = this.#slide;
    // As the window operator (Flink's assigners): the latest window start at or before the
    // time, then one slide back at a time while the window still holds it.
    const latest = timestamp - ((((timestamp - this.#offset) % slide) + slide) % slide);
    let earliest = latest;
    while (earliest - slide > timestamp - size) earliest -= slide;
    // `!(x > w)` is also true for NaN (no timestamp): the window operator throws its own error.
    // A slide longer than the size leaves gaps: a record in none passes whole, to be dropped.
    if (this.#passThrough || !(earliest + size - 1 > this.#watermark) || latest <= timestamp - size) {
      this.#emitPartials();
      super.emit([key, value], timestamp);
      return;
    }
    this.keying = value;
    this.keyingFunction = this.#reduce === undefined ? 'aggregate function' : 'reduce function';
    const partials = this.#partials;
    const newest = this.#newestOfKey.get(key);
    for (let start = latest; start >= earliest; start -= slide) {
      let index = newest === undefined ? -1 : newest;
      while (index !== -1 && partials[index]![1] !== start) index = this.#previousOfKey[index]!;
      let partial: [Key, number, unknown, number];
      if (index === -1) {
        const aggregate = this.#aggregate;
        partial = [
          key,
          start,
          aggregate === undefined ? value : aggregate.add(value, aggregate.createAccumulator()),
          0,
        ];
        this.#previousOfKey.push(this.#newestOfKey.get(key) ?? -1);
        this.#newestOfKey.set(key, partials.length);
        partials.push(partial);
      } else {
        partial = partials[index]!;
        partial[2] =
          this.#aggregate === undefined
            ? this.#reduce!(partial[2], value)
            : this.#aggregate.add(value, partial[2]);
      }
      if (start === latest) partial[3]++;
    }
    this.keying = NOT_KEYING;
  }

  /** Sends this batch's partials and starts the next batch. */
  #emitPartials(): void {
    const partials = this.#partials;
    if (partials.length === 0) return;
    for (let i = 0; i < partials.length; i++) super.emit(partials[i]!, NO_TIMESTAMP);
    partials.length = 0;
    this.#previousOfKey.length = 0;
    this.#newestOfKey.clear();
  }

  override flush(): void {
    this.#emitPartials();
    super.flush();
  }

  /** The end of a task step: the batch's partials go out, then batches that waited long enough. */
  override flushOlderThan(nowMs: number, timeoutMs: number): number {
    this.#emitPartials();
    return super.flushOlderThan(nowMs, timeoutMs);
  }

  override emitWatermark(watermark: number): void {
    this.#emitPartials();
    if (watermark > this.#watermark) this.#watermark = watermark;
    super.emitWatermark(watermark);
  }

  override emitWatermarkStatus(idle: boolean): void {
    this.#emitPartials();
    if (idle) this.#passThrough = true;
    super.emitWatermarkStatus(idle);
  }

  override emitBarrier(checkpointId: number): void {
    this.#emitPartials();
    super.emitBarrier(checkpointId);
  }

  override emitEndOfInput(): void {
    this.#emitPartials();
    super.emitEndOfInput();
  }
}
