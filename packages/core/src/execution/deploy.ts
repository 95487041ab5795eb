import { join } from 'node:path';
import { ChannelFactory, type ChannelResources } from '../channels/channel-factory.ts';
import { InputGate } from '../channels/input-gate.ts';
import { RecordWriter } from '../channels/record-writer.ts';
import type { RuntimeContext } from '../contracts/functions.ts';
import type { SourceReader } from '../contracts/source.ts';
import { ConfigError } from '../errors.ts';
import { inputChannelsOf, outputChannelsOf } from '../plan/execution-plan.ts';
import type { StreamNode } from '../plan/stream-node.ts';
import { type Consumer, type FailureTracker, outputFor } from '../runtime/chain-outputs.ts';
import type { StateLookup } from '../runtime/checkpointing.ts';
import type { KeyedContext, OperatorMetrics, Output, StreamOperator } from '../runtime/operator.ts';
import { createOperator } from '../runtime/operators/index.ts';
import { type ChainMember, type CheckpointHooks, Task } from '../runtime/task.ts';
import { HeapKeyedStateBackend } from '../state/heap/heap-keyed-state-backend.ts';
import type { Key } from '../state/key-groups.ts';
import type { LevelStoreClient } from '../state/leveldb/level-store/level-store-client.ts';
import { LevelDbKeyedStateBackend } from '../state/leveldb/leveldb-keyed-state-backend.ts';
import type { Clock } from '../time/clock.ts';
import { InternalTimerService } from '../time/timer-service.ts';
import type { ExecutionConfig } from './execution-config.ts';
import type { StateBackendAssignment } from './messages.ts';
import type { PlannedJob } from './planner.ts';

/** The attempt's shared memory for channels: every channel's ring and every slot's doorbell. */
export type SlotResources = ChannelResources;

export interface DeployedTask {
  readonly task: Task;
  readonly tracker: FailureTracker;
  readonly members: ReadonlyMap<number, { id: string; name: string; metrics: OperatorMetrics }>;
}

export interface DeployOptions {
  readonly job: PlannedJob;
  readonly slotIndex: number;
  readonly resources: SlotResources;
  readonly config: ExecutionConfig;
  readonly clock: Clock;
  readonly sendToCoordinator: (channel: string, payload: unknown, commitKey?: string) => void;
  readonly sendOnSuccess: (channel: string, payload: unknown) => void;
  /** When the job takes checkpoints. */
  readonly checkpoints: CheckpointHooks | undefined;
  /** When the job resumes from a checkpoint: the state of one operator's subtask, by key-group range. */
  readonly restore: StateLookup | undefined;
  readonly stateBackend: StateBackendAssignment;
  /** With the LevelDB backend: serves the databases (in the LevelDB host thread). */
  readonly levelStores: LevelStoreClient | undefined;
}

/** Builds the tasks of one slot from the rebuilt graph: operators, chains, channels, state. */
export function deploySlot(options: DeployOptions): DeployedTask[] {
  const { job, slotIndex, resources, config, clock } = options;
  const { plan, streamGraph, env } = job;
  const jobGraph = plan.jobGraph;
  const slot = plan.slots[slotIndex];
  if (slot === undefined) throw new Error(`bug: no slot ${slotIndex} in the plan`);
  const deployed: DeployedTask[] = [];
  const channelFactory = new ChannelFactory({
    slotIndex,
    resources,
    channelCapacityBytes: config.channelCapacityBytes,
    batchSize: config.batchSize,
  });

  for (const { vertex: vertexIndex, subtaskIndex, keyGroups } of slot.subtasks) {
    const vertex = jobGraph.vertices[vertexIndex]!;
    const tracker: FailureTracker = { node: vertex.head, record: undefined, hasRecord: false };
    const operators = new Map<number, StreamOperator<unknown, unknown>>();
    for (const nodeIndex of vertex.nodes) {
      const node = env.nodes[nodeIndex]!;
      if (node.operator !== undefined) {
        const keySelector = node.keySelector as ((value: unknown) => Key) | undefined;
        operators.set(nodeIndex, createOperator(node.operator, keySelector));
      }
    }

    const writersBySource = new Map<string, RecordWriter[]>();
    const writers: RecordWriter[] = [];
    for (const edge of jobGraph.edges) {
      if (edge.sourceVertex !== vertexIndex) continue;
      const channels = outputChannelsOf(plan, edge.index, subtaskIndex);
      const writer = new RecordWriter(
        channels.map((c) => channelFactory.senderOf(c)),
        {
          partitioner: edge.partitioner,
          keySelector: keySelectorOf(env.nodes[edge.targetNode]!, edge.sourceNode, edge.sideOutput),
          maxParallelism: streamGraph.maxParallelism,
          batchSize: config.batchSize,
          subtaskIndex,
        },
        clock,
      );
      writers.push(writer);
      const key = `${edge.sourceNode}|${edge.sideOutput ?? ''}`;
      writersBySource.set(key, [...(writersBySource.get(key) ?? []), writer]);
    }

    const consumersOf = (nodeIndex: number, sideOutput: string | undefined): Consumer[] => {
      const consumers: Consumer[] = [];
      for (const member of vertex.nodes) {
        const input = env.nodes[member]!.inputs[0];
        if (member === vertex.head || input === undefined) continue;
        if (input.nodeIndex === nodeIndex && input.sideOutput === sideOutput) {
          consumers.push({ kind: 'operator', node: member, operator: operators.get(member)! });
        }
      }
      for (const writer of writersBySource.get(`${nodeIndex}|${sideOutput ?? ''}`) ?? []) {
        consumers.push({ kind: 'writer', writer });
      }
      return consumers;
    };
    const outputOf = (nodeIndex: number): Output => {
      const side = new Map<string, Output>();
      for (const tag of env.nodes[nodeIndex]!.sideOutputs)
        side.set(tag, outputFor(consumersOf(nodeIndex, tag), tracker));
      return outputFor(consumersOf(nodeIndex, undefined), tracker, side);
    };

    const members: ChainMember[] = [];
    const memberInfo = new Map<number, { id: string; name: string; metrics: OperatorMetrics }>();
    for (const nodeIndex of vertex.nodes) {
      const node = env.nodes[nodeIndex]!;
      const resolved = streamGraph.nodes[nodeIndex]!;
      const metrics: OperatorMetrics = { recordsIn: 0, recordsOut: 0, lateRecordsDropped: 0 };
      memberInfo.set(nodeIndex, { id: resolved.id, name: resolved.name, metrics });
      const operator = operators.get(nodeIndex);
      if (operator === undefined) continue;
      const runtime: RuntimeContext = {
        jobName: env.jobName,
        operatorId: resolved.id,
        subtaskIndex,
        parallelism: vertex.parallelism,
        maxParallelism: streamGraph.maxParallelism,
      };
      let keyed: KeyedContext | undefined;
      if (node.keySelector !== undefined) {
        const keyGroupRange = keyGroups;
        const backendOptions = options.stateBackend;
        keyed = {
          backend:
            backendOptions.kind === 'heap'
              ? new HeapKeyedStateBackend({ maxParallelism: streamGraph.maxParallelism, keyGroupRange })
              : new LevelDbKeyedStateBackend({
                  maxParallelism: streamGraph.maxParallelism,
                  keyGroupRange,
                  directory: directoryOf(backendOptions.directory, resolved.id, subtaskIndex),
                  ...(options.levelStores === undefined
                    ? {}
                    : {
                        store: options.levelStores.store(
                          directoryOf(backendOptions.directory, resolved.id, subtaskIndex),
                        ),
                      }),
                  ...(backendOptions.cacheMaxKeys === undefined
                    ? {}
                    : { cacheMaxKeys: backendOptions.cacheMaxKeys }),
                }),
          timers: new InternalTimerService<Key>(),
        };
      }
      operator.setup({
        output: outputOf(nodeIndex),
        runtime,
        metrics,
        keyed,
        clock,
        sendToCoordinator: options.sendToCoordinator,
        sendOnSuccess: options.sendOnSuccess,
        checkpointing: options.checkpoints !== undefined,
      });
      const restored = options.restore?.(resolved.id, subtaskIndex, vertex.parallelism, keyGroups);
      if (restored !== undefined && operator.restoreState !== undefined) operator.restoreState(restored);
      members.push({
        node: nodeIndex,
        operatorId: resolved.id,
        operatorName: resolved.name,
        operator,
        metrics,
      });
    }

    const head = env.nodes[vertex.head]!;
    let task: Task;
    const base = {
      vertex: vertexIndex,
      subtaskIndex,
      parallelism: vertex.parallelism,
      name: vertex.name,
      chain: members,
      writers,
      tracker,
      bufferTimeoutMs: config.bufferTimeoutMs,
      sourceBatchSize: config.sourceBatchSize,
      framesPerStep: 8,
      ...(options.checkpoints === undefined ? {} : { checkpoints: options.checkpoints }),
    };
    if (head.source !== undefined) {
      const doorbell = resources.doorbells[slotIndex]!;
      let notify = (): void => {};
      const sourceId = streamGraph.nodes[vertex.head]!.id;
      const reader: SourceReader<unknown> = head.source.createReader({
        jobName: env.jobName,
        operatorId: sourceId,
        subtaskIndex,
        parallelism: vertex.parallelism,
        currentProcessingTime: clock,
        notifyAvailable: () => notify(),
        restoredState: options.restore?.(sourceId, subtaskIndex, vertex.parallelism, keyGroups)
          ?.operatorState,
      });
      if (options.checkpoints !== undefined && reader.snapshotState === undefined) {
        throw new ConfigError(
          `source '${sourceId}' (${head.source.name}) cannot be checkpointed: its reader has no snapshotState; run the job without checkpointing`,
        );
      }
      task = new Task({
        ...base,
        source: { reader, node: vertex.head, output: outputOf(vertex.head) },
        sourceOperatorId: sourceId,
      });
      notify = () => {
        task.notifySourceAvailable();
        doorbell.ring();
      };
    } else {
      const gate = new InputGate(
        inputChannelsOf(plan, vertexIndex, subtaskIndex).map((c) => channelFactory.receiverOf(c)),
      );
      const headMember = members.find((m) => m.node === vertex.head)!;
      task = new Task({ ...base, input: { gate, head: headMember } });
    }
    deployed.push({ task, tracker, members: memberInfo });
  }
  return deployed;
}

function keySelectorOf(
  target: StreamNode,
  sourceNode: number,
  sideOutput: string | undefined,
): ((value: unknown) => Key) | undefined {
  for (const input of target.inputs) {
    if (
      input.nodeIndex === sourceNode &&
      input.sideOutput === sideOutput &&
      input.partitioner.kind === 'hash'
    ) {
      return input.partitioner.keySelector as (value: unknown) => Key;
    }
  }
  return undefined;
}

/** The working directory of one keyed subtask's database, below the attempt's directory. */
function directoryOf(attemptDirectory: string, operatorId: string, subtaskIndex: number): string {
  return join(attemptDirectory, `${operatorId.replace(/[^A-Za-z0-9._-]/g, '_')}-${subtaskIndex}`);
}
