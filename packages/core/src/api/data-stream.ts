import { type PrintOptions, printSink } from '../connectors/print-sink.ts';
import { type AsyncFunction, type AsyncOptions, resolveAsyncOptions } from '../contracts/async-io.ts';
import type {
  FilterFunction,
  FlatMapFunction,
  KeyedProcessFunction,
  KeySelector,
  MapFunction,
  ProcessFunction,
  ReduceFunction,
  WatermarkOptions,
} from '../contracts/functions.ts';
import type { OutputTag } from '../contracts/output-tag.ts';
import type { Sink } from '../contracts/sink.ts';
import { countEvictor } from '../contracts/window-evictor.ts';
import { countTrigger, purgingTrigger } from '../contracts/window-trigger.ts';
import { ConfigError } from '../errors.ts';
import type { AnyMapStateDescriptor } from '../plan/co-operator-spec.ts';
import type { OperatorSpec, StreamInput, StreamNode } from '../plan/stream-node.ts';
import type { Key } from '../state/key-groups.ts';
import { globalWindows, type WindowAssigner } from '../time/windows.ts';
import {
  BroadcastConnectedStream,
  BroadcastStream,
  KeyedBroadcastConnectedStream,
} from './broadcast-stream.ts';
import { ConnectedStreams, KeyedConnectedStreams } from './connected-streams.ts';
import {
  applyNodeOptions,
  inputsWith,
  type NodeOptions,
  type StreamExecutionEnvironment,
} from './environment.ts';
import { IntervalJoin, requireKeyedStream } from './interval-join.ts';
import { CoGroupedStreams, JoinedStreams } from './joined-streams.ts';
import { requireStreamOfJob } from './keyed-union.ts';
import { WindowedStream } from './windowed-stream.ts';

function requireFunction(value: unknown, operation: string, what = 'function'): void {
  if (typeof value !== 'function') {
    throw new ConfigError(`${operation}: expected a ${what}, got ${value === null ? 'null' : typeof value}`);
  }
}

function requireObjectWith(value: unknown, operation: string, method: string): void {
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof (value as Record<string, unknown>)[method] !== 'function'
  ) {
    throw new ConfigError(`${operation}: expected an object with a ${method}() method`);
  }
}

/**
 * A typed handle on a stream of records. Every method adds an operator to the job's graph and
 * returns a handle on that operator's output; nothing runs until the job is executed.
 */
export class DataStream<T> {
  /** @internal */
  readonly env: StreamExecutionEnvironment;
  /** @internal The producers this stream reads, each with how it is partitioned. */
  readonly inputs: readonly StreamInput[];
  /** @internal */
  readonly hasTimestamps: boolean;

  /** @internal */
  constructor(env: StreamExecutionEnvironment, inputs: readonly StreamInput[], hasTimestamps: boolean) {
    this.env = env;
    this.inputs = inputs;
    this.hasTimestamps = hasTimestamps;
  }

  /** @internal */
  static fromNode<R>(env: StreamExecutionEnvironment, node: StreamNode): SingleOutputStream<R> {
    return new SingleOutputStream<R>(
      env,
      [{ nodeIndex: node.index, sideOutput: undefined, partitioner: { kind: 'default' } }],
      node.emitsTimestamps,
      node,
    );
  }

  /** @internal Adds a one-input operator reading this stream; `kind` names it in ids and plans. */
  transform<R>(kind: string, operator: OperatorSpec, extra: Partial<StreamNode> = {}): SingleOutputStream<R> {
    const node = this.env.addNode({
      role: 'operator',
      kind,
      inputs: this.inputs,
      emitsTimestamps: this.hasTimestamps,
      operator,
      ...extra,
    });
    return DataStream.fromNode<R>(this.env, node);
  }

  map<R>(fn: MapFunction<T, R>): SingleOutputStream<R> {
    requireFunction(fn, 'map');
    return this.transform('map', { kind: 'map', fn: fn as MapFunction<unknown, unknown> });
  }

  /**
   * Emits any number of records per input: return them (an array, a generator; the output type
   * is inferred), or emit them through the collector (`flatMap<string>((line, out) => ...)`).
   */
  flatMap<R>(fn: FlatMapFunction<T, R>): SingleOutputStream<R> {
    requireFunction(fn, 'flatMap');
    return this.transform('flatMap', { kind: 'flatMap', fn: fn as FlatMapFunction<unknown, unknown> });
  }

  // Async I/O ------------------------------------------------------------------------------

  /**
   * Looks each record up asynchronously — an HTTP call, a query — with up to `capacity` requests
   * in flight per subtask, and emits one result per record (Flink's `AsyncDataStream`). Results
   * keep their record's timestamp. Ordered by default; see {@link AsyncOptions} for unordered
   * results, the timeout, retries and the capacity (at which the operator backpressures).
   * Records whose results are not out yet are part of checkpoints and are requested again after
   * a restore.
   *
   * @example
   * ```ts
   * users.mapAsync(async (user) => ({ ...user, country: await geo.lookup(user.ip) }), {
   *   capacity: 200,
   *   timeoutMs: 2_000,
   *   retry: { maxAttempts: 3, backoff: { kind: 'exponential', initialDelayMs: 50, maxDelayMs: 500 } },
   * });
   * ```
   */
  mapAsync<R>(fn: AsyncFunction<T, R>, options?: AsyncOptions<T, R>): SingleOutputStream<R> {
    requireFunction(fn, 'mapAsync');
    const resolved = resolveAsyncOptions('mapAsync', options as AsyncOptions<never, never> | undefined);
    return this.transform('mapAsync', {
      kind: 'async',
      fn: fn as (value: unknown) => unknown,
      options: resolved,
      flat: false,
    });
  }

  /** As {@link mapAsync}, with any number of results per record: the promise gives an iterable (an array). */
  flatMapAsync<R>(
    fn: AsyncFunction<T, Iterable<R>>,
    options?: AsyncOptions<T, Iterable<R>>,
  ): SingleOutputStream<R> {
    requireFunction(fn, 'flatMapAsync');
    const resolved = resolveAsyncOptions('flatMapAsync', options as AsyncOptions<never, never> | undefined);
    return this.transform('flatMapAsync', {
      kind: 'async',
      fn: fn as (value: unknown) => unknown,
      options: resolved,
      flat: true,
    });
  }

  // -----------------------------------------------------------------------------------------

  filter(fn: FilterFunction<T>): SingleOutputStream<T> {
    requireFunction(fn, 'filter');
    return this.transform('filter', { kind: 'filter', fn: fn as FilterFunction<unknown> });
  }

  /** A ProcessFunction sees each record with its timestamp and may emit to side outputs. */
  process<R>(fn: ProcessFunction<T, R>): SingleOutputStream<R> {
    requireObjectWith(fn, 'process', 'processElement');
    return this.transform('process', { kind: 'process', fn: fn as ProcessFunction<unknown, unknown> });
  }

  /** Partitions the stream by key: records with equal keys go to the same subtask, in order. */
  keyBy<K extends Key>(keySelector: KeySelector<T, K>): KeyedStream<K, T> {
    requireFunction(keySelector, 'keyBy', 'key selector function');
    const selector = keySelector as (value: never) => Key;
    return new KeyedStream<K, T>(
      this.env,
      inputsWith(this.inputs, { kind: 'hash', keySelector: selector }),
      this.hasTimestamps,
      keySelector,
    );
  }

  /** Spreads records round-robin over the next operator's subtasks. */
  rebalance(): DataStream<T> {
    return new DataStream<T>(this.env, inputsWith(this.inputs, { kind: 'rebalance' }), this.hasTimestamps);
  }

  /** Sends every record to every subtask of the next operator. */
  broadcast(): DataStream<T>;
  /**
   * A broadcast stream with broadcast state, one map per descriptor: connect a stream to it
   * (`events.connect(rules.broadcast(ruleState))`) and process both with a broadcast process function.
   */
  broadcast(...descriptors: [AnyMapStateDescriptor, ...AnyMapStateDescriptor[]]): BroadcastStream<T>;
  broadcast(...descriptors: AnyMapStateDescriptor[]): DataStream<T> | BroadcastStream<T> {
    const inputs = inputsWith(this.inputs, { kind: 'broadcast' });
    if (descriptors.length === 0) return new DataStream<T>(this.env, inputs, this.hasTimestamps);
    return new BroadcastStream<T>(this.env, inputs, this.hasTimestamps, descriptors);
  }

  // --- connect (two-input operators) ---

  /** Connects a broadcast stream: every subtask of the next operator reads it in full, with its broadcast state. */
  connect<B>(other: BroadcastStream<B>): BroadcastConnectedStream<T, B>;
  /** Connects another stream, of any type: the next operator reads both, with a function per input. */
  connect<B>(other: DataStream<B>): ConnectedStreams<T, B>;
  connect<B>(
    other: DataStream<B> | BroadcastStream<B>,
  ): ConnectedStreams<T, B> | BroadcastConnectedStream<T, B> {
    if (other instanceof BroadcastStream) return new BroadcastConnectedStream<T, B>(this, other);
    return new ConnectedStreams<T, B>(this, other);
  }
  // --- end connect ---

  /** Keeps records on the same subtask index; both sides must have the same parallelism. */
  forward(): DataStream<T> {
    return new DataStream<T>(this.env, inputsWith(this.inputs, { kind: 'forward' }), this.hasTimestamps);
  }

  /** Merges streams of the same type; the next operator reads all of them. */
  union(...others: DataStream<T>[]): DataStream<T> {
    for (const other of others) {
      if (!(other instanceof DataStream) || other.env !== this.env) {
        throw new ConfigError('union: every stream must be a DataStream of the same job');
      }
    }
    return new DataStream<T>(
      this.env,
      [...this.inputs, ...others.flatMap((o) => o.inputs)],
      this.hasTimestamps && others.every((o) => o.hasTimestamps),
    );
  }

  /**
   * Assigns event timestamps and generates watermarks: the watermark trails the highest
   * timestamp seen by `maxOutOfOrderness`; an input silent for `idleTimeout` stops holding
   * back the watermark downstream.
   */
  assignTimestamps(options: WatermarkOptions<T>): SingleOutputStream<T> {
    if (options === null || typeof options !== 'object') {
      throw new ConfigError('assignTimestamps: expected an options object with a timestamp function');
    }
    requireFunction(options.timestamp, 'assignTimestamps: option "timestamp"');
    for (const key of ['maxOutOfOrderness', 'idleTimeout'] as const) {
      const v = options[key];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
        throw new ConfigError(
          `assignTimestamps: option "${key}" must be a finite number of ms >= 0, got ${String(v)}`,
        );
      }
    }
    return this.transform(
      'timestamps',
      { kind: 'timestamps', options: options as WatermarkOptions<unknown> },
      { emitsTimestamps: true },
    );
  }

  // Joins: window join and co-group (api/joined-streams.ts).

  /**
   * Joins this stream with `other` in windows: `join(other).where(key).equalTo(otherKey)
   * .window(tumbling(seconds(10))).apply((left, right) => ...)` emits every pair with equal keys in
   * the same window when the window fires.
   */
  join<R>(other: DataStream<R>): JoinedStreams<T, R> {
    requireStreamOfJob(this, other, 'join');
    return new JoinedStreams<T, R>(this, other);
  }

  /** Groups this stream and `other` by key and window: the co-group function sees both sides' records. */
  coGroup<R>(other: DataStream<R>): CoGroupedStreams<T, R> {
    requireStreamOfJob(this, other, 'coGroup');
    return new CoGroupedStreams<T, R>(this, other);
  }

  /** Prints each record as a line on stdout (prefixed with the subtask number when parallel). */
  print(options: PrintOptions<T> = {}): SinkHandle {
    return this.sinkTo(printSink(options));
  }

  /** Writes the stream to a sink. */
  sinkTo(sink: Sink<T>, options: NodeOptions = {}): SinkHandle {
    requireObjectWith(sink, 'sinkTo', 'createWriter');
    const node = this.env.addNode({
      role: 'sink',
      kind: 'sink',
      name: sink.name,
      inputs: this.inputs,
      emitsTimestamps: false,
      sink: sink as Sink<unknown>,
      parallelismLimit: sink.maxParallelism,
      operator: { kind: 'sink', sink: sink as Sink<unknown> },
    });
    applyNodeOptions(node, options);
    return new SinkHandle(node);
  }
}

/** The output of one operator: lets you name it, pin its id, set its parallelism, read its side outputs. */
export class SingleOutputStream<T> extends DataStream<T> {
  /** @internal */
  readonly node: StreamNode;

  /** @internal */
  constructor(
    env: StreamExecutionEnvironment,
    inputs: readonly StreamInput[],
    hasTimestamps: boolean,
    node: StreamNode,
  ) {
    super(env, inputs, hasTimestamps);
    this.node = node;
  }

  /** Pins the operator's id, so that its state finds it again after the job's code changes. */
  uid(uid: string): this {
    if (typeof uid !== 'string' || uid.length === 0)
      throw new ConfigError('uid: expected a non-empty string');
    this.node.uid = uid;
    return this;
  }

  name(name: string): this {
    if (typeof name !== 'string' || name.length === 0)
      throw new ConfigError('name: expected a non-empty string');
    this.node.name = name;
    return this;
  }

  setParallelism(parallelism: number): this {
    if (!Number.isInteger(parallelism) || parallelism < 1) {
      throw new ConfigError(
        `setParallelism on '${this.node.name}': expected an integer >= 1, got ${parallelism}`,
      );
    }
    this.node.parallelism = parallelism;
    return this;
  }

  /** The records this operator sent to the side output `tag`. */
  getSideOutput<X>(tag: OutputTag<X>): DataStream<X> {
    this.node.sideOutputs.add(tag.id);
    return new DataStream<X>(
      this.env,
      [{ nodeIndex: this.node.index, sideOutput: tag.id, partitioner: { kind: 'default' } }],
      this.node.emitsTimestamps,
    );
  }
}

/** A stream partitioned by key; keyed state and timers are scoped to the current record's key. */
export class KeyedStream<K extends Key, T> extends DataStream<T> {
  /** @internal */
  readonly keySelector: KeySelector<T, K>;

  /** @internal */
  constructor(
    env: StreamExecutionEnvironment,
    inputs: readonly StreamInput[],
    hasTimestamps: boolean,
    keySelector: KeySelector<T, K>,
  ) {
    super(env, inputs, hasTimestamps);
    this.keySelector = keySelector;
  }

  /** @internal Adds an operator that reads this stream by key; its spec gets the key selector at deploy. */
  keyedTransform<R>(
    kind: string,
    operator: OperatorSpec,
    extra: Partial<StreamNode> = {},
  ): SingleOutputStream<R> {
    return this.transform<R>(kind, operator, {
      keySelector: this.keySelector as (value: never) => Key,
      ...extra,
    });
  }

  /** A KeyedProcessFunction with keyed state and event- and processing-time timers. */
  override process<R>(fn: KeyedProcessFunction<K, T, R> | ProcessFunction<T, R>): SingleOutputStream<R> {
    requireObjectWith(fn, 'process', 'processElement');
    return this.keyedTransform<R>('process', {
      kind: 'keyedProcess',
      fn: fn as KeyedProcessFunction<Key, unknown, unknown>,
    });
  }

  // --- connect (two-input operators) ---

  /** Connects a broadcast stream to this keyed stream: the dynamic-rules pattern (KeyedBroadcastProcessFunction). */
  override connect<B>(other: BroadcastStream<B>): KeyedBroadcastConnectedStream<K, T, B>;
  /** Connects another stream keyed by the same key type: keyed state and timers shared by both inputs. */
  override connect<B>(other: KeyedStream<K, B>): KeyedConnectedStreams<K, T, B>;
  override connect<B>(other: DataStream<B>): ConnectedStreams<T, B>;
  override connect<B>(
    other: DataStream<B> | BroadcastStream<B>,
  ): ConnectedStreams<T, B> | BroadcastConnectedStream<T, B> {
    if (other instanceof BroadcastStream) return new KeyedBroadcastConnectedStream<K, T, B>(this, other);
    if (other instanceof KeyedStream)
      return new KeyedConnectedStreams<K, T, B>(this, other as KeyedStream<K, B>);
    return new ConnectedStreams<T, B>(this, other);
  }
  // --- end connect ---

  /** Emits, for each record, the running reduction of all records with its key so far. */
  reduce(fn: ReduceFunction<T>): SingleOutputStream<T> {
    requireFunction(fn, 'reduce');
    return this.keyedTransform<T>('reduce', { kind: 'reduce', fn: fn as ReduceFunction<unknown> });
  }

  /**
   * Joins each record with the records of `other` (keyed the same way) whose timestamps lie in an
   * interval around its own: `intervalJoin(other).between(-5_000, 5_000).process(fn)`.
   */
  intervalJoin<R>(other: KeyedStream<K, R>): IntervalJoin<K, T, R> {
    requireKeyedStream(this as KeyedStream<Key, unknown>, other);
    return new IntervalJoin<K, T, R>(this, other);
  }

  /** Groups each key's records into windows. */
  window(assigner: WindowAssigner): WindowedStream<K, T> {
    if (assigner === null || typeof assigner !== 'object' || typeof assigner.assignWindows !== 'function') {
      throw new ConfigError('window: expected a window assigner such as tumbling(seconds(10))');
    }
    return new WindowedStream<K, T>(this, assigner);
  }

  /**
   * Count windows (Flink's `countWindow`): each key's elements in groups of `size`. Without
   * `slide`, a window fires and empties every `size` elements; with it, every `slide` elements
   * over the last `size`. Elements of an unfinished window are not emitted at end of input.
   */
  countWindow(size: number, slide?: number): WindowedStream<K, T> {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new ConfigError(`countWindow: size must be an integer >= 1, got ${String(size)}`);
    }
    if (slide === undefined) {
      return new WindowedStream<K, T>(this, globalWindows()).trigger(purgingTrigger(countTrigger(size)));
    }
    if (!Number.isSafeInteger(slide) || slide < 1) {
      throw new ConfigError(`countWindow: slide must be an integer >= 1, got ${String(slide)}`);
    }
    return new WindowedStream<K, T>(this, globalWindows())
      .evictor(countEvictor(size))
      .trigger(countTrigger(slide));
  }
}

/** The end of a pipeline; lets you name the sink and set its parallelism. */
export class SinkHandle {
  /** @internal */
  readonly node: StreamNode;

  /** @internal */
  constructor(node: StreamNode) {
    this.node = node;
  }

  uid(uid: string): this {
    this.node.uid = uid;
    return this;
  }

  name(name: string): this {
    this.node.name = name;
    return this;
  }

  setParallelism(parallelism: number): this {
    if (!Number.isInteger(parallelism) || parallelism < 1) {
      throw new ConfigError(
        `setParallelism on sink '${this.node.name}': expected an integer >= 1, got ${parallelism}`,
      );
    }
    this.node.parallelism = parallelism;
    return this;
  }
}
