import type { Collector, RuntimeContext } from './functions.ts';
import type { OutputTag } from './output-tag.ts';

/** Turns one pair of joined records (same key, same window) into one output record. */
export type JoinFunction<L, R, O> = (left: L, right: R) => O;

/**
 * Turns one pair of joined records into any number of output records: emit them through `out`,
 * or return an iterable of them (as with `flatMap`).
 */
export type FlatJoinFunction<L, R, O> = (left: L, right: R, out: Collector<O>) => FlatJoinResult<O>;

/** What a FlatJoinFunction returns: the records, or nothing when it emitted them through `out`. */
// biome-ignore lint/suspicious/noConfusingVoidType: a collector-style function returns nothing (void), a returning one an iterable.
export type FlatJoinResult<O> = Iterable<O> | undefined | void;

/**
 * Sees all records of both sides that share a key and a window, when the window fires. One side
 * may be empty (the key had records on the other side only); never both.
 */
export type CoGroupFunction<L, R, O> = (left: readonly L[], right: readonly R[], out: Collector<O>) => void;

/** What a ProcessJoinFunction learns about the pair it is given. */
export interface ProcessJoinContext {
  /** The left record's event timestamp (ms). */
  readonly leftTimestamp: number;
  /** The right record's event timestamp (ms). */
  readonly rightTimestamp: number;
  /** The output's timestamp: the larger of the two. */
  readonly timestamp: number;
  output<X>(tag: OutputTag<X>, value: X): void;
}

/** Called once per joined pair of an interval join; emits any number of records through `out`. */
export interface ProcessJoinFunction<L, R, O> {
  open?(context: RuntimeContext): void;
  processElement(left: L, right: R, ctx: ProcessJoinContext, out: Collector<O>): void;
  close?(): void;
}
