import type { AggregateFunction } from '../state/descriptors.ts';

/** Counts records. */
export function count<T = unknown>(): AggregateFunction<T, number, number> {
  return {
    createAccumulator: () => 0,
    add: (_value, acc) => acc + 1,
    getResult: (acc) => acc,
    merge: (a, b) => a + b,
  };
}

/** Sums a numeric field. */
export function sum<T>(field: (value: T) => number): AggregateFunction<T, number, number> {
  return {
    createAccumulator: () => 0,
    add: (value, acc) => acc + field(value),
    getResult: (acc) => acc,
    merge: (a, b) => a + b,
  };
}

/** The smallest value of a numeric field, or undefined for no records. */
export function min<T>(field: (value: T) => number): AggregateFunction<T, number, number | undefined> {
  return {
    createAccumulator: () => Number.POSITIVE_INFINITY,
    add: (value, acc) => Math.min(acc, field(value)),
    getResult: (acc) => (acc === Number.POSITIVE_INFINITY ? undefined : acc),
    merge: (a, b) => Math.min(a, b),
  };
}

/** The largest value of a numeric field, or undefined for no records. */
export function max<T>(field: (value: T) => number): AggregateFunction<T, number, number | undefined> {
  return {
    createAccumulator: () => Number.NEGATIVE_INFINITY,
    add: (value, acc) => Math.max(acc, field(value)),
    getResult: (acc) => (acc === Number.NEGATIVE_INFINITY ? undefined : acc),
    merge: (a, b) => Math.max(a, b),
  };
}

/** The mean of a numeric field, or undefined for no records. */
export function average<T>(
  field: (value: T) => number,
): AggregateFunction<T, [sum: number, count: number], number | undefined> {
  return {
    createAccumulator: () => [0, 0],
    add: (value, acc) => [acc[0] + field(value), acc[1] + 1],
    getResult: (acc) => (acc[1] === 0 ? undefined : acc[0] / acc[1]),
    merge: (a, b) => [a[0] + b[0], a[1] + b[1]],
  };
}
