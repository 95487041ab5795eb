import type { Collector, ProcessContext, ProcessFunction, TimerService } from '../../api/functions.ts';
import type { OutputTag } from '../../api/output-tag.ts';
import { AbstractStreamOperator, userTimestamp } from '../operator.ts';

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
    this.#fn.open?.(this.runtime);
  }

  processElement(value: unknown, timestamp: number): void {
    this.#context.rawTimestamp = timestamp;
    this.#fn.processElement(value, this.#context, this.#context);
  }

  override close(): void {
    this.#fn.close?.();
  }
}

class ProcessFunctionContext implements ProcessContext, Collector<unknown>, TimerService {
  rawTimestamp = Number.NaN;
  readonly #operator: ProcessOperator;

  constructor(operator: ProcessOperator) {
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
