import type { ProcessJoinFunction } from '../contracts/join-functions.ts';
import type { OutputTag } from '../contracts/output-tag.ts';
import { ConfigError } from '../errors.ts';
import type { IntervalJoinBounds } from '../plan/stream-node.ts';
import type { TaggedRecord } from '../plan/tagged-union.ts';
import type { Key } from '../state/key-groups.ts';
import type { KeyedStream, SingleOutputStream } from './data-stream.ts';
import { keyedUnion } from './keyed-union.ts';

/**
 * `left.intervalJoin(right)`, two keyed streams with the same key type: choose the interval with
 * `between`. Runs on a keyed union of the two sides (`keyedUnion`), so records of a key from
 * both sides meet in one subtask, where `IntervalJoinOperator` buffers and joins them.
 */
export class IntervalJoin<K extends Key, L, R> {
  readonly #left: KeyedStream<K, L>;
  readonly #right: KeyedStream<K, R>;

  /** @internal */
  constructor(left: KeyedStream<K, L>, right: KeyedStream<K, R>) {
    this.#left = left;
    this.#right = right;
  }

  /**
   * A left record at `t` joins the right records with the same key whose timestamps lie in
   * `[t + lowerMs, t + upperMs]` (bounds inclusive; see `lowerBoundExclusive`,
   * `upperBoundExclusive`). Negative bounds reach back in time: `between(-5_000, 0)` joins the
   * right records of the five seconds up to the left one.
   */
  between(lowerMs: number, upperMs: number): IntervalJoined<K, L, R> {
    for (const [name, value] of [
      ['lower', lowerMs],
      ['upper', upperMs],
    ] as const) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new ConfigError(
          `intervalJoin: between: the ${name} bound must be a finite number of ms, got ${String(value)}`,
        );
      }
    }
    if (lowerMs > upperMs) {
      throw new ConfigError(
        `intervalJoin: between: the lower bound (${lowerMs} ms) must not be above the upper bound (${upperMs} ms)`,
      );
    }
    return new IntervalJoined(this.#left, this.#right, lowerMs, upperMs);
  }
}

/** An interval join with its bounds, ready for its ProcessJoinFunction. */
export class IntervalJoined<K extends Key, L, R> {
  readonly #left: KeyedStream<K, L>;
  readonly #right: KeyedStream<K, R>;
  readonly #lowerMs: number;
  readonly #upperMs: number;
  #lowerInclusive = true;
  #upperInclusive = true;
  #leftLateTag: OutputTag<L> | undefined;
  #rightLateTag: OutputTag<R> | undefined;

  /** @internal */
  constructor(left: KeyedStream<K, L>, right: KeyedStream<K, R>, lowerMs: number, upperMs: number) {
    this.#left = left;
    this.#right = right;
    this.#lowerMs = lowerMs;
    this.#upperMs = upperMs;
  }

  /** A right record exactly at `t + lowerMs` does not join. */
  lowerBoundExclusive(): this {
    this.#lowerInclusive = false;
    return this;
  }

  /** A right record exactly at `t + upperMs` does not join. */
  upperBoundExclusive(): this {
    this.#upperInclusive = false;
    return this;
  }

  /** Sends left records that arrive below the watermark to `tag` instead of dropping them. */
  sideOutputLeftLateData(tag: OutputTag<L>): this {
    this.#leftLateTag = requireTag(tag, 'sideOutputLeftLateData');
    return this;
  }

  /** Sends right records that arrive below the watermark to `tag` instead of dropping them. */
  sideOutputRightLateData(tag: OutputTag<R>): this {
    this.#rightLateTag = requireTag(tag, 'sideOutputRightLateData');
    return this;
  }

  /**
   * Calls `fn` once per joined pair; what it emits carries the later of the two timestamps. Both
   * sides are kept in keyed state until the watermark passes the last time they could join;
   * records below the watermark when they arrive are late: sent to the late side outputs if
   * set, else dropped and counted.
   */
  process<O>(fn: ProcessJoinFunction<L, R, O>): SingleOutputStream<O> {
    if (fn === null || typeof fn !== 'object' || typeof fn.processElement !== 'function') {
      throw new ConfigError(
        'intervalJoin: process expects an object with a processElement(left, right, ctx, out) method',
      );
    }
    const bounds: IntervalJoinBounds = {
      lowerMs: this.#lowerMs,
      upperMs: this.#upperMs,
      lowerInclusive: this.#lowerInclusive,
      upperInclusive: this.#upperInclusive,
    };
    const sides = keyedUnion(
      'intervalJoin',
      this.#left,
      this.#right,
      this.#left.keySelector,
      this.#right.keySelector,
    );
    return intervalJoinOperator(sides, bounds, fn, this.#leftLateTag?.id, this.#rightLateTag?.id);
  }
}

/** @internal Adds the interval join operator to a keyed union of both sides (tests build it on their own union). */
export function intervalJoinOperator<K extends Key, L, R, O>(
  sides: KeyedStream<K, TaggedRecord<L | R>>,
  bounds: IntervalJoinBounds,
  fn: ProcessJoinFunction<L, R, O>,
  leftLateTag?: string,
  rightLateTag?: string,
): SingleOutputStream<O> {
  const interval = `${bounds.lowerInclusive ? '[' : '('}${bounds.lowerMs}, ${bounds.upperMs}${bounds.upperInclusive ? ']' : ')'}`;
  const stream = sides.keyedTransform<O>(
    'intervalJoin',
    {
      kind: 'intervalJoin',
      fn: fn as ProcessJoinFunction<unknown, unknown, unknown>,
      bounds,
      leftLateTag,
      rightLateTag,
    },
    {
      name: `intervalJoin${interval}`,
      emitsTimestamps: true,
      requiresTimestamps: 'an interval join (event time)',
    },
  );
  for (const tag of [leftLateTag, rightLateTag]) if (tag !== undefined) stream.node.sideOutputs.add(tag);
  return stream;
}

function requireTag<X>(tag: OutputTag<X>, operation: string): OutputTag<X> {
  if (tag === null || typeof tag !== 'object' || typeof tag.id !== 'string') {
    throw new ConfigError(`intervalJoin: ${operation} expects an output tag, such as outputTag<T>('late')`);
  }
  return tag;
}

/** Checks that `right` is a keyed stream of the same job as `left`. */
export function requireKeyedStream(left: KeyedStream<Key, unknown>, right: unknown): void {
  if (
    right === null ||
    typeof right !== 'object' ||
    typeof (right as KeyedStream<Key, unknown>).keySelector !== 'function' ||
    (right as KeyedStream<Key, unknown>).env !== left.env
  ) {
    throw new ConfigError(
      'intervalJoin: the other stream must be a keyed stream (keyBy(...)) of the same job',
    );
  }
}
