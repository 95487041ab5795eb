import type { KeySelector } from '../contracts/functions.ts';
import { ConfigError } from '../errors.ts';
import { LEFT, RIGHT, type TaggedRecord } from '../plan/tagged-union.ts';
import type { Key } from '../state/key-groups.ts';
import type { DataStream, KeyedStream } from './data-stream.ts';

/**
 * The two sides of a join as one keyed stream (see `plan/tagged-union.ts`): each side's records
 * wrapped with their side, unioned, and partitioned by the side's key selector, so that equal
 * keys of both sides meet in the same subtask. Flink's `CoGroupedStreams` does the same.
 */
export function keyedUnion<L, R, K extends Key>(
  operation: string,
  left: DataStream<L>,
  right: DataStream<R>,
  leftKey: KeySelector<L, K>,
  rightKey: KeySelector<R, K>,
): KeyedStream<K, TaggedRecord<L | R>> {
  requireStreamOfJob(left, right, operation);
  const taggedLeft = left
    .map((value): TaggedRecord<L | R> => ({ side: LEFT, value }))
    .name(`${operation}: left side`);
  const taggedRight = right
    .map((value): TaggedRecord<L | R> => ({ side: RIGHT, value }))
    .name(`${operation}: right side`);
  return taggedLeft
    .union(taggedRight)
    .keyBy((record): K => (record.side === LEFT ? leftKey(record.value as L) : rightKey(record.value as R)));
}

export function requireKeySelector(value: unknown, operation: string): void {
  if (typeof value !== 'function') {
    throw new ConfigError(
      `${operation}: expected a key selector function, got ${value === null ? 'null' : typeof value}`,
    );
  }
}

export function requireStreamOfJob(left: { readonly env: object }, right: unknown, operation: string): void {
  if (
    right === null ||
    typeof right !== 'object' ||
    !('env' in right) ||
    (right as { readonly env: object }).env !== left.env
  ) {
    throw new ConfigError(`${operation}: the other stream must be a DataStream of the same job`);
  }
}
