import type {
  CoFlatMapFunction,
  CoMapFunction,
  CoProcessFunction,
  KeyedCoProcessFunction,
} from '../contracts/co-functions.ts';
import type { KeySelector } from '../contracts/functions.ts';
import { ConfigError } from '../errors.ts';
import type { CoOperatorSpec } from '../plan/co-operator-spec.ts';
import type { StreamNode } from '../plan/stream-node.ts';
import type { Key } from '../state/key-groups.ts';
import { DataStream, KeyedStream, type SingleOutputStream } from './data-stream.ts';
import { inputsWith } from './environment.ts';

/** @internal Checks that `value` is an object with every one of `methods`, naming the operation. */
export function requireMethods(value: unknown, operation: string, methods: readonly string[]): void {
  const missing =
    value === null || typeof value !== 'object'
      ? methods
      : methods.filter((m) => typeof (value as Record<string, unknown>)[m] !== 'function');
  if (missing.length > 0) {
    throw new ConfigError(
      `${operation}: expected an object with ${methods.map((m) => `${m}()`).join(' and ')}; missing ${missing.map((m) => `${m}()`).join(', ')}`,
    );
  }
}

/**
 * @internal Adds a two-input operator reading `first` (input 1) and `second` (input 2). A keyed
 * operator's node gets the first input's key selector, as one-input keyed operators do.
 */
export function addTwoInputNode<R>(
  kind: string,
  first: DataStream<unknown>,
  second: DataStream<unknown>,
  operator: CoOperatorSpec,
  options: {
    readonly keySelector?: (value: never) => Key;
    readonly secondIsBroadcast?: boolean;
    readonly emitsTimestamps: boolean;
  },
): SingleOutputStream<R> {
  const node: StreamNode = first.env.addNode({
    role: 'operator',
    kind,
    inputs: [...first.inputs, ...second.inputs],
    emitsTimestamps: options.emitsTimestamps,
    operator,
    keySelector: options.keySelector,
    twoInput: {
      secondInputStart: first.inputs.length,
      secondIsBroadcast: options.secondIsBroadcast === true,
    },
  });
  return DataStream.fromNode<R>(first.env, node);
}

/**
 * Two streams of possibly different types, connected: the next operator reads both, with a
 * function per input, and may share state between them (Flink's `ConnectedStreams`). Its output
 * carries event timestamps when both inputs do; its watermark is the minimum of both inputs'.
 */
export class ConnectedStreams<A, B> {
  /** @internal */
  readonly first: DataStream<A>;
  /** @internal */
  readonly second: DataStream<B>;

  /** @internal */
  constructor(first: DataStream<A>, second: DataStream<B>) {
    if (!(second instanceof DataStream) || second.env !== first.env) {
      throw new ConfigError(
        'connect: expected a DataStream of the same job (or a broadcast(descriptor) stream)',
      );
    }
    this.first = first;
    this.second = second;
  }

  /** @internal */
  get emitsTimestamps(): boolean {
    return this.first.hasTimestamps && this.second.hasTimestamps;
  }

  /** @internal */
  add<R>(kind: string, operator: CoOperatorSpec, keySelector?: (value: never) => Key): SingleOutputStream<R> {
    return addTwoInputNode<R>(
      kind,
      this.first as DataStream<unknown>,
      this.second as DataStream<unknown>,
      operator,
      {
        ...(keySelector === undefined ? {} : { keySelector }),
        emitsTimestamps: this.emitsTimestamps,
      },
    );
  }

  /** One output record per input record, by `map1` for the first input and `map2` for the second. */
  map<R>(fn: CoMapFunction<A, B, R>): SingleOutputStream<R> {
    requireMethods(fn, 'connect(...).map', ['map1', 'map2']);
    return this.add<R>('coMap', { kind: 'coMap', fn: fn as CoMapFunction<unknown, unknown, unknown> });
  }

  /** Any number of output records per input record, as `flatMap`. */
  flatMap<R>(fn: CoFlatMapFunction<A, B, R>): SingleOutputStream<R> {
    requireMethods(fn, 'connect(...).flatMap', ['flatMap1', 'flatMap2']);
    return this.add<R>('coFlatMap', {
      kind: 'coFlatMap',
      fn: fn as CoFlatMapFunction<unknown, unknown, unknown>,
    });
  }

  /** Each record of either input with its timestamp and a context (side outputs, time). */
  process<R>(fn: CoProcessFunction<A, B, R>): SingleOutputStream<R> {
    requireMethods(fn, 'connect(...).process', ['processElement1', 'processElement2']);
    return this.add<R>('coProcess', {
      kind: 'coProcess',
      fn: fn as CoProcessFunction<unknown, unknown, unknown>,
    });
  }

  /**
   * Partitions both inputs by key, one selector each (the keys must be of the same type): records of
   * either input with equal keys meet in the same subtask, and keyed state and timers are shared.
   */
  keyBy<K extends Key>(
    keySelector1: KeySelector<A, K>,
    keySelector2: KeySelector<B, K>,
  ): KeyedConnectedStreams<K, A, B> {
    for (const [selector, which] of [
      [keySelector1, 'first'],
      [keySelector2, 'second'],
    ] as const) {
      if (typeof selector !== 'function') {
        throw new ConfigError(
          `connect(...).keyBy: expected a key selector function for the ${which} input, got ${typeof selector}`,
        );
      }
    }
    const first = this.first;
    const second = this.second;
    return new KeyedConnectedStreams<K, A, B>(
      new KeyedStream<K, A>(
        first.env,
        inputsWith(first.inputs, { kind: 'hash', keySelector: keySelector1 as (value: never) => Key }),
        first.hasTimestamps,
        keySelector1,
      ),
      new KeyedStream<K, B>(
        second.env,
        inputsWith(second.inputs, { kind: 'hash', keySelector: keySelector2 as (value: never) => Key }),
        second.hasTimestamps,
        keySelector2,
      ),
    );
  }
}

/**
 * Two connected streams partitioned by key: `process` takes a KeyedCoProcessFunction, whose keyed
 * state and timers belong to the key of the record (of either input) or timer being processed.
 */
export class KeyedConnectedStreams<K extends Key, A, B> extends ConnectedStreams<A, B> {
  /** @internal */
  constructor(first: KeyedStream<K, A>, second: KeyedStream<K, B>) {
    super(first, second);
  }

  /** A KeyedCoProcessFunction: keyed state shared by both inputs, event- and processing-time timers. */
  // One parameter type, not a union with CoProcessFunction (which it accepts anyway): a union
  // leaves an object literal's parameters untyped.
  override process<R>(fn: KeyedCoProcessFunction<K, A, B, R>): SingleOutputStream<R> {
    requireMethods(fn, 'connect(...).process', ['processElement1', 'processElement2']);
    const first = this.first as KeyedStream<K, A>;
    const second = this.second as KeyedStream<K, B>;
    return this.add<R>(
      'coProcess',
      {
        kind: 'keyedCoProcess',
        fn: fn as KeyedCoProcessFunction<Key, unknown, unknown, unknown>,
        keySelector2: second.keySelector as (value: unknown) => Key,
      },
      first.keySelector as (value: never) => Key,
    );
  }
}
