import type { BroadcastProcessFunction, KeyedBroadcastProcessFunction } from '../contracts/co-functions.ts';
import { ConfigError } from '../errors.ts';
import type { AnyMapStateDescriptor } from '../plan/co-operator-spec.ts';
import type { StreamInput } from '../plan/stream-node.ts';
import type { Key } from '../state/key-groups.ts';
import { addTwoInputNode, requireMethods } from './connected-streams.ts';
import { DataStream, type KeyedStream, type SingleOutputStream } from './data-stream.ts';
import type { StreamExecutionEnvironment } from './environment.ts';

/**
 * A stream every subtask of the next operator reads in full, with the broadcast state it keeps
 * (`stream.broadcast(descriptor, ...)`). It has no operators of its own: connect another stream
 * to it (`events.connect(rules)`) and process both with a broadcast process function.
 */
export class BroadcastStream<T> {
  /** @internal */
  readonly stream: DataStream<T>;
  /** @internal */
  readonly descriptors: readonly AnyMapStateDescriptor[];

  /** @internal */
  constructor(
    env: StreamExecutionEnvironment,
    inputs: readonly StreamInput[],
    hasTimestamps: boolean,
    descriptors: readonly AnyMapStateDescriptor[],
  ) {
    const names = new Set<string>();
    for (const [i, descriptor] of descriptors.entries()) {
      if (descriptor === null || typeof descriptor !== 'object' || descriptor.kind !== 'map') {
        throw new ConfigError(
          `broadcast: argument ${i + 1} must be a map state descriptor made by mapState(name), got ${descriptor === null ? 'null' : typeof descriptor === 'object' ? `a '${String((descriptor as { kind?: unknown }).kind)}' descriptor` : typeof descriptor}`,
        );
      }
      if (names.has(descriptor.name)) {
        throw new ConfigError(
          `broadcast: the broadcast state '${descriptor.name}' is declared twice; give each its own name`,
        );
      }
      names.add(descriptor.name);
    }
    this.stream = new DataStream<T>(env, inputs, hasTimestamps);
    this.descriptors = descriptors;
  }
}

/** A non-keyed stream connected to a broadcast stream (Flink's `BroadcastConnectedStream`). */
export class BroadcastConnectedStream<IN, BC> {
  /** @internal */
  readonly first: DataStream<IN>;
  /** @internal */
  readonly broadcast: BroadcastStream<BC>;

  /** @internal */
  constructor(first: DataStream<IN>, broadcast: BroadcastStream<BC>) {
    if (broadcast.stream.env !== first.env) {
      throw new ConfigError('connect: the broadcast stream belongs to another job');
    }
    this.first = first;
    this.broadcast = broadcast;
  }

  /**
   * `processElement` for each record of this stream (broadcast state read-only),
   * `processBroadcastElement` for each broadcast record, on every subtask (read-write).
   * The output carries the timestamps of this stream's records.
   */
  process<OUT>(fn: BroadcastProcessFunction<IN, BC, OUT>): SingleOutputStream<OUT> {
    requireMethods(fn, 'connect(broadcast).process', ['processElement', 'processBroadcastElement']);
    return addTwoInputNode<OUT>(
      'broadcastProcess',
      this.first as DataStream<unknown>,
      this.broadcast.stream as DataStream<unknown>,
      {
        kind: 'broadcastProcess',
        fn: fn as BroadcastProcessFunction<unknown, unknown, unknown>,
        descriptors: this.broadcast.descriptors,
      },
      { secondIsBroadcast: true, emitsTimestamps: this.first.hasTimestamps },
    );
  }
}

/**
 * A keyed stream connected to a broadcast stream: the dynamic-rules pattern. `process` takes a
 * KeyedBroadcastProcessFunction: keyed state and timers on the keyed side, `applyToKeyedState`
 * on the broadcast side.
 */
export class KeyedBroadcastConnectedStream<K extends Key, IN, BC> extends BroadcastConnectedStream<IN, BC> {
  /** @internal */
  constructor(first: KeyedStream<K, IN>, broadcast: BroadcastStream<BC>) {
    super(first, broadcast);
  }

  // One parameter type (a BroadcastProcessFunction is accepted too): a union would leave an object
  // literal's parameters untyped.
  override process<OUT>(fn: KeyedBroadcastProcessFunction<K, IN, BC, OUT>): SingleOutputStream<OUT> {
    requireMethods(fn, 'connect(broadcast).process', ['processElement', 'processBroadcastElement']);
    const keyed = this.first as KeyedStream<K, IN>;
    return addTwoInputNode<OUT>(
      'broadcastProcess',
      keyed as DataStream<unknown>,
      this.broadcast.stream as DataStream<unknown>,
      {
        kind: 'keyedBroadcastProcess',
        fn: fn as KeyedBroadcastProcessFunction<Key, unknown, unknown, unknown>,
        descriptors: this.broadcast.descriptors,
      },
      {
        keySelector: keyed.keySelector as (value: never) => Key,
        secondIsBroadcast: true,
        emitsTimestamps: keyed.hasTimestamps,
      },
    );
  }
}
