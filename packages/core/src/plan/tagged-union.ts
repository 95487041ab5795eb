/**
 * How a two-input operation (a window join, a co-group, an interval join) runs on one-input
 * operators, as Flink's `CoGroupedStreams` does: each side's records are wrapped with the side
 * they came from, the two wrapped streams are unioned and partitioned by the join key, and the
 * operator reading the union unwraps them. The wrapper crosses threads, so it is plain data.
 */

export const LEFT = 0;
export const RIGHT = 1;
export type Side = typeof LEFT | typeof RIGHT;

/** A record of one side of a two-input operation. */
export interface TaggedRecord<V = unknown> {
  readonly side: Side;
  readonly value: V;
}
