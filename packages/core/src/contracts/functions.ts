import type {
  AggregateFunction,
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  ValueStateDescriptor,
} from '../state/descriptors.ts';
import type { Key } from '../state/key-groups.ts';
import type { AggregatingState, ListState, MapState, ReducingState, ValueState } from '../state/state.ts';
import type { TimeWindow } from '../time/windows.ts';
import type { Logger } from './logger.ts';
import type { OutputTag } from './output-tag.ts';

export type { AggregateFunction, Key };

/** Receives the records an operator emits. */
export interface Collector<T> {
  collect(value: T): void;
}

export type MapFunction<T, R> = (value: T) => R;
export type FilterFunction<T> = (value: T) => boolean;
/** Emit through `out`, or return an iterable of results (an array, a generator). */
// biome-ignore lint/suspicious/noConfusingVoidType: a collector-style function returns nothing (void), a returning one an iterable.
export type FlatMapFunction<T, R> = (value: T, out: Collector<R>) => Iterable<R> | undefined | void;
export type KeySelector<T, K extends Key> = (value: T) => K;
export type ReduceFunction<T> = (accumulator: T, value: T) => T;

/** What `assignTimestamps` is given: where a record's event time comes from, and how watermarks follow it. */
export interface WatermarkOptions<T> {
  /** The record's event time in ms; `previous` is the timestamp it already carries, if any. */
  readonly timestamp: (value: T, previous: number | undefined) => number;
  /** How far behind the highest timestamp seen the watermark trails (ms); default 0. */
  readonly maxOutOfOrderness?: number;
  /** After this many ms without records the subtask is marked idle and stops holding back the watermark. */
  readonly idleTimeout?: number;
}

/** What every user function can learn about where it runs. */
export interface RuntimeContext {
  readonly jobName: string;
  readonly operatorId: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  readonly maxParallelism: number;
  /**
   * The job's logger, bound to this operator and subtask (pino's interface: `info(obj, msg)`,
   * `info(msg)`, `child(...)`). Lines reach the logger given to `runJob`, from any worker thread.
   */
  readonly logger: Logger;
}

/** State is scoped to the key of the record (or timer) being processed. */
export interface KeyedStateAccess {
  getState<T>(descriptor: ValueStateDescriptor<T>): ValueState<T>;
  getState<T>(descriptor: ListStateDescriptor<T>): ListState<T>;
  getState<UK extends Key, UV>(descriptor: MapStateDescriptor<UK, UV>): MapState<UK, UV>;
  getState<T>(descriptor: ReducingStateDescriptor<T>): ReducingState<T>;
  getState<IN, ACC, OUT>(descriptor: AggregatingStateDescriptor<IN, ACC, OUT>): AggregatingState<IN, OUT>;
}

export interface TimerService {
  currentWatermark(): number;
  currentProcessingTime(): number;
}

export interface KeyedTimerService extends TimerService {
  registerEventTimeTimer(timestamp: number): void;
  deleteEventTimeTimer(timestamp: number): void;
  registerProcessingTimeTimer(timestamp: number): void;
  deleteProcessingTimeTimer(timestamp: number): void;
}

export interface ProcessContext {
  /** The record's event timestamp, or `undefined` when the stream has none. */
  readonly timestamp: number | undefined;
  readonly timerService: TimerService;
  output<X>(tag: OutputTag<X>, value: X): void;
}

/**
 * Operator (non-keyed) state: lists per subtask, checkpointed with the job. On a restore at
 * another parallelism the items of each list are dealt round-robin to the new subtasks (Flink's
 * even-split redistribution), so keep items independent of one another (offsets, partial counts).
 */
export interface OperatorStateAccess {
  getListState<T>(name: string): ListState<T>;
}

export interface ProcessFunction<I, O> {
  open?(context: RuntimeContext & OperatorStateAccess): void;
  processElement(value: I, ctx: ProcessContext, out: Collector<O>): void;
  close?(): void;
}

export interface KeyedProcessContext<K extends Key> extends KeyedStateAccess {
  readonly timestamp: number | undefined;
  readonly key: K;
  readonly timerService: KeyedTimerService;
  output<X>(tag: OutputTag<X>, value: X): void;
}

export interface OnTimerContext<K extends Key> extends KeyedProcessContext<K> {
  readonly timeDomain: 'event-time' | 'processing-time';
}

export interface KeyedProcessFunction<K extends Key, I, O> {
  open?(context: RuntimeContext & KeyedStateAccess): void;
  processElement(value: I, ctx: KeyedProcessContext<K>, out: Collector<O>): void;
  onTimer?(timestamp: number, ctx: OnTimerContext<K>, out: Collector<O>): void;
  close?(): void;
}

export interface WindowContext<K extends Key> {
  readonly key: K;
  readonly window: TimeWindow;
  currentWatermark(): number;
  currentProcessingTime(): number;
  output<X>(tag: OutputTag<X>, value: X): void;
  /**
   * State of this key and this window: kept across the window's firings, dropped when the
   * window is cleaned up (after its allowed lateness). Not available with merging (session)
   * windows, as in Flink. Use a descriptor here or in `globalState()`, not in both.
   */
  windowState(): KeyedStateAccess;
  /** State of this key, shared by all its windows (kept until you clear it). */
  globalState(): KeyedStateAccess;
}

/** Sees every element of a window at once, when the window fires. */
export interface ProcessWindowFunction<I, O, K extends Key> {
  open?(context: RuntimeContext): void;
  process(key: K, ctx: WindowContext<K>, elements: readonly I[], out: Collector<O>): void;
  /**
   * The window is being cleaned up (Flink's `ProcessWindowFunction.clear`). The window state
   * used through `ctx.windowState()` is cleared right after, whether or not this is defined.
   */
  clear?(key: K, ctx: WindowContext<K>): void;
  close?(): void;
}

/** Turns a window's pre-aggregated result into the output record. */
export type WindowResultFunction<A, O, K extends Key> = (key: K, window: TimeWindow, result: A) => O;
