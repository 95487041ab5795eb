import type { Sink } from '../contracts/sink.ts';
import type { Source } from '../contracts/source.ts';
import type { StreamOperator } from '../runtime/operator.ts';
import type { Key } from '../state/key-groups.ts';

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

/**
 * One operator of the logical graph as the API builds it. Functions live here, which is why the
 * graph is rebuilt by importing the job module in every worker rather than shipped to it.
 */
export interface StreamNode {
  readonly index: number;
  readonly role: NodeRole;
  /** Short kind ('map', 'window', ...), used in default ids and plans. */
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
  readonly createOperator: (() => StreamOperator<unknown, unknown>) | undefined;
  /** The most parallel subtasks this node can run (a source's or sink's limit). */
  readonly parallelismLimit: number | undefined;
}

export function defaultNodeId(node: Pick<StreamNode, 'kind' | 'index'>): string {
  return `${node.kind}-${node.index}`;
}

export function nodeId(node: Pick<StreamNode, 'kind' | 'index' | 'uid'>): string {
  return node.uid ?? defaultNodeId(node);
}
