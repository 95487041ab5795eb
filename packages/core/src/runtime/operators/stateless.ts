import type { Collector, FilterFunction, FlatMapFunction, MapFunction } from '../../contracts/functions.ts';
import { AbstractStreamOperator } from '../operator.ts';

export class MapOperator extends AbstractStreamOperator<unknown, unknown> {
  readonly #fn: MapFunction<unknown, unknown>;

  constructor(fn: MapFunction<unknown, unknown>) {
    super();
    this.#fn = fn;
  }

  processElement(value: unknown, timestamp: number): void {
    this.output.collect(this.#fn(value), timestamp);
  }
}

export class FilterOperator extends AbstractStreamOperator<unknown, unknown> {
  readonly #fn: FilterFunction<unknown>;

  constructor(fn: FilterFunction<unknown>) {
    super();
    this.#fn = fn;
  }

  processElement(value: unknown, timestamp: number): void {
    if (this.#fn(value)) this.output.collect(value, timestamp);
  }
}

/**
 * The collector is one object reused for every record: it only needs the current timestamp,
 * which is set before each call instead of allocating a closure per record.
 */
export class FlatMapOperator extends AbstractStreamOperator<unknown, unknown> implements Collector<unknown> {
  readonly #fn: FlatMapFunction<unknown, unknown>;
  #timestamp = Number.NaN;

  constructor(fn: FlatMapFunction<unknown, unknown>) {
    super();
    this.#fn = fn;
  }

  collect(value: unknown): void {
    this.output.collect(value, this.#timestamp);
  }

  processElement(value: unknown, timestamp: number): void {
    this.#timestamp = timestamp;
    const result = this.#fn(value, this);
    if (result !== undefined && result !== null) {
      for (const item of result as Iterable<unknown>) this.output.collect(item, timestamp);
    }
  }
}
