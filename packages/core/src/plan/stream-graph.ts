import { PlanError } from '../errors.ts';
import { MAX_MAX_PARALLELISM } from '../state/key-groups.ts';
import { isPreAggregatable } from './local-aggregation.ts';
import { inputSideOf, nodeId, type StreamNode } from './stream-node.ts';

export type PartitionerKind = 'forward' | 'rebalance' | 'broadcast' | 'hash';

/** A node of the logical graph after defaults are applied: plain data, printable. */
export interface ResolvedNode {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly role: StreamNode['role'];
  readonly parallelism: number;
  readonly keyed: boolean;
  readonly inputs: readonly ResolvedInput[];
  /** A window whose input may be pre-aggregated before the exchange (`local-aggregation.ts`). */
  readonly preAggregatable: boolean;
}

export interface ResolvedInput {
  readonly nodeIndex: number;
  readonly sideOutput: string | undefined;
  readonly partitioner: PartitionerKind;
}

/** The logical graph of a job: every operator with its parallelism and how its inputs are partitioned. */
export interface StreamGraph {
  readonly jobName: string;
  readonly maxParallelism: number;
  readonly nodes: readonly ResolvedNode[];
}

/**
 * Resolves defaults and rejects graphs that cannot run, naming the operator at fault. Runs
 * before any thread starts, so a bad job fails fast and cheaply.
 */
/** What the API records while a job's build function runs. */
export interface LogicalGraph {
  readonly jobName: string;
  readonly parallelism: number;
  readonly maxParallelism: number;
  readonly nodes: readonly StreamNode[];
}

export function resolveStreamGraph(env: LogicalGraph): StreamGraph {
  const { maxParallelism } = env;
  if (!Number.isInteger(maxParallelism) || maxParallelism < 1 || maxParallelism > MAX_MAX_PARALLELISM) {
    throw new PlanError(
      `maxParallelism must be an integer from 1 to ${MAX_MAX_PARALLELISM}, got ${maxParallelism}`,
    );
  }
  if (env.nodes.length === 0) throw new PlanError(`job '${env.jobName}' defines no operators`);
  if (!env.nodes.some((n) => n.role === 'sink')) {
    throw new PlanError(
      `job '${env.jobName}' has no sink: add sinkTo(...), print() or collect() at the end of a pipeline`,
    );
  }

  const seenIds = new Map<string, StreamNode>();
  const resolved: ResolvedNode[] = [];
  for (const node of env.nodes) {
    const id = nodeId(node);
    const clash = seenIds.get(id);
    if (clash !== undefined) {
      throw new PlanError(
        `operator id '${id}' is used twice (by '${clash.name}' and '${node.name}'): uids must be unique`,
        id,
      );
    }
    seenIds.set(id, node);

    const parallelism = node.parallelism ?? env.parallelism;
    if (!Number.isInteger(parallelism) || parallelism < 1) {
      throw new PlanError(`operator '${id}': parallelism must be an integer >= 1, got ${parallelism}`, id);
    }
    if (parallelism > maxParallelism) {
      throw new PlanError(
        `operator '${id}': parallelism ${parallelism} exceeds maxParallelism ${maxParallelism} (the number of key groups); raise maxParallelism or lower the parallelism`,
        id,
      );
    }
    if (node.parallelismLimit !== undefined && parallelism > node.parallelismLimit) {
      throw new PlanError(
        `operator '${id}' (${node.name}) supports at most parallelism ${node.parallelismLimit}, got ${parallelism}`,
        id,
      );
    }

    const inputs: ResolvedInput[] = [];
    for (const input of node.inputs) {
      const upstream = resolved[input.nodeIndex];
      if (upstream === undefined)
        throw new Error(`bug: node ${node.index} reads node ${input.nodeIndex}, not yet resolved`);
      let partitioner: PartitionerKind;
      switch (input.partitioner.kind) {
        case 'default':
          partitioner = upstream.parallelism === parallelism ? 'forward' : 'rebalance';
          break;
        case 'forward':
          if (upstream.parallelism !== parallelism) {
            throw new PlanError(
              `operator '${id}' reads '${upstream.id}' with forward partitioning, but their parallelisms differ (${upstream.parallelism} vs ${parallelism}); use rebalance()`,
              id,
            );
          }
          partitioner = 'forward';
          break;
        default:
          partitioner = input.partitioner.kind;
      }
      if (input.sideOutput !== undefined && !env.nodes[input.nodeIndex]!.sideOutputs.has(input.sideOutput)) {
        throw new Error(`bug: side output '${input.sideOutput}' not registered on '${upstream.id}'`);
      }
      inputs.push({ nodeIndex: input.nodeIndex, sideOutput: input.sideOutput, partitioner });
    }

    // A keyed two-input operator may read a broadcast stream as its second input (broadcast state).
    const keyedInput = (i: ResolvedInput, index: number): boolean =>
      i.partitioner === 'hash' ||
      (node.twoInput?.secondIsBroadcast === true && inputSideOf(node, index) === 1);
    if (node.keySelector !== undefined && !inputs.every(keyedInput)) {
      throw new PlanError(`keyed operator '${id}' must read a keyed stream: call keyBy(...) before it`, id);
    }
    if (node.requiresTimestamps !== undefined) {
      const missing = node.inputs.find((i) => !env.nodes[i.nodeIndex]!.emitsTimestamps);
      if (missing !== undefined) {
        throw new PlanError(
          `operator '${id}' uses ${node.requiresTimestamps}, but its input '${nodeId(env.nodes[missing.nodeIndex]!)}' carries no event timestamps: call assignTimestamps(...) upstream, or use processing-time windows`,
          id,
        );
      }
    }
    resolved.push({
      index: node.index,
      id,
      name: node.name,
      kind: node.kind,
      role: node.role,
      parallelism,
      keyed: node.keySelector !== undefined,
      inputs,
      preAggregatable: isPreAggregatable(node),
    });
  }
  return { jobName: env.jobName, maxParallelism, nodes: resolved };
}
