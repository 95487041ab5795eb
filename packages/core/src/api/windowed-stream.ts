import type { ProcessWindowFunction, ReduceFunction, WindowResultFunction } from '../contracts/functions.ts';
import type { OutputTag } from '../contracts/output-tag.ts';
import { ConfigError } from '../errors.ts';
import type { WindowFunctionSpec } from '../plan/stream-node.ts';
import type { AggregateFunction } from '../state/descriptors.ts';
import type { Key } from '../state/key-groups.ts';
import type { WindowAssigner } from '../time/windows.ts';
import type { KeyedStream, SingleOutputStream } from './data-stream.ts';

/**
 * A keyed stream cut into windows. Choose how a window's records become output: `reduce` or
 * `aggregate` keep one accumulator per key and window; `process` sees all of a window's records.
 */
export class WindowedStream<K extends Key, T> {
  readonly #input: KeyedStream<K, T>;
  readonly #assigner: WindowAssigner;
  #allowedLatenessMs = 0;
  #lateDataTag: OutputTag<T> | undefined;

  /** @internal */
  constructor(input: KeyedStream<K, T>, assigner: WindowAssigner) {
    this.#input = input;
    this.#assigner = assigner;
  }

  /**
   * Keeps a window's state for `lateness` ms past its end: records that arrive within it
   * update and re-fire the window; later ones are late (dropped and counted, or sent to the
   * side output set with `sideOutputLateData`).
   */
  allowedLateness(latenessMs: number): this {
    if (!Number.isFinite(latenessMs) || latenessMs < 0) {
      throw new ConfigError(`allowedLateness: expected a finite number of ms >= 0, got ${latenessMs}`);
    }
    if (!this.#assigner.isEventTime && latenessMs > 0) {
      throw new ConfigError('allowedLateness: only event-time windows can have allowed lateness');
    }
    this.#allowedLatenessMs = latenessMs;
    return this;
  }

  /** Sends records that arrive after their window (and its allowed lateness) to `tag`. */
  sideOutputLateData(tag: OutputTag<T>): this {
    this.#lateDataTag = tag;
    return this;
  }

  /** Folds each window's records with `reduce`; `result` may turn the reduction into the output. */
  reduce(reduce: ReduceFunction<T>): SingleOutputStream<T>;
  reduce<O>(reduce: ReduceFunction<T>, result: WindowResultFunction<T, O, K>): SingleOutputStream<O>;
  reduce<O>(reduce: ReduceFunction<T>, result?: WindowResultFunction<T, O, K>): SingleOutputStream<O | T> {
    if (typeof reduce !== 'function') throw new ConfigError('window reduce: expected a reduce function');
    return this.#build({
      kind: 'reduce',
      reduce: reduce as ReduceFunction<unknown>,
      result: result as never,
    });
  }

  /** Aggregates each window's records with an AggregateFunction (`count()`, `sum(...)`, your own). */
  aggregate<ACC, A>(aggregate: AggregateFunction<T, ACC, A>): SingleOutputStream<A>;
  aggregate<ACC, A, O>(
    aggregate: AggregateFunction<T, ACC, A>,
    result: WindowResultFunction<A, O, K>,
  ): SingleOutputStream<O>;
  aggregate<ACC, A, O>(
    aggregate: AggregateFunction<T, ACC, A>,
    result?: WindowResultFunction<A, O, K>,
  ): SingleOutputStream<A | O> {
    if (aggregate === null || typeof aggregate !== 'object' || typeof aggregate.add !== 'function') {
      throw new ConfigError('window aggregate: expected an AggregateFunction such as count()');
    }
    if (this.#assigner.isMerging && typeof aggregate.merge !== 'function') {
      throw new ConfigError(
        'window aggregate: session windows merge, so the AggregateFunction needs a merge() method',
      );
    }
    return this.#build({
      kind: 'aggregate',
      aggregate: aggregate as AggregateFunction<unknown, unknown, unknown>,
      result: result as never,
    });
  }

  /** Hands all of a window's records to a ProcessWindowFunction when the window fires. */
  process<O>(fn: ProcessWindowFunction<T, O, K>): SingleOutputStream<O> {
    if (fn === null || typeof fn !== 'object' || typeof fn.process !== 'function') {
      throw new ConfigError('window process: expected an object with a process() method');
    }
    return this.#build({
      kind: 'process',
      process: fn as unknown as ProcessWindowFunction<unknown, unknown, Key>,
    });
  }

  #build<O>(fn: WindowFunctionSpec): SingleOutputStream<O> {
    const assigner = this.#assigner;
    const lateTag = this.#lateDataTag?.id;
    const stream = this.#input.keyedTransform<O>(
      'window',
      { kind: 'window', assigner, fn, allowedLatenessMs: this.#allowedLatenessMs, lateTag },
      {
        name: `window(${assigner.describe()})`,
        emitsTimestamps: true,
        requiresTimestamps: assigner.isEventTime ? `event-time ${assigner.describe()} windows` : undefined,
      },
    );
    if (lateTag !== undefined) stream.node.sideOutputs.add(lateTag);
    return stream;
  }
}
