import type { ResolvedAsyncOptions } from '../contracts/async-io.ts';
import type {
  AggregateFunction,
  FilterFunction,
  FlatMapFunction,
  KeyedProcessFunction,
  MapFunction,
  ProcessFunction,
  ProcessWindowFunction,
  ReduceFunction,
  WatermarkOptions,
  WindowResultFunction,
} from '../contracts/functions.ts';
import type { ProcessJoinFunction } from '../contracts/join-functions.ts';
import type { Sink } from '../contracts/sink.ts';
import type { Source } from '../contracts/source.ts';
import type { Evictor } from '../contracts/window-evictor.ts';
import type { Trigger } from '../contracts/window-trigger.ts';
import type { Key } from '../state/key-groups.ts';
import type { WindowAssigner } from '../time/windows.ts';
import type { CoOperatorSpec } from './co-operator-spec.ts';

/** How records move from one operator's subtasks to the next operator's subtasks. */
export type PartitionerSpec =
  | { readonly kind: 'forward' }
  | { readonly kind: 'rebalance' }
  | { readonly kind: 'broadcast' }
  | { readonly kind: 'hash'; readonly keySelector: (value: never) => Key }
  /** forward when both sides have the same parallelism, else rebalance (Flink's default). */
  | { readonly kind: 'default' };

export interface StreamInput {
  readonly nodeIndex: number;
  /** The side output of the upstream node this input reads, or undefined for its main output. */
  readonly sideOutput: string | undefined;
  readonly partitioner: PartitionerSpec;
}

export type NodeRole = 'source' | 'operator' | 'sink';

/** How a window turns its records into output: one accumulator per key and window, or all of them at once. */
export type WindowFunctionSpec =
  | {
      readonly kind: 'reduce';
      readonly reduce: ReduceFunction<unknown>;
      readonly result: WindowResultFunction<unknown, unknown, Key> | undefined;
    }
  | {
      readonly kind: 'aggregate';
      readonly aggregate: AggregateFunction<unknown, unknown, unknown>;
      readonly result: WindowResultFunction<unknown, unknown, Key> | undefined;
    }
  | { readonly kind: 'process'; readonly process: ProcessWindowFunction<unknown, unknown, Key> };

/**
 * What an operator does, as the API recorded it: a kind and the user's function or options. The
 * runtime builds the operator from it (`createOperator` in `runtime/operators/index.ts`, once per
 * subtask when a slot deploys), so the API and the plan never name an operator class. The keyed
 * kinds (`keyedProcess`, `reduce`, `window`) get their node's key selector there.
 */
export type OperatorSpec =
  | { readonly kind: 'map'; readonly fn: MapFunction<unknown, unknown> }
  | { readonly kind: 'flatMap'; readonly fn: FlatMapFunction<unknown, unknown> }
  | { readonly kind: 'filter'; readonly fn: FilterFunction<unknown> }
  | { readonly kind: 'process'; readonly fn: ProcessFunction<unknown, unknown> }
  | { readonly kind: 'keyedProcess'; readonly fn: KeyedProcessFunction<Key, unknown, unknown> }
  | { readonly kind: 'reduce'; readonly fn: ReduceFunction<unknown> }
  | {
      readonly kind: 'window';
      readonly assigner: WindowAssigner;
      readonly fn: WindowFunctionSpec;
      readonly allowedLatenessMs: number;
      /** The side output late records go to, by tag id; undefined: they are dropped and counted. */
      readonly lateTag: string | undefined;
      /** Set by `.trigger(...)`; undefined: the assigner's default trigger. */
      readonly trigger?: Trigger<unknown> | undefined;
      /** Set by `.evictor(...)`. */
      readonly evictor?: Evictor<unknown> | undefined;
    }
  | { readonly kind: 'timestamps'; readonly options: WatermarkOptions<unknown> }
  | { readonly kind: 'sink'; readonly sink: Sink<unknown> }
  | CoOperatorSpec
  | {
      readonly kind: 'intervalJoin';
      readonly fn: ProcessJoinFunction<unknown, unknown, unknown>;
      readonly bounds: IntervalJoinBounds;
      /** The side outputs late left and right records go to, by tag id; undefined: dropped and counted. */
      readonly leftLateTag: string | undefined;
      readonly rightLateTag: string | undefined;
    }
  | {
      readonly kind: 'async';
      readonly fn: (value: unknown) => unknown;
      readonly options: ResolvedAsyncOptions;
      /** Whether each result is an iterable of records (`flatMapAsync`) rather than one record. */
      readonly flat: boolean;
    };

/** Which right timestamps a left record at `t` joins: from `t + lowerMs` to `t + upperMs`. */
export interface IntervalJoinBounds {
  readonly lowerMs: number;
  readonly upperMs: number;
  readonly lowerInclusive: boolean;
  readonly upperInclusive: boolean;
}

/**
 * One operator of the logical graph as the API builds it. Functions live here, which is why the
 * graph is rebuilt by importing the job module in every worker rather than shipped to it.
 */
export interface StreamNode {
  readonly index: number;
  readonly role: NodeRole;
  /**
   * Short kind ('map', 'window', ...), used in default ids and plans. Not always the operator's
   * kind: a keyed `process` is 'process' here (ids stay as they were) and 'keyedProcess' there.
   */
  readonly kind: string;
  name: string;
  uid: string | undefined;
  /** Set by `setParallelism`; undefined means the job's default. */
  parallelism: number | undefined;
  readonly inputs: readonly StreamInput[];
  /** Keyed operators: the key selector their input is partitioned by. */
  readonly keySelector: ((value: never) => Key) | undefined;
  /** Whether records leaving this node carry event timestamps. */
  readonly emitsTimestamps: boolean;
  /** Set on operators that cannot work without event timestamps (event-time windows). */
  readonly requiresTimestamps: string | undefined;
  readonly source: Source<unknown> | undefined;
  readonly sink: Sink<unknown> | undefined;
  /** Side outputs this node can emit, by tag id. */
  readonly sideOutputs: Set<string>;
  /** What the operator does; undefined for sources (their task polls the source's reader). */
  readonly operator: OperatorSpec | undefined;
  /** The most parallel subtasks this node can run (a source's or sink's limit). */
  readonly parallelismLimit: number | undefined;
  /** Two-input operators (`connect`): where the second input starts in `inputs`; undefined for one input. */
  readonly twoInput?: TwoInputLayout;
}

/**
 * How a two-input operator's `inputs` split into its two sides: `inputs[0, secondInputStart)`
 * feed `processElement1`, the rest `processElement2`. A side may be several inputs (a union).
 */
export interface TwoInputLayout {
  readonly secondInputStart: number;
  /** The second side is a broadcast stream: every subtask reads all of it, keyed operator or not. */
  readonly secondIsBroadcast: boolean;
}

/** Which side of its node input `inputIndex` feeds: 0 for the first (or only) input, 1 for the second. */
export function inputSideOf(node: Pick<StreamNode, 'twoInput'>, inputIndex: number): 0 | 1 {
  return node.twoInput !== undefined && inputIndex >= node.twoInput.secondInputStart ? 1 : 0;
}

export function defaultNodeId(node: Pick<StreamNode, 'kind' | 'index'>): string {
  return `${node.kind}-${node.index}`;
}

export function nodeId(node: Pick<StreamNode, 'kind' | 'index' | 'uid'>): string {
  return node.uid ?? defaultNodeId(node);
}
