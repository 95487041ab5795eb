import type { ChannelSender } from '../channels/channel.ts';
import { NOT_KEYING, RecordWriter, type RecordWriterOptions } from '../channels/record-writer.ts';
import type { AggregateFunction, ReduceFunction } from '../contracts/functions.ts';
import type { WindowFunctionSpec } from '../plan/stream-node.ts';
import type { Key } from '../state/key-groups.ts';
import {
  getWindowStartWithOffset,
  type SlidingWindowAssigner,
  type TumblingWindowAssigner,
} from '../time/windows.ts';
import { NO_TIMESTAMP } from './operator.ts';

/**
 * A partial, what crosses a pre-aggregated edge besides records passed through whole:
 * `[key, paneStart, accumulator, records]`, the records of one input batch of one producing
 * subtask folded together for one key and pane. A pane is a slice of event time
 * `gcd(size, slide)` long (Flink SQL's window slicing; a tumbling window is one pane): every
 * record of a pane has the same windows, so one partial per pane stands for its records in each
 * of them, and a record crosses in at most one partial. A partial travels without a timestamp
 * (NaN); a record passed through whole travels as it is, with its timestamp, which an
 * event-time window's record always has: that is how the receiver tells them apart.
 */
export type LocalAggregationPartial = [key: Key, paneStart: number, accumulator: unknown, records: number];

/**
 * Adaptive pass-through: a step whose records folded into more than half as many partials (at
 * least {@link FOLD_CHECK_RECORDS} of them) saved less than half the records, and its keys are
 * likely to repeat as little in the next steps; the next {@link PASS_THROUGH_STEPS} steps send
 * their records whole, at the cost they have without local aggregation, then folding is tried
 * again. Chosen by reasoning, not by measurement: a partial costs about what a record costs to
 * send and merge, and folding costs a Map lookup per record.
 */
const FOLD_CHECK_RECORDS = 64;
const PASS_THROUGH_STEPS = 15;

/** The length of the panes of fixed-size windows: the longest slice each window is made of whole. */
export function paneSize(assigner: TumblingWindowAssigner | SlidingWindowAssigner): number {
  if (assigner.kind === 'tumbling') return assigner.size;
  let a = assigner.size;
  let b = assigner.slide;
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * The key selector of a pre-aggregated edge, for a partial: the writer passes every record's key
 * itself, so it never runs there; a window merging partials runs it only for a record that
 * arrives without its key (the operator test harness).
 */
export function partialKey(value: unknown): Key {
  return (value as LocalAggregationPartial)[0];
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
 * Each record is folded into a partial accumulator per key and pane (see
 * {@link LocalAggregationRecord}): with sliding windows a record is in `size / slide` windows
 * but in one pane, so a key seen once in a batch costs one partial, as much as the record
 * itself, and never more. The partials go out, in the order their first records came,
 * before anything else leaves the writer: at the end of each task step (`flushOlderThan`), and
 * before a watermark, a watermark status, a barrier or end of input. So nothing is held across
 * a checkpoint (there is no state), and every record reaches the window operator before the
 * watermark that followed it, as without local aggregation.
 *
 * A record is folded only when all its windows end after the last watermark this writer
 * passed on. The window operator's watermark is never ahead of that one (it is the minimum over
 * its inputs, this channel included), so a folded record's windows are neither late nor due to
 * fire at once when its partial arrives: a window fires once per partial exactly where it would
 * have fired once for its records (a pane's windows are its records' windows). Any other
 * record (its window already due: late data within the allowed lateness, or too late) passes
 * through whole, after the partials before it, and the window operator treats it as it always
 * did: it fires the window per record, drops and counts it. After this channel has gone idle the
 * window operator's watermark may run ahead of it, so from then on every record passes through
 * whole. So do the records of the steps after one in which folding saved little (see
 * {@link PASS_THROUGH_STEPS}): with keys that rarely repeat within a step, a record costs what it
 * costs without local aggregation.
 *
 * Shaped for speed: one Map lookup per record (the key), the panes of a key chained by index;
 * nothing is allocated per record beyond a new (key, pane)'s partial, which is what is sent.
 */
export class LocalWindowAggregatingWriter extends RecordWriter {
  readonly #keySelector: (value: unknown) => Key;
  readonly #size: number;
  readonly #slide: number;
  readonly #offset: number;
  readonly #pane: number;
  readonly #reduce: ReduceFunction<unknown> | undefined;
  readonly #aggregate: AggregateFunction<unknown, unknown, unknown> | undefined;
  /** The partials of this batch, in the order of their first records: `[key, paneStart, accumulator, records]`. */
  readonly #partials: LocalAggregationPartial[] = [];
  /** For each partial, the index of the same key's partial created before it, or -1. */
  readonly #previousOfKey: number[] = [];
  /** Each key's newest partial in {@link #partials}. */
  readonly #newestOfKey = new Map<Key, number>();
  /** The last watermark passed on: a record with a window ending at or before it passes whole. */
  #watermark = Number.NEGATIVE_INFINITY;
  /** Set once the channel went idle: records pass whole from then on. */
  #passThrough = false;
  /** Steps left in which records pass whole because folding saved little (adaptive pass-through). */
  #passThroughSteps = 0;
  /** Records folded and partials made in this step, for the adaptive pass-through. */
  #foldedInStep = 0;
  #partialsInStep = 0;
  readonly #assigner: TumblingWindowAssigner | SlidingWindowAssigner;

  constructor(
    senders: readonly ChannelSender[],
    options: Omit<RecordWriterOptions, 'keySelector' | 'partitioner'>,
    clock: () => number,
    spec: LocalAggregationSpec,
  ) {
    super(senders, { ...options, partitioner: 'hash', keySelector: partialKey }, clock);
    this.#keySelector = spec.keySelector;
    const assigner = spec.assigner;
    this.#assigner = assigner;
    this.#size = assigner.size;
    this.#slide = assigner.kind === 'sliding' ? assigner.slide : assigner.size;
    this.#offset = assigner.offset;
    this.#pane = paneSize(assigner);
    this.#reduce = spec.fn.kind === 'reduce' ? spec.fn.reduce : undefined;
    this.#aggregate = spec.fn.kind === 'aggregate' ? spec.fn.aggregate : undefined;
    this.keyingFunction = 'key selector';
  }

  override emit(value: unknown, timestamp: number): void {
    this.keying = value;
    this.keyingFunction = 'key selector';
    const key = this.#keySelector(value);
    if (!Number.isFinite(timestamp)) {
      // A record passed whole must have a timestamp (that is how the window tells it from a
      // partial): the assigner's error, as the window would throw it.
      this.keyingFunction = 'window assigner';
      this.#assigner.assignWindows(timestamp);
    }
    const size = this.#size;
    const slide = this.#slide;
    // As the window operator (Flink's assigners): the latest window start at or before the
    // time, then one slide back at a time while the window still holds it.
    const latest = getWindowStartWithOffset(timestamp, this.#offset, slide);
    let earliest = latest;
    while (earliest - slide > timestamp - size) earliest -= slide;
    // A slide longer than the size leaves gaps: a record in none passes whole, to be dropped.
    if (
      this.#passThrough ||
      this.#passThroughSteps > 0 ||
      earliest + size - 1 <= this.#watermark ||
      latest <= timestamp - size
    ) {
      this.keying = NOT_KEYING;
      this.#emitPartials();
      this.emitWithKey(value, timestamp, key);
      return;
    }
    this.keyingFunction = this.#reduce === undefined ? 'aggregate function' : 'reduce function';
    const pane = this.#pane;
    // A pane is the slide when the size is a multiple of it (the common case): no second `%`.
    const paneStart = pane === slide ? latest : getWindowStartWithOffset(timestamp, this.#offset, pane);
    const partials = this.#partials;
    const newest = this.#newestOfKey.get(key) ?? -1;
    let index = newest;
    while (index !== -1 && partials[index]![1] !== paneStart) index = this.#previousOfKey[index]!;
    const aggregate = this.#aggregate;
    if (index === -1) {
      const accumulator =
        aggregate === undefined ? value : aggregate.add(value, aggregate.createAccumulator());
      this.#previousOfKey.push(newest);
      this.#newestOfKey.set(key, partials.length);
      partials.push([key, paneStart, accumulator, 1]);
      this.#partialsInStep++;
    } else {
      const partial = partials[index]!;
      partial[2] =
        aggregate === undefined ? this.#reduce!(partial[2], value) : aggregate.add(value, partial[2]);
      partial[3]++;
    }
    this.#foldedInStep++;
    this.keying = NOT_KEYING;
  }

  /** Sends this batch's partials and starts the next batch. */
  #emitPartials(): void {
    const partials = this.#partials;
    if (partials.length === 0) return;
    for (let i = 0; i < partials.length; i++) {
      const partial = partials[i]!;
      this.emitWithKey(partial, NO_TIMESTAMP, partial[0]);
    }
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
    if (this.#passThroughSteps > 0) this.#passThroughSteps--;
    else if (this.#foldedInStep >= FOLD_CHECK_RECORDS && this.#partialsInStep * 2 > this.#foldedInStep) {
      this.#passThroughSteps = PASS_THROUGH_STEPS;
    }
    this.#foldedInStep = 0;
    this.#partialsInStep = 0;
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
