import type {
  Collector,
  KeyedProcessFunction,
  KeyedStateAccess,
  KeyedTimerService,
  OnTimerContext,
  RuntimeContext,
} from '../../contracts/functions.ts';
import type { OutputTag } from '../../contracts/output-tag.ts';
import type { StateDescriptor } from '../../state/descriptors.ts';
import type { Key } from '../../state/key-groups.ts';
import { DEFAULT_NAMESPACE } from '../../state/state.ts';
import type { InternalTimerService } from '../../time/timer-service.ts';
import { userTimestamp } from '../operator.ts';
import { AbstractKeyedOperator } from './keyed.ts';

/** Runs a KeyedProcessFunction: keyed state, event- and processing-time timers, side outputs. */
export class KeyedProcessOperator extends AbstractKeyedOperator<unknown, unknown> {
  readonly #fn: KeyedProcessFunction<Key, unknown, unknown>;
  readonly #context: KeyedContextImpl;

  constructor(fn: KeyedProcessFunction<Key, unknown, unknown>, keySelector: (value: unknown) => Key) {
    super(keySelector);
    this.#fn = fn;
    this.#context = new KeyedContextImpl(this);
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
  /** @internal */ state(descriptor: StateDescriptor): unknown {
    return this.backend.getState(descriptor as never);
  }
  /** @internal */ get timerServiceInternal() {
    return this.timers;
  }
  /** @internal */ get currentKey(): Key {
    return this.backend.currentKey;
  }

  override open(): void {
    if (this.#fn.open === undefined) return;
    const runtime = this.runtime;
    const context: RuntimeContext & KeyedStateAccess = {
      jobName: runtime.jobName,
      operatorId: runtime.operatorId,
      subtaskIndex: runtime.subtaskIndex,
      parallelism: runtime.parallelism,
      maxParallelism: runtime.maxParallelism,
      logger: runtime.logger,
      getState: ((descriptor: StateDescriptor) => this.state(descriptor)) as KeyedStateAccess['getState'],
    };
    this.#fn.open(context);
  }

  processKeyedElement(value: unknown, timestamp: number, key: Key, keyGroup: number): void {
    this.backend.setCurrentKey(key, keyGroup);
    this.#context.rawTimestamp = timestamp;
    this.#context.timeDomain = 'event-time';
    this.#fn.processElement(value, this.#context, this.#context);
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

/** What a keyed context reads from its operator; the keyed two-input operators provide it too. */
export interface KeyedContextHost {
  readonly watermark: number;
  now(): number;
  emit(value: unknown, timestamp: number): void;
  emitSide(tag: string, value: unknown, timestamp: number): void;
  state(descriptor: StateDescriptor): unknown;
  readonly timerServiceInternal: InternalTimerService<Key>;
  readonly currentKey: Key;
}

/** The context of keyed functions: one object per operator serves every record and timer. */
export class KeyedContextImpl implements OnTimerContext<Key>, KeyedTimerService, Collector<unknown> {
  rawTimestamp = Number.NaN;
  timeDomain: 'event-time' | 'processing-time' = 'event-time';
  readonly #operator: KeyedContextHost;
  readonly getState: KeyedStateAccess['getState'];

  constructor(operator: KeyedContextHost) {
    this.#operator = operator;
    this.getState = ((descriptor: StateDescriptor) =>
      operator.state(descriptor)) as KeyedStateAccess['getState'];
  }

  get timestamp(): number | undefined {
    return userTimestamp(this.rawTimestamp);
  }

  get key(): Key {
    return this.#operator.currentKey;
  }

  get timerService(): KeyedTimerService {
    return this;
  }

  currentWatermark(): number {
    return this.#operator.watermark;
  }

  currentProcessingTime(): number {
    return this.#operator.now();
  }

  registerEventTimeTimer(timestamp: number): void {
    checkTimerTimestamp(timestamp);
    this.#operator.timerServiceInternal.registerEventTimeTimer(this.key, DEFAULT_NAMESPACE, timestamp);
  }

  deleteEventTimeTimer(timestamp: number): void {
    this.#operator.timerServiceInternal.deleteEventTimeTimer(this.key, DEFAULT_NAMESPACE, timestamp);
  }

  registerProcessingTimeTimer(timestamp: number): void {
    checkTimerTimestamp(timestamp);
    this.#operator.timerServiceInternal.registerProcessingTimeTimer(this.key, DEFAULT_NAMESPACE, timestamp);
  }

  deleteProcessingTimeTimer(timestamp: number): void {
    this.#operator.timerServiceInternal.deleteProcessingTimeTimer(this.key, DEFAULT_NAMESPACE, timestamp);
  }

  output<X>(tag: OutputTag<X>, value: X): void {
    this.#operator.emitSide(tag.id, value, this.rawTimestamp);
  }

  collect(value: unknown): void {
    this.#operator.emit(value, this.rawTimestamp);
  }
}

export function checkTimerTimestamp(timestamp: number): void {
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
    throw new TypeError(`timer timestamps must be finite numbers (ms), got ${String(timestamp)}`);
  }
}
