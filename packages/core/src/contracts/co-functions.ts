/*
 * The functions of two-input operators: `a.connect(b)` (CoMap, CoFlatMap, CoProcess, and their
 * keyed form) and `events.connect(rules.broadcast(descriptor))` (broadcast state). Flink's
 * `CoMapFunction`, `CoProcessFunction`, `KeyedCoProcessFunction`, `BroadcastProcessFunction` and
 * `KeyedBroadcastProcessFunction`, with the same split of what each side may do.
 */

import type {
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  ValueStateDescriptor,
} from '../state/descriptors.ts';
import type { Key } from '../state/key-groups.ts';
import type { AggregatingState, ListState, MapState, ReducingState, ValueState } from '../state/state.ts';
import type {
  Collector,
  KeyedProcessContext,
  KeyedStateAccess,
  OnTimerContext,
  ProcessContext,
  RuntimeContext,
} from './functions.ts';

/** One function per input; both return the same output type. */
export interface CoMapFunction<A, B, R> {
  map1(value: A): R;
  map2(value: B): R;
}

/** Emit through `out`, or return an iterable of results, as `flatMap` does. */
export interface CoFlatMapFunction<A, B, R> {
  // biome-ignore lint/suspicious/noConfusingVoidType: as FlatMapFunction: a collector-style function returns nothing.
  flatMap1(value: A, out: Collector<R>): Iterable<R> | undefined | void;
  // biome-ignore lint/suspicious/noConfusingVoidType: as above.
  flatMap2(value: B, out: Collector<R>): Iterable<R> | undefined | void;
}

/** Sees each record of either input with its timestamp; may emit to side outputs. */
export interface CoProcessFunction<A, B, R> {
  open?(context: RuntimeContext): void;
  processElement1(value: A, ctx: ProcessContext, out: Collector<R>): void;
  processElement2(value: B, ctx: ProcessContext, out: Collector<R>): void;
  close?(): void;
}

/**
 * Both inputs keyed by the same key type: state and timers are those of the record's key, shared by
 * the two inputs (a record of either side sees what the other side stored under its key).
 */
export interface KeyedCoProcessFunction<K extends Key, A, B, R> {
  open?(context: RuntimeContext & KeyedStateAccess): void;
  processElement1(value: A, ctx: KeyedProcessContext<K>, out: Collector<R>): void;
  processElement2(value: B, ctx: KeyedProcessContext<K>, out: Collector<R>): void;
  onTimer?(timestamp: number, ctx: OnTimerContext<K>, out: Collector<R>): void;
  close?(): void;
}

/** Broadcast state as the non-broadcast side sees it: it may read, never write. */
export interface ReadOnlyBroadcastState<K extends Key, V> {
  get(key: K): V | undefined;
  has(key: K): boolean;
  /** In insertion order. */
  entries(): IterableIterator<[K, V]>;
  keys(): IterableIterator<K>;
  values(): IterableIterator<V>;
  isEmpty(): boolean;
}

/**
 * Broadcast state as the broadcast side sees it. Every subtask holds its own copy and applies the
 * same broadcast records to it, so every update must depend only on the broadcast record and the
 * state itself (not on the subtask, time or randomness): the copies then stay equal, and a restore
 * at another parallelism may give any new subtask any old subtask's copy.
 */
export interface BroadcastState<K extends Key, V> extends ReadOnlyBroadcastState<K, V> {
  put(key: K, value: V): void;
  remove(key: K): void;
  clear(): void;
}

/** What a `processElement` of a broadcast function gets besides the timestamp and side outputs. */
export interface ReadOnlyBroadcastContext extends ProcessContext {
  /** One of the descriptors passed to `broadcast(...)`; any other is refused. */
  getBroadcastState<K extends Key, V>(descriptor: MapStateDescriptor<K, V>): ReadOnlyBroadcastState<K, V>;
}

/** What a `processBroadcastElement` gets: write access to the broadcast state. */
export interface BroadcastContext extends ProcessContext {
  getBroadcastState<K extends Key, V>(descriptor: MapStateDescriptor<K, V>): BroadcastState<K, V>;
}

/** A non-keyed stream connected to a broadcast stream. */
export interface BroadcastProcessFunction<IN, BC, OUT> {
  open?(context: RuntimeContext): void;
  processElement(value: IN, ctx: ReadOnlyBroadcastContext, out: Collector<OUT>): void;
  processBroadcastElement(value: BC, ctx: BroadcastContext, out: Collector<OUT>): void;
  close?(): void;
}

/** The keyed side of a keyed broadcast function: keyed state and timers of the record's key, read-only broadcast state. */
export interface KeyedReadOnlyBroadcastContext<K extends Key> extends KeyedProcessContext<K> {
  getBroadcastState<BK extends Key, V>(descriptor: MapStateDescriptor<BK, V>): ReadOnlyBroadcastState<BK, V>;
}

export interface KeyedBroadcastOnTimerContext<K extends Key> extends OnTimerContext<K> {
  getBroadcastState<BK extends Key, V>(descriptor: MapStateDescriptor<BK, V>): ReadOnlyBroadcastState<BK, V>;
}

/** The broadcast side of a keyed broadcast function: no current key, but every key's state through `applyToKeyedState`. */
export interface KeyedBroadcastContext<K extends Key> extends BroadcastContext {
  /**
   * Calls `fn` once for every key of this subtask that has state under `descriptor`, with that
   * key's state object (Flink's `applyToKeyedState`): to change or clear keyed state when a rule
   * changes. Keys whose state `fn` clears are still visited once.
   */
  applyToKeyedState<T>(descriptor: ValueStateDescriptor<T>, fn: (key: K, state: ValueState<T>) => void): void;
  applyToKeyedState<T>(descriptor: ListStateDescriptor<T>, fn: (key: K, state: ListState<T>) => void): void;
  applyToKeyedState<UK extends Key, UV>(
    descriptor: MapStateDescriptor<UK, UV>,
    fn: (key: K, state: MapState<UK, UV>) => void,
  ): void;
  applyToKeyedState<T>(
    descriptor: ReducingStateDescriptor<T>,
    fn: (key: K, state: ReducingState<T>) => void,
  ): void;
  applyToKeyedState<IN, ACC, OUT>(
    descriptor: AggregatingStateDescriptor<IN, ACC, OUT>,
    fn: (key: K, state: AggregatingState<IN, OUT>) => void,
  ): void;
}

/**
 * A keyed stream connected to a broadcast stream: the dynamic-rules pattern. Rules arrive on the
 * broadcast side and are kept in broadcast state; events arrive by key and are checked against them.
 */
export interface KeyedBroadcastProcessFunction<K extends Key, IN, BC, OUT> {
  open?(context: RuntimeContext & KeyedStateAccess): void;
  processElement(value: IN, ctx: KeyedReadOnlyBroadcastContext<K>, out: Collector<OUT>): void;
  processBroadcastElement(value: BC, ctx: KeyedBroadcastContext<K>, out: Collector<OUT>): void;
  onTimer?(timestamp: number, ctx: KeyedBroadcastOnTimerContext<K>, out: Collector<OUT>): void;
  close?(): void;
}
