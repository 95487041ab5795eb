import type { RuntimeContext } from '../api/functions.ts';
import type { HeapKeyedStateBackend } from '../state/heap-keyed-state-backend.ts';
import type { Key } from '../state/key-groups.ts';
import type { InternalTimerService } from '../time/timer-service.ts';

/**
 * Records carry their event timestamp as a number; NaN means "no timestamp". A number rather than
 * `undefined` keeps the hot path monomorphic.
 */
export const NO_TIMESTAMP = Number.NaN;

export function userTimestamp(timestamp: number): number | undefined {
  return Number.isNaN(timestamp) ? undefined : timestamp;
}

/** Where an operator sends what it produces: the next chained operator, channels, or both. */
export interface Output {
  collect(value: unknown, timestamp: number): void;
  collectSide(tag: string, value: unknown, timestamp: number): void;
  emitWatermark(watermark: number): void;
  emitWatermarkStatus(idle: boolean): void;
}

/** Counters an operator reports; summed over subtasks in the job result. */
export interface OperatorMetrics {
  recordsIn: number;
  recordsOut: number;
  lateRecordsDropped: number;
}

export interface KeyedContext {
  readonly backend: HeapKeyedStateBackend;
  readonly timers: InternalTimerService<Key>;
}

export interface OperatorSetup {
  readonly output: Output;
  readonly runtime: RuntimeContext;
  readonly metrics: OperatorMetrics;
  /** Present for keyed operators only. */
  readonly keyed: KeyedContext | undefined;
  /** The job's processing-time clock (ms). */
  readonly clock: () => number;
  readonly sendToCoordinator: (channel: string, payload: unknown) => void;
}

/**
 * The contract between a task and the operators it runs. Records are the default action;
 * watermarks, timers and end of input arrive as other calls, all on the task's one thread.
 */
export interface StreamOperator<IN, OUT> {
  /** For type inference only. */
  readonly __types?: (input: IN) => OUT;
  setup(setup: OperatorSetup): void;
  open(): void | Promise<void>;
  processElement(value: IN, timestamp: number): void;
  processWatermark(watermark: number): void;
  processWatermarkStatus(idle: boolean): void;
  /** Fires processing-time timers due at `now`. */
  advanceProcessingTime(now: number): void;
  /** When the next processing-time timer is due (ms), or Infinity. */
  nextProcessingTimeDeadline(): number;
  /** End of input: every input has ended and the final watermark has been processed. */
  finish(): void;
  /** After each batch of input; a returned promise pauses the task until it settles (backpressure). */
  flush(): void | Promise<void>;
  close(): void | Promise<void>;
}

/** Defaults for the lifecycle, so an operator implements only what it needs. */
export abstract class AbstractStreamOperator<IN, OUT> implements StreamOperator<IN, OUT> {
  protected output!: Output;
  protected runtime!: RuntimeContext;
  protected metrics!: OperatorMetrics;
  protected clock!: () => number;
  protected currentWatermark = Number.NEGATIVE_INFINITY;

  setup(setup: OperatorSetup): void {
    this.output = setup.output;
    this.runtime = setup.runtime;
    this.metrics = setup.metrics;
    this.clock = setup.clock;
  }

  open(): void | Promise<void> {}

  abstract processElement(value: IN, timestamp: number): void;

  processWatermark(watermark: number): void {
    this.currentWatermark = watermark;
    this.output.emitWatermark(watermark);
  }

  processWatermarkStatus(idle: boolean): void {
    this.output.emitWatermarkStatus(idle);
  }

  advanceProcessingTime(_now: number): void {}

  nextProcessingTimeDeadline(): number {
    return Number.POSITIVE_INFINITY;
  }

  finish(): void {}

  flush(): void | Promise<void> {}

  close(): void | Promise<void> {}
}
