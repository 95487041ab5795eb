import type { BatchKeys } from '../../channels/batch-keys.ts';
import type {
  CoFlatMapFunction,
  CoMapFunction,
  CoProcessFunction,
  KeyedCoProcessFunction,
} from '../../contracts/co-functions.ts';
import type { Collector, KeyedStateAccess, RuntimeContext } from '../../contracts/functions.ts';
import type { StateDescriptor } from '../../state/descriptors.ts';
import { assignToKeyGroup, type Key } from '../../state/key-groups.ts';
import { AbstractStreamOperator } from '../operator.ts';
import { AbstractKeyedOperator } from './keyed.ts';
import { type KeyedContextHost, KeyedContextImpl } from './keyed-process.ts';
import { type ContextHost, FunctionContext } from './process.ts';

/*
 * Two-input operators (Flink's CoStreamMap, CoStreamFlatMap, CoProcessOperator and
 * KeyedCoProcessOperator). The task hands `processElement` the first input's batches and
 * `processElement2` the second's; watermarks and barriers arrive already combined over both
 * inputs by the input gate, so these operators handle them as one-input operators do.
 */

export class CoMapOperator extends AbstractStreamOperator<unknown, unknown> {
  readonly #fn: CoMapFunction<unknown, unknown, unknown>;

  constructor(fn: CoMapFunction<unknown, unknown, unknown>) {
    super();
    this.#fn = fn;
  }

  processElement(value: unknown, timestamp: number): void {
    this.output.collect(this.#fn.map1(value), timestamp);
  }

  processElement2(value: unknown, timestamp: number): void {
    this.output.collect(this.#fn.map2(value), timestamp);
  }
}

/** One collector object for every record, as FlatMapOperator: only the timestamp changes. */
export class CoFlatMapOperator
  extends AbstractStreamOperator<unknown, unknown>
  implements Collector<unknown>
{
  readonly #fn: CoFlatMapFunction<unknown, unknown, unknown>;
  #timestamp = Number.NaN;

  constructor(fn: CoFlatMapFunction<unknown, unknown, unknown>) {
    super();
    this.#fn = fn;
  }

  collect(value: unknown): void {
    this.output.collect(value, this.#timestamp);
  }

  processElement(value: unknown, timestamp: number): void {
    this.#timestamp = timestamp;
    this.#emitAll(this.#fn.flatMap1(value, this), timestamp);
  }

  processElement2(value: unknown, timestamp: number): void {
    this.#timestamp = timestamp;
    this.#emitAll(this.#fn.flatMap2(value, this), timestamp);
  }

  #emitAll(result: unknown, timestamp: number): void {
    if (result !== undefined && result !== null) {
      for (const item of result as Iterable<unknown>) this.output.collect(item, timestamp);
    }
  }
}

/** Base of the non-keyed two-input operators that hand their function a context. */
export abstract class ContextOperator
  extends AbstractStreamOperator<unknown, unknown>
  implements ContextHost
{
  get watermark(): number {
    return this.currentWatermark;
  }
  now(): number {
    return this.clock();
  }
  emit(value: unknown, timestamp: number): void {
    this.output.collect(value, timestamp);
  }
  emitSide(tag: string, value: unknown, timestamp: number): void {
    this.output.collectSide(tag, value, timestamp);
  }
  abstract processElement2(value: unknown, timestamp: number): void;
}

export class CoProcessOperator extends ContextOperator {
  readonly #fn: CoProcessFunction<unknown, unknown, unknown>;
  readonly #context = new FunctionContext(this);

  constructor(fn: CoProcessFunction<unknown, unknown, unknown>) {
    super();
    this.#fn = fn;
  }

  override open(): void {
    this.#fn.open?.({ ...this.runtime });
  }

  processElement(value: unknown, timestamp: number): void {
    this.#context.rawTimestamp = timestamp;
    this.#fn.processElement1(value, this.#context, this.#context);
  }

  processElement2(value: unknown, timestamp: number): void {
    this.#context.rawTimestamp = timestamp;
    this.#fn.processElement2(value, this.#context, this.#context);
  }

  override close(): void {
    this.#fn.close?.();
  }
}

/**
 * Base of the keyed two-input operators: the keyed-context plumbing a KeyedProcessOperator has,
 * and the state names the function has used (a broadcast side visits every key of them).
 */
export abstract class KeyedContextOperator
  extends AbstractKeyedOperator<unknown, unknown>
  implements KeyedContextHost
{
  /** The names of the keyed states the function asked for, in `open` or on a record. */
  protected readonly usedStateNames = new Set<string>();

  get watermark(): number {
    return this.currentWatermark;
  }
  now(): number {
    return this.clock();
  }
  emit(value: unknown, timestamp: number): void {
    this.output.collect(value, timestamp);
  }
  emitSide(tag: string, value: unknown, timestamp: number): void {
    this.output.collectSide(tag, value, timestamp);
  }
  state(descriptor: StateDescriptor): unknown {
    const state = this.backend.getState(descriptor as never);
    this.usedStateNames.add(descriptor.name);
    return state;
  }
  get timerServiceInternal() {
    return this.timers;
  }
  get currentKey(): Key {
    return this.backend.currentKey;
  }

  /** The context `open` gets: where it runs, and keyed state (to register, not to use without a key). */
  protected openContext(): RuntimeContext & KeyedStateAccess {
    const runtime = this.runtime;
    return {
      jobName: runtime.jobName,
      operatorId: runtime.operatorId,
      subtaskIndex: runtime.subtaskIndex,
      parallelism: runtime.parallelism,
      maxParallelism: runtime.maxParallelism,
      logger: runtime.logger,
      getState: ((descriptor: StateDescriptor) => this.state(descriptor)) as KeyedStateAccess['getState'],
    };
  }

  abstract processElement2(value: unknown, timestamp: number): void;
}

/** Both inputs keyed: one backend and one timer service, shared; each input has its own key selector. */
export class KeyedCoProcessOperator extends KeyedContextOperator {
  readonly #fn: KeyedCoProcessFunction<Key, unknown, unknown, unknown>;
  readonly #context = new KeyedContextImpl(this);
  readonly #keySelector2: (value: unknown) => Key;

  constructor(
    fn: KeyedCoProcessFunction<Key, unknown, unknown, unknown>,
    keySelector1: (value: unknown) => Key,
    keySelector2: (value: unknown) => Key,
  ) {
    super(keySelector1);
    this.#fn = fn;
    this.#keySelector2 = keySelector2;
  }

  override open(): void {
    this.#fn.open?.(this.openContext());
  }

  processKeyedElement(value: unknown, timestamp: number, key: Key, keyGroup: number): void {
    this.backend.setCurrentKey(key, keyGroup);
    this.#context.rawTimestamp = timestamp;
    this.#context.timeDomain = 'event-time';
    this.#fn.processElement1(value, this.#context, this.#context);
  }

  /** A record of the second input without its key (the operator test harness): selected here. */
  processElement2(value: unknown, timestamp: number): void {
    const key = this.#keySelector2(value);
    this.processKeyedElement2(value, timestamp, key, assignToKeyGroup(key, this.backend.maxParallelism));
  }

  /** A record of the second input with the key its sender computed with the second selector. */
  processKeyedElement2(value: unknown, timestamp: number, key: Key, keyGroup: number): void {
    this.backend.setCurrentKey(key, keyGroup);
    this.#context.rawTimestamp = timestamp;
    this.#context.timeDomain = 'event-time';
    this.#fn.processElement2(value, this.#context, this.#context);
  }

  /** The second input's batches are keyed by its own selector (carried, or selected here). */
  override prefetch(
    values: readonly unknown[],
    batchKeys: BatchKeys | null,
    input = 0,
  ): Promise<void> | undefined {
    if (input === 0 || batchKeys !== null) return super.prefetch(values, batchKeys);
    const backend = this.backend;
    if (backend.prefetch === undefined) return undefined;
    const keys: Array<[Key, number]> = [];
    for (let i = 0; i < values.length; i++) {
      const key = this.#keySelector2(values[i]);
      keys.push([key, assignToKeyGroup(key, backend.maxParallelism)]);
    }
    return backend.prefetch(keys);
  }

  protected onEventTime(_key: Key, _namespace: string, timestamp: number): void {
    this.#fire(timestamp, 'event-time');
  }

  protected onProcessingTime(_key: Key, _namespace: string, timestamp: number): void {
    this.#fire(timestamp, 'processing-time');
  }

  #fire(timestamp: number, domain: 'event-time' | 'processing-time'): void {
    if (this.#fn.onTimer === undefined) return;
    this.#context.rawTimestamp = timestamp;
    this.#context.timeDomain = domain;
    this.#fn.onTimer(timestamp, this.#context, this.#context);
  }

  override close(): void {
    this.#fn.close?.();
  }
}
