import type { ProcessWindowFunction, ReduceFunction, WindowResultFunction } from '../contracts/functions.ts';
import type { OutputTag } from '../contracts/output-tag.ts';
import { type Evictor, validateEvictor } from '../contracts/window-evictor.ts';
import { type Trigger, validateTrigger } from '../contracts/window-trigger.ts';
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
  #trigger: Trigger<unknown> | undefined;
  #evictor: Evictor<unknown> | undefined;

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

  /**
   * Replaces the assigner's trigger (event-time windows: fire when the watermark passes their
   * end; processing-time: when the clock does; global: never). See `countTrigger`,
   * `purgingTrigger`, `eventTimeTrigger`, `processingTimeTrigger`, or write a {@link Trigger}.
   */
  trigger(trigger: Trigger<T>): this {
    validateTrigger(trigger, 'trigger');
    if (this.#assigner.isMerging && typeof trigger.onMerge !== 'function') {
      throw new ConfigError(
        `trigger: ${this.#assigner.describe()} merge windows, so the trigger needs an onMerge() method`,
      );
    }
    this.#trigger = trigger as Trigger<unknown>;
    return this;
  }

  /**
   * Removes elements from a window when it fires, before or after the window function
   * (`countEvictor`, `timeEvictor`, or your own {@link Evictor}). The window then keeps all its
   * elements, also with `reduce` and `aggregate`, which run over them at each firing.
   */
  evictor(evictor: Evictor<T>): this {
    validateEvictor(evictor, 'evictor');
    this.#evictor = evictor as Evictor<unknown>;
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

  /** E.g. `GlobalWindows, CountTrigger(3)`: the assigner, and the trigger and evictor when set. */
  #describe(): string {
    const parts = [this.#assigner.describe()];
    if (this.#trigger !== undefined) parts.push(this.#trigger.describe?.() ?? 'custom trigger');
    if (this.#evictor !== undefined) parts.push(this.#evictor.describe?.() ?? 'custom evictor');
    return parts.join(', ');
  }

  #build<O>(fn: WindowFunctionSpec): SingleOutputStream<O> {
    const assigner = this.#assigner;
    const lateTag = this.#lateDataTag?.id;
    const stream = this.#input.keyedTransform<O>(
      'window',
      {
        kind: 'window',
        assigner,
        fn,
        allowedLatenessMs: this.#allowedLatenessMs,
        lateTag,
        trigger: this.#trigger,
        evictor: this.#evictor,
      },
      {
        name: `window(${this.#describe()})`,
        emitsTimestamps: true,
        requiresTimestamps: assigner.isEventTime ? `event-time ${assigner.describe()} windows` : undefined,
      },
    );
    if (lateTag !== undefined) stream.node.sideOutputs.add(lateTag);
    return stream;
  }
}
