import type { Collector, ProcessContext, ProcessFunction, TimerService } from '../../contracts/functions.ts';
import type { OutputTag } from '../../contracts/output-tag.ts';
import type { ListState } from '../../state/state.ts';
import {
  AbstractStreamOperator,
  type OperatorStateSnapshot,
  type RestoredOperatorState,
  userTimestamp,
} from '../operator.ts';

/** Runs a ProcessFunction; one context object serves every record (no allocation per record). */
export class ProcessOperator extends AbstractStreamOperator<unknown, unknown> {
  readonly #fn: ProcessFunction<unknown, unknown>;
  readonly #context = new ProcessFunctionContext(this);

  constructor(fn: ProcessFunction<unknown, unknown>) {
    super();
    this.#fn = fn;
  }

  /** @internal */ get watermark(): number {
    return this.currentWatermark;
  }
  /** @internal */ now(): number {
    return this.clock();
  }
  /** @internal */ emit(value: unknown, timestamp: number): void {
    this.output.collect(value, timestamp);
  }
  /** @internal */ emitSide(tag: string, value: unknown, timestamp: number): void {
    this.output.collectSide(tag, value, timestamp);
  }

  override open(): void {
    this.#fn.open?.({
      ...this.runtime,
      getListState: <T>(name: string) => this.#listState<T>(name),
    });
  }

  readonly #lists = new Map<string, unknown[]>();

  #listState<T>(name: string): ListState<T> {
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError('getListState: expected a non-empty name');
    let items = this.#lists.get(name);
    if (items === undefined) {
      items = [];
      this.#lists.set(name, items);
    }
    const lists = this.#lists;
    return {
      get: () => [...(lists.get(name) as T[])],
      add: (value: T) => {
        (lists.get(name) as T[]).push(value);
      },
      addAll: (values: readonly T[]) => {
        (lists.get(name) as T[]).push(...values);
      },
      update: (values: readonly T[]) => {
        lists.set(name, [...values]);
      },
      clear: () => {
        lists.set(name, []);
      },
    };
  }

  /** Every item of every list, tagged with its list's name; dealt round-robin on restore. */
  snapshotState(): OperatorStateSnapshot | undefined {
    const items: Array<[string, unknown]> = [];
    for (const [name, list] of this.#lists) for (const item of list) items.push([name, item]);
    return items.length === 0 ? undefined : { operatorState: items };
  }

  restoreState(state: RestoredOperatorState): void {
    for (const [name, item] of state.operatorState as Array<[string, unknown]>) {
      const list = this.#lists.get(name) ?? [];
      list.push(item);
      this.#lists.set(name, list);
    }
  }

  processElement(value: unknown, timestamp: number): void {
    this.#context.rawTimestamp = timestamp;
    this.#fn.processElement(value, this.#context, this.#context);
  }

  override close(): void {
    this.#fn.close?.();
  }
}

/** What a non-keyed context reads from its operator. */
export interface ContextHost {
  readonly watermark: number;
  now(): number;
  emit(value: unknown, timestamp: number): void;
  emitSide(tag: string, value: unknown, timestamp: number): void;
}

/**
 * The context of non-keyed functions (process, co-process, broadcast): one object per operator,
 * reused for every record.
 */
export class FunctionContext implements ProcessContext, Collector<unknown>, TimerService {
  rawTimestamp = Number.NaN;
  readonly #operator: ContextHost;

  constructor(operator: ContextHost) {
    this.#operator = operator;
  }

  get timestamp(): number | undefined {
    return userTimestamp(this.rawTimestamp);
  }

  get timerService(): TimerService {
    return this;
  }

  currentWatermark(): number {
    return this.#operator.watermark;
  }

  currentProcessingTime(): number {
    return this.#operator.now();
  }

  output<X>(tag: OutputTag<X>, value: X): void {
    this.#operator.emitSide(tag.id, value, this.rawTimestamp);
  }

  collect(value: unknown): void {
    this.#operator.emit(value, this.rawTimestamp);
  }
}

/** A ProcessFunction's context. */
class ProcessFunctionContext extends FunctionContext {
  // Not in the types: what a KeyedProcessFunction would call, reached from plain JavaScript or
  // through a cast. Fail with the fix instead of "is not a function".
  getState(): never {
    throw notKeyed('keyed state');
  }
  registerEventTimeTimer(): never {
    throw notKeyed('timers');
  }
  registerProcessingTimeTimer(): never {
    throw notKeyed('timers');
  }
}

function notKeyed(what: string): Error {
  return new TypeError(`${what} need a keyed stream: call keyBy(...) before process(...)`);
}
