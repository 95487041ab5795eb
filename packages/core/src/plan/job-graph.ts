import type { PartitionerKind, StreamGraph } from './stream-graph.ts';

/**
 * A chain of operators that run in one task, calling each other directly. The chain is a tree:
 * `head` reads the network inputs; every other member reads exactly one member of the chain.
 */
export interface JobVertex {
  readonly index: number;
  /** The id of the chain's head operator. */
  readonly id: string;
  readonly name: string;
  readonly parallelism: number;
  readonly head: number;
  /** Stream-graph node indices in creation order (parents before children). */
  readonly nodes: readonly number[];
  /** The ids of those nodes, in the same order. */
  readonly operatorIds: readonly string[];
  readonly isSource: boolean;
}

/** Records crossing from one task to another: through channels between threads. */
export interface JobEdge {
  readonly index: number;
  readonly sourceVertex: number;
  /** The producing node inside the source vertex. */
  readonly sourceNode: number;
  readonly sideOutput: string | undefined;
  readonly targetVertex: number;
  readonly targetNode: number;
  /** Which of the target node's inputs this edge is (an index into its `inputs`): a two-input operator's side. */
  readonly targetInput: number;
  readonly partitioner: PartitionerKind;
  /**
   * Records are pre-aggregated in the producing subtask before this (hash) edge: it carries
   * partial accumulators per key and window, which the target window merges.
   */
  readonly localAggregation: boolean;
}

export interface JobGraph {
  readonly jobName: string;
  readonly maxParallelism: number;
  readonly vertices: readonly JobVertex[];
  readonly edges: readonly JobEdge[];
  /** For every stream-graph node, the vertex it runs in. */
  readonly vertexOfNode: readonly number[];
}

export interface JobGraphOptions {
  readonly chaining: boolean;
  /** Pre-aggregate the input of eligible windows before their exchange (default true). */
  readonly localAggregation?: boolean;
}

/**
 * Chains operators the way Flink does: a node joins its input's chain when it has exactly one
 * input, read with forward partitioning at the same parallelism. Chained calls cost a function
 * call; network edges cost encoding, a ring and decoding. The hash edges into a window that
 * can merge partial accumulators carry them instead of records (`local-aggregation.ts`): the
 * local aggregation runs at the end of the producing chain, before the exchange.
 */
export function buildJobGraph(graph: StreamGraph, options: JobGraphOptions = { chaining: true }): JobGraph {
  const localAggregation = options.localAggregation ?? true;
  const vertexOfNode: number[] = [];
  const vertexNodes: number[][] = [];
  for (const node of graph.nodes) {
    const only = node.inputs.length === 1 ? node.inputs[0]! : undefined;
    const chainable =
      options.chaining &&
      only !== undefined &&
      only.partitioner === 'forward' &&
      graph.nodes[only.nodeIndex]!.parallelism === node.parallelism;
    if (chainable) {
      const vertex = vertexOfNode[only.nodeIndex]!;
      vertexOfNode.push(vertex);
      vertexNodes[vertex]!.push(node.index);
    } else {
      vertexOfNode.push(vertexNodes.length);
      vertexNodes.push([node.index]);
    }
  }
  const vertices: JobVertex[] = vertexNodes.map((nodes, index) => {
    const head = graph.nodes[nodes[0]!]!;
    return {
      index,
      id: head.id,
      name: nodes.map((n) => graph.nodes[n]!.name).join(' -> '),
      parallelism: head.parallelism,
      head: head.index,
      nodes,
      operatorIds: nodes.map((n) => graph.nodes[n]!.id),
      isSource: head.role === 'source',
    };
  });
  const edges: JobEdge[] = [];
  for (const node of graph.nodes) {
    for (let targetInput = 0; targetInput < node.inputs.length; targetInput++) {
      const input = node.inputs[targetInput]!;
      const sourceVertex = vertexOfNode[input.nodeIndex]!;
      const targetVertex = vertexOfNode[node.index]!;
      if (sourceVertex === targetVertex) continue;
      edges.push({
        index: edges.length,
        sourceVertex,
        sourceNode: input.nodeIndex,
        sideOutput: input.sideOutput,
        targetVertex,
        targetNode: node.index,
        targetInput,
        partitioner: input.partitioner,
        // Every input of a keyed window is hash-partitioned (the stream graph checks it).
        localAggregation: localAggregation && node.preAggregatable && input.partitioner === 'hash',
      });
    }
  }
  return { jobName: graph.jobName, maxParallelism: graph.maxParallelism, vertices, edges, vertexOfNode };
}
