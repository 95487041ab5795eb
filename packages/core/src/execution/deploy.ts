import { join } from 'node:path';
import { ChannelFactory, type ChannelPlacement, type ChannelResources } from '../channels/channel-factory.ts';
import { InputGate } from '../channels/input-gate.ts';
import { RecordWriter } from '../channels/record-writer.ts';
import type { Logger } from '../contracts/logger.ts';
import type { SourceReader } from '../contracts/source.ts';
import { ConfigError } from '../errors.ts';
import { MetricsLayout } from '../metrics/metrics-layout.ts';
import { OperatorCounters } from '../metrics/operator-counters.ts';
import { TaskTimes } from '../metrics/task-times.ts';
import {
  type ExecutionPlan,
  inputChannelsOf,
  outputChannelsOf,
  type SubtaskRef,
} from '../plan/execution-plan.ts';
import { inputSideOf, type StreamNode } from '../plan/stream-node.ts';
import type { FailureTracker } from '../runtime/chain-outputs.ts';
import type { StateLookup } from '../runtime/checkpointing.ts';
import {
  type LocalAggregationSpec,
  LocalWindowAggregatingWriter,
} from '../runtime/local-window-aggregation.ts';
import { buildOperatorChain, type MemberInfo } from '../runtime/operator-chain.ts';
import { type CheckpointHooks, Task } from '../runtime/task.ts';
import type { KeyedStateBackend } from '../state/backend/keyed-state-backend.ts';
import { HeapKeyedStateBackend } from '../state/heap/heap-keyed-state-backend.ts';
import type { Key } from '../state/key-groups.ts';
import type { LevelStoreClient } from '../state/leveldb/level-store/level-store-client.ts';
import { LevelDbKeyedStateBackend } from '../state/leveldb/leveldb-keyed-state-backend.ts';
import type { Clock } from '../time/clock.ts';
import type { ExecutionConfig } from './execution-config.ts';
import type { StateBackendAssignment } from './messages.ts';
import type { PlannedJob } from './planner.ts';

/** The attempt's shared memory for channels: every channel's ring and every slot's doorbell. */
export type SlotResources = ChannelResources;

export interface DeployedTask {
  readonly task: Task;
  readonly tracker: FailureTracker;
  readonly members: ReadonlyMap<number, MemberInfo>;
  /** The task's hash-partitioned writers and the keyed operator whose key selector each runs. */
  readonly keySelectors: readonly KeySelectorOf[];
}

/** A writer that runs a keyBy's key selector, and the operator the keyBy feeds (for failures). */
export interface KeySelectorOf {
  readonly writer: RecordWriter;
  readonly operatorId: string;
  readonly operatorName: string;
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
  /** The slot's logger (lines go to the coordinator); operators and readers get children of it. */
  readonly logger: Logger;
  /** The attempt's metrics array (shared with the coordinator); this slot writes its subtasks' blocks. */
  readonly metrics: Float64Array;
  /** When the job spans processes: where each slot runs, and the connections to the other processes. */
  readonly placement?: ChannelPlacement | undefined;
}

/** Where each subtask's counters live in the attempt's metrics array: the same on every thread. */
export function metricsLayoutOf(plan: ExecutionPlan): MetricsLayout {
  return new MetricsLayout(
    plan.jobGraph.vertices.map((v) => ({ parallelism: v.parallelism, operatorCount: v.nodes.length })),
  );
}

/**
 * Builds the tasks of one slot from the rebuilt graph: for each subtask, its record writers
 * (through the channel factory), its operator chain (`runtime/operator-chain.ts`) over the state
 * backend the job chose, and its task, fed by a source reader or an input gate.
 */
export function deploySlot(options: DeployOptions): DeployedTask[] {
  const { job, slotIndex, resources, config, clock } = options;
  const { plan, streamGraph, env } = job;
  const jobGraph = plan.jobGraph;
  const slot = plan.slots[slotIndex];
  if (slot === undefined) throw new Error(`bug: no slot ${slotIndex} in the plan`);
  const deployed: DeployedTask[] = [];
  const layout = metricsLayoutOf(plan);
  const channelFactory = new ChannelFactory({
    slotIndex,
    resources,
    channelCapacityBytes: config.channelCapacityBytes,
    batchSize: config.batchSize,
    placement: options.placement,
  });

  const keyedBackend = (operatorId: string, subtask: SubtaskRef): KeyedStateBackend => {
    const backend = options.stateBackend;
    const keyGroupRange = subtask.keyGroups;
    const maxParallelism = streamGraph.maxParallelism;
    // The job's clock: state TTL runs on the same processing time as timers (simulated in tests).
    if (backend.kind === 'heap') return new HeapKeyedStateBackend({ maxParallelism, keyGroupRange, clock });
    const directory = directoryOf(backend.directory, operatorId, subtask.subtaskIndex);
    return new LevelDbKeyedStateBackend({
      maxParallelism,
      keyGroupRange,
      clock,
      directory,
      ...(options.levelStores === undefined ? {} : { store: options.levelStores.store(directory) }),
      ...(backend.cacheMaxKeys === undefined ? {} : { cacheMaxKeys: backend.cacheMaxKeys }),
    });
  };

  for (const subtask of slot.subtasks) {
    const { vertex: vertexIndex, subtaskIndex, keyGroups } = subtask;
    const vertex = jobGraph.vertices[vertexIndex]!;
    const writersBySource = new Map<string, RecordWriter[]>();
    const writers: RecordWriter[] = [];
    const keySelectors: KeySelectorOf[] = [];
    for (const edge of jobGraph.edges) {
      if (edge.sourceVertex !== vertexIndex) continue;
      const channels = outputChannelsOf(plan, edge.index, subtaskIndex);
      const senders = channels.map((c) => channelFactory.senderOf(c));
      const target = env.nodes[edge.targetNode]!;
      const writerOptions = {
        maxParallelism: streamGraph.maxParallelism,
        batchSize: config.batchSize,
        subtaskIndex,
      };
      const writer = edge.localAggregation
        ? new LocalWindowAggregatingWriter(senders, writerOptions, clock, localAggregationOf(target))
        : new RecordWriter(
            senders,
            {
              ...writerOptions,
              partitioner: edge.partitioner,
              keySelector: keySelectorOf(target, edge.targetInput),
            },
            clock,
          );
      writers.push(writer);
      if (edge.partitioner === 'hash') {
        const resolved = streamGraph.nodes[edge.targetNode]!;
        keySelectors.push({ writer, operatorId: resolved.id, operatorName: resolved.name });
      }
      const key = `${edge.sourceNode}|${edge.sideOutput ?? ''}`;
      writersBySource.set(key, [...(writersBySource.get(key) ?? []), writer]);
    }

    const counters = new Map<number, OperatorCounters>();
    const countersOf = (node: number): OperatorCounters => {
      let found = counters.get(node);
      if (found === undefined) {
        const position = vertex.nodes.indexOf(node);
        found = new OperatorCounters(
          options.metrics,
          layout.operatorBase(vertexIndex, subtaskIndex, position),
        );
        counters.set(node, found);
      }
      return found;
    };

    // The task does not exist yet when its operators are set up: their wake-ups reach it once it does.
    let wakeTask = (): void => {};
    const chain = buildOperatorChain(
      {
        jobName: env.jobName,
        maxParallelism: streamGraph.maxParallelism,
        nodes: env.nodes,
        ids: streamGraph.nodes,
        chain: vertex.nodes,
        head: vertex.head,
        subtask,
        mergesPartials: new Set(jobGraph.edges.filter((e) => e.localAggregation).map((e) => e.targetNode)),
      },
      {
        writersOf: (node, sideOutput) => writersBySource.get(`${node}|${sideOutput ?? ''}`) ?? [],
        keyedBackend: (operatorId) => keyedBackend(operatorId, subtask),
        clock,
        sendToCoordinator: options.sendToCoordinator,
        sendOnSuccess: options.sendOnSuccess,
        checkpointing: options.checkpoints !== undefined,
        restore: options.restore,
        wake: () => wakeTask(),
        logger: options.logger,
        counters: countersOf,
      },
    );
    const { members, tracker, outputOf } = chain;

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
      clock,
      sourceBatchSize: config.sourceBatchSize,
      framesPerStep: 8,
      headCounters: countersOf(vertex.head),
      times: new TaskTimes(options.metrics, layout.taskBase(vertexIndex, subtaskIndex)),
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
        logger: options.logger.child({ operator: sourceId, subtask: subtaskIndex }),
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
      const inputChannels = inputChannelsOf(plan, vertexIndex, subtaskIndex);
      const gate = new InputGate(
        inputChannels.map((c) => channelFactory.receiverOf(c)),
        clock,
        inputChannels.map((c) => {
          const edge = jobGraph.edges[c.edge]!;
          return inputSideOf(env.nodes[edge.targetNode]!, edge.targetInput);
        }),
      );
      const headMember = members.find((m) => m.node === vertex.head)!;
      task = new Task({ ...base, input: { gate, head: headMember } });
    }
    const slotDoorbell = resources.doorbells[slotIndex]!;
    wakeTask = () => {
      task.requestStep();
      slotDoorbell.ring();
    };
    deployed.push({ task, tracker, members: chain.info, keySelectors });
  }
  return deployed;
}

/** The key selector a hash-partitioned edge routes by: its target input's (a two-input operator's sides differ). */
function keySelectorOf(target: StreamNode, targetInput: number): ((value: unknown) => Key) | undefined {
  const partitioner = target.inputs[targetInput]!.partitioner;
  return partitioner.kind === 'hash' ? (partitioner.keySelector as (value: unknown) => Key) : undefined;
}

/** What the local aggregation before a window needs of it (the plan checked that it is eligible). */
function localAggregationOf(target: StreamNode): LocalAggregationSpec {
  const spec = target.operator;
  if (
    spec?.kind !== 'window' ||
    (spec.assigner.kind !== 'tumbling' && spec.assigner.kind !== 'sliding') ||
    spec.fn.kind === 'process' ||
    target.keySelector === undefined
  ) {
    throw new Error(`bug: local aggregation planned before '${target.name}', which cannot merge partials`);
  }
  return { assigner: spec.assigner, fn: spec.fn, keySelector: target.keySelector as (value: unknown) => Key };
}

/** The working directory of one keyed subtask's database, below the attempt's directory. */
function directoryOf(attemptDirectory: string, operatorId: string, subtaskIndex: number): string {
  return join(attemptDirectory, `${operatorId.replace(/[^A-Za-z0-9._-]/g, '_')}-${subtaskIndex}`);
}
