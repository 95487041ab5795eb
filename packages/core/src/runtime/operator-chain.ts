import type { RecordWriter } from '../channels/record-writer.ts';
import type { RuntimeContext } from '../contracts/functions.ts';
import type { Logger } from '../contracts/logger.ts';
import type { OperatorCounters } from '../metrics/operator-counters.ts';
import type { SubtaskRef } from '../plan/execution-plan.ts';
import type { StreamNode } from '../plan/stream-node.ts';
import type { KeyedStateBackend } from '../state/backend/keyed-state-backend.ts';
import type { Key } from '../state/key-groups.ts';
import type { Clock } from '../time/clock.ts';
import { InternalTimerService } from '../time/timer-service.ts';
import { type Consumer, type FailureTracker, outputFor, recordsOutOf } from './chain-outputs.ts';
import type { StateLookup } from './checkpointing.ts';
import {
  type KeyedContext,
  newFiringTimer,
  type OperatorMetrics,
  type Output,
  type StreamOperator,
} from './operator.ts';
import { createOperator } from './operators/index.ts';
import type { ChainMember } from './task.ts';

/** One subtask of a task (a vertex of the job graph): the chained nodes and where it runs. */
export interface ChainSpec {
  readonly jobName: string;
  readonly maxParallelism: number;
  /** The graph's nodes as the API built them (functions, specs, inputs), by node index. */
  readonly nodes: readonly StreamNode[];
  /** Each node's resolved id and name (`StreamGraph`), by node index. */
  readonly ids: readonly { readonly id: string; readonly name: string }[];
  /** The chain's node indices, parents before children; the first is the head. */
  readonly chain: readonly number[];
  readonly head: number;
  readonly subtask: SubtaskRef;
  /** Windows whose input is pre-aggregated before the exchange: they merge partials (`JobEdge.localAggregation`). */
  readonly mergesPartials?: ReadonlySet<number>;
}

/** What a chain needs from the slot that deploys it. */
export interface ChainEnvironment {
  /** The record writers a node's output (or side output) feeds outside the chain. */
  readonly writersOf: (node: number, sideOutput: string | undefined) => readonly RecordWriter[];
  /** A keyed operator's state backend (heap or LevelDB) over the subtask's key groups. */
  readonly keyedBackend: (operatorId: string) => KeyedStateBackend;
  readonly clock: Clock;
  readonly sendToCoordinator: (channel: string, payload: unknown, commitKey?: string) => void;
  readonly sendOnSuccess: (channel: string, payload: unknown) => void;
  readonly checkpointing: boolean;
  /** After a restore: the state of an operator's subtask. */
  readonly restore: StateLookup | undefined;
  /** The slot's logger; each operator gets a child bound to its id and subtask. */
  readonly logger: Logger;
  /** An operator has work from outside a step (see `OperatorSetup.wake`): step its task soon. */
  readonly wake: () => void;
  /** A node's counters: its cells of the attempt's metrics array (`metrics/metrics-layout.ts`). */
  readonly counters: (node: number) => OperatorCounters;
}

export interface MemberInfo {
  readonly id: string;
  readonly name: string;
  readonly metrics: OperatorMetrics;
  /** A keyed operator's state entries in memory (sampled for metrics); absent when not keyed. */
  readonly stateEntries: (() => number) | undefined;
}

/** The operators of one subtask, set up, restored and wired to each other and to the writers. */
export interface OperatorChain {
  /** The operators in chain order (a source node has none). */
  readonly members: readonly ChainMember[];
  /** Every node of the chain, the source included, by node index: for failures and metrics. */
  readonly info: ReadonlyMap<number, MemberInfo>;
  /** Which operator is running and on which record (set by the chained outputs). */
  readonly tracker: FailureTracker;
  /** The output of a node: the chained operators after it and the writers it feeds. */
  outputOf(node: number): Output;
}

/**
 * Builds a subtask's chain (Flink's OperatorChain): one operator per node from its spec
 * (`createOperator`), each set up with its output — the next operators in the chain called
 * directly, and the record writers to other tasks — its runtime context, its keyed state and
 * timers when keyed, and its state restored from the checkpoint when there is one.
 */
export function buildOperatorChain(spec: ChainSpec, env: ChainEnvironment): OperatorChain {
  const { nodes, subtask } = spec;
  const tracker: FailureTracker = {
    node: spec.head,
    record: undefined,
    hasRecord: false,
    timer: newFiringTimer(),
  };
  const operators = new Map<number, StreamOperator<unknown, unknown>>();
  for (const index of spec.chain) {
    const node = nodes[index]!;
    if (node.operator !== undefined) {
      operators.set(
        index,
        createOperator(node.operator, node.keySelector as ((value: unknown) => Key) | undefined, {
          mergesPartials: spec.mergesPartials?.has(index) === true,
        }),
      );
    }
  }

  const consumersOf = (index: number, sideOutput: string | undefined): Consumer[] => {
    const consumers: Consumer[] = [];
    for (const member of spec.chain) {
      const input = nodes[member]!.inputs[0];
      if (member === spec.head || input === undefined) continue;
      if (input.nodeIndex === index && input.sideOutput === sideOutput) {
        consumers.push({
          kind: 'operator',
          node: member,
          operator: operators.get(member)!,
          checked: chainedAtThisParallelismOnly(nodes[index]!, nodes[member]!),
          counters: env.counters(member),
        });
      }
    }
    for (const writer of env.writersOf(index, sideOutput)) consumers.push({ kind: 'writer', writer });
    return consumers;
  };
  const outputOf = (index: number): Output => {
    const counts = recordsOutOf(env.counters(index));
    const side = new Map<string, Output>();
    for (const tag of nodes[index]!.sideOutputs) {
      side.set(tag, outputFor(consumersOf(index, tag), tracker, counts));
    }
    return outputFor(consumersOf(index, undefined), tracker, counts, side);
  };

  const members: ChainMember[] = [];
  const info = new Map<number, MemberInfo>();
  for (const index of spec.chain) {
    const { id, name } = spec.ids[index]!;
    const metrics = env.counters(index);
    const operator = operators.get(index);
    if (operator === undefined) {
      info.set(index, { id, name, metrics, stateEntries: undefined });
      continue;
    }
    const runtime: RuntimeContext = {
      jobName: spec.jobName,
      operatorId: id,
      subtaskIndex: subtask.subtaskIndex,
      parallelism: subtask.parallelism,
      maxParallelism: spec.maxParallelism,
      logger: env.logger.child({ operator: id, subtask: subtask.subtaskIndex }),
    };
    const keyed: KeyedContext | undefined =
      nodes[index]!.keySelector === undefined
        ? undefined
        : { backend: env.keyedBackend(id), timers: new InternalTimerService<Key>() };
    const backend = keyed?.backend;
    info.set(index, {
      id,
      name,
      metrics,
      stateEntries:
        backend?.inMemoryStateEntries === undefined ? undefined : () => backend.inMemoryStateEntries!(),
    });
    operator.setup({
      output: outputOf(index),
      runtime,
      metrics,
      keyed,
      clock: env.clock,
      sendToCoordinator: env.sendToCoordinator,
      sendOnSuccess: env.sendOnSuccess,
      checkpointing: env.checkpointing,
      restoredCheckpointId: env.restore?.checkpointId,
      wake: env.wake,
      firingTimer: tracker.timer,
    });
    const restored = env.restore?.(id, subtask.subtaskIndex, subtask.parallelism, subtask.keyGroups);
    if (restored !== undefined && operator.restoreState !== undefined) operator.restoreState(restored);
    members.push({ node: index, operatorId: id, operatorName: name, operator, metrics });
  }
  return { members, info, tracker, outputOf };
}

/**
 * Whether two chained nodes are chained only at the job's current parallelism: one has a
 * parallelism of its own (`setParallelism`) and the other runs at the job's, so at any other job
 * parallelism they are two tasks and their records cross (see `plan/job-graph.ts`). Two nodes at
 * the job's parallelism, or both set to the same one, are chained at every parallelism.
 */
export function chainedAtThisParallelismOnly(upstream: StreamNode, downstream: StreamNode): boolean {
  return (upstream.parallelism === undefined) !== (downstream.parallelism === undefined);
}
