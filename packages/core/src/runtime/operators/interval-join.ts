import type { Collector, RuntimeContext } from '../../contracts/functions.ts';
import type { ProcessJoinContext, ProcessJoinFunction } from '../../contracts/join-functions.ts';
import type { OutputTag } from '../../contracts/output-tag.ts';
import { SluiceError } from '../../errors.ts';
import type { IntervalJoinBounds } from '../../plan/stream-node.ts';
import { LEFT, RIGHT, type Side, type TaggedRecord } from '../../plan/tagged-union.ts';
import { mapState } from '../../state/descriptors.ts';
import type { Key } from '../../state/key-groups.ts';
import type { InternalMapState } from '../../state/state.ts';
import { AbstractKeyedOperator } from './keyed.ts';

/**
 * The interval join (Flink's `IntervalJoinOperator`). A left record `l` and a right record `r`
 * with the same key join when
 *
 *     l.ts + lower <= r.ts <= l.ts + upper        (either bound may be exclusive)
 *
 * Both sides are buffered in keyed state, per key and timestamp (a map from timestamp to the
 * records with it), so that each record meets every record of the other side that came before
 * it; those that come after meet it in their turn. A record whose timestamp is below the
 * watermark is late: it goes to its side's late side output if one is set, else it is dropped
 * and counted (`lateRecordsDropped`), as in Flink.
 *
 * Cleanup. A buffered timestamp is removed by an event-time timer once no record that is not
 * late (timestamp >= watermark) could still join it. Flink removes it when the watermark reaches
 * the last joinable timestamp, which loses the pairs whose other record arrives with a timestamp
 * equal to the watermark (not late, yet its partner is gone). Here the removal waits until the
 * watermark is past it (`isDead` is the exact condition, checked when the timer fires; the timer
 * is re-armed for the next watermark if it is not yet met), so the output is exactly the
 * nested-loop join of the records that were not late, whatever the order of arrival.
 *
 * Each timer's namespace names the side and the buffered timestamp (`L1700000000000`), so the
 * timer finds its bucket without inverting the bound arithmetic.
 */

/** A record reached an interval join without an event timestamp. */
export class IntervalJoinTimestampError extends SluiceError {
  constructor(side: 'left' | 'right') {
    super(
      'SLUICE_INTERVAL_JOIN_NO_TIMESTAMP',
      `interval join: a ${side} record has no event timestamp; both inputs of an interval join need timestamps (assignTimestamps(...) upstream)`,
    );
  }
}

const LEFT_BUFFER = mapState<number, unknown[]>('interval-join-left');
const RIGHT_BUFFER = mapState<number, unknown[]>('interval-join-right');
const NAMESPACE_PREFIX = ['L', 'R'] as const;

/** Whether `rightTs` falls in the interval of a left record at `leftTs`. */
export function inInterval(leftTs: number, rightTs: number, bounds: IntervalJoinBounds): boolean {
  const low = leftTs + bounds.lowerMs;
  const high = leftTs + bounds.upperMs;
  return (
    (bounds.lowerInclusive ? rightTs >= low : rightTs > low) &&
    (bounds.upperInclusive ? rightTs <= high : rightTs < high)
  );
}

/**
 * Whether records of `side` at `timestamp` can no longer join any record that is not late at
 * `watermark` (every other-side timestamp >= watermark is out of their interval). Float sums
 * are monotonic, so the nearest other-side timestamp, the watermark itself, decides.
 */
export function isDead(
  side: Side,
  timestamp: number,
  watermark: number,
  bounds: IntervalJoinBounds,
): boolean {
  if (side === LEFT) {
    const high = timestamp + bounds.upperMs;
    return bounds.upperInclusive ? watermark > high : watermark >= high;
  }
  const low = watermark + bounds.lowerMs;
  return bounds.lowerInclusive ? low > timestamp : low >= timestamp;
}

const float = new Float64Array(1);
const bits = new BigInt64Array(float.buffer);

/** The smallest double above `x`: a timer there fires at the first watermark strictly above `x`. */
export function nextUp(x: number): number {
  if (Number.isNaN(x) || x === Number.POSITIVE_INFINITY) return x;
  if (x === 0) return Number.MIN_VALUE;
  float[0] = x;
  // For a negative double, a smaller magnitude (bits - 1) is a larger value.
  bits[0] = bits[0]! + (x > 0 ? 1n : -1n);
  return float[0]!;
}

export class IntervalJoinOperator extends AbstractKeyedOperator<TaggedRecord, unknown> {
  readonly #fn: ProcessJoinFunction<unknown, unknown, unknown>;
  readonly #bounds: IntervalJoinBounds;
  readonly #context: JoinContext;
  /** Per side, the side output its late records go to (undefined: dropped and counted). */
  readonly #lateTags: readonly [string | undefined, string | undefined];
  #buffers!: readonly [InternalMapState<number, unknown[]>, InternalMapState<number, unknown[]>];

  constructor(
    fn: ProcessJoinFunction<unknown, unknown, unknown>,
    bounds: IntervalJoinBounds,
    keySelector: (value: unknown) => Key,
    lateTags: readonly [string | undefined, string | undefined] = [undefined, undefined],
  ) {
    super(keySelector);
    this.#fn = fn;
    this.#bounds = bounds;
    this.#lateTags = lateTags;
    this.#context = new JoinContext(this);
  }

  override open(): void {
    this.#buffers = [this.backend.getState(LEFT_BUFFER), this.backend.getState(RIGHT_BUFFER)];
    if (this.#fn.open === undefined) return;
    const runtime = this.runtime;
    const context: RuntimeContext = {
      jobName: runtime.jobName,
      operatorId: runtime.operatorId,
      subtaskIndex: runtime.subtaskIndex,
      parallelism: runtime.parallelism,
      maxParallelism: runtime.maxParallelism,
      logger: runtime.logger,
    };
    this.#fn.open(context);
  }

  processKeyedElement(record: TaggedRecord, timestamp: number, key: Key, keyGroup: number): void {
    const side = record.side;
    if (Number.isNaN(timestamp)) throw new IntervalJoinTimestampError(side === LEFT ? 'left' : 'right');
    if (timestamp < this.currentWatermark) {
      const lateTag = this.#lateTags[side];
      if (lateTag === undefined) this.metrics.countLateRecordDropped();
      else this.output.collectSide(lateTag, record.value, timestamp);
      return;
    }
    this.backend.setCurrentKey(key, keyGroup);
    // -0 and 0 are one bucket (and one timer namespace: String(-0) is '0').
    const ts = timestamp === 0 ? 0 : timestamp;
    const bounds = this.#bounds;
    const value = record.value;
    const other = this.#buffers[side === LEFT ? RIGHT : LEFT];
    for (const [otherTs, values] of other.entries()) {
      if (side === LEFT) {
        if (!inInterval(ts, otherTs, bounds)) continue;
        for (const right of values) this.#join(value, right, ts, otherTs);
      } else {
        if (!inInterval(otherTs, ts, bounds)) continue;
        for (const left of values) this.#join(left, value, otherTs, ts);
      }
    }
    // With a negative upper (or positive lower) bound a record may already be past joining anything later.
    if (isDead(side, ts, this.currentWatermark, bounds)) return;
    const ours = this.#buffers[side];
    const bucket = ours.get(ts);
    if (bucket === undefined) {
      ours.put(ts, [value]);
      const estimate = side === LEFT ? ts + bounds.upperMs : ts - bounds.lowerMs;
      this.timers.registerEventTimeTimer(
        this.backend.currentKey,
        NAMESPACE_PREFIX[side] + String(ts),
        estimate,
      );
    } else {
      bucket.push(value);
      // Written back: a serialising backend (LevelDB) does not see changes to a value read from it.
      ours.put(ts, bucket);
    }
  }

  #join(left: unknown, right: unknown, leftTs: number, rightTs: number): void {
    const context = this.#context;
    context.leftTimestamp = leftTs;
    context.rightTimestamp = rightTs;
    context.timestamp = Math.max(leftTs, rightTs);
    this.#fn.processElement(left, right, context, context);
  }

  protected onEventTime(key: Key, namespace: string, _timestamp: number): void {
    const side: Side = namespace.charCodeAt(0) === 76 /* 'L' */ ? LEFT : RIGHT;
    const ts = Number(namespace.slice(1));
    const watermark = this.currentWatermark;
    if (isDead(side, ts, watermark, this.#bounds)) {
      this.#buffers[side].remove(ts);
      return;
    }
    // The estimate was reached but not passed: look again at the next watermark.
    this.timers.registerEventTimeTimer(key, namespace, nextUp(watermark));
  }

  protected onProcessingTime(): void {
    // The interval join registers no processing-time timers.
  }

  /** @internal */ emit(value: unknown, timestamp: number): void {
    this.output.collect(value, timestamp);
  }
  /** @internal */ emitSide(tag: string, value: unknown, timestamp: number): void {
    this.output.collectSide(tag, value, timestamp);
  }

  override close(): void {
    this.#fn.close?.();
  }
}

/** One object for every pair: the function's context and collector, its timestamps set before each call. */
class JoinContext implements ProcessJoinContext, Collector<unknown> {
  leftTimestamp = Number.NaN;
  rightTimestamp = Number.NaN;
  timestamp = Number.NaN;
  readonly #operator: IntervalJoinOperator;

  constructor(operator: IntervalJoinOperator) {
    this.#operator = operator;
  }

  collect(value: unknown): void {
    this.#operator.emit(value, this.timestamp);
  }

  output<X>(tag: OutputTag<X>, value: X): void {
    this.#operator.emitSide(tag.id, value, this.timestamp);
  }
}
