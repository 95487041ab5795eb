import { threadId } from 'node:worker_threads';
import { Doorbell } from '../channels/doorbell.ts';
import { encodeRecords } from '../channels/record-codec.ts';
import { NOT_KEYING } from '../channels/record-writer.ts';
import type { FromSlotStream } from '../channels/tcp/mux-protocol.ts';
import { previewRecord, serializeError } from '../errors.ts';
import { subtaskOf } from '../plan/execution-plan.ts';
import { loadStateLookup, slotCheckpointHooks } from '../runtime/checkpointing.ts';
import { runSlotLoop, SlotCancelledError, TaskFailedError } from '../runtime/slot.ts';
import { SlotControl } from '../runtime/slot-control.ts';
import { LevelStoreClient } from '../state/leveldb/level-store/level-store-client.ts';
import { SharedManualClock, systemClock } from '../time/clock.ts';
import { openDirectSlotDataPlane } from './cluster/direct-slot-data-plane.ts';
import { openSlotDataPlane, PeersCancelledError, type SlotDataPlane } from './cluster/slot-data-plane.ts';
import { type DeployedTask, deploySlot } from './deploy.ts';
import { bindDriver, type DriverInputs } from './driver-bindings.ts';
import { loadJob } from './job-loader.ts';
import { workerLogger } from './logging/worker-logger.ts';
import type { CoordinatorMessage, DataAddress, SlotAssignment, SlotMessage, SlotResult } from './messages.ts';
import { type PlannedJob, planJob } from './planner.ts';
import { PROGRESS_SAMPLE_INTERVAL_MS, progressSampler } from './progress.ts';

/**
 * A slot's thread: imports the job module, rebuilds the same graph (jobs are modules: closures
 * cannot cross threads), deploys its subtasks and runs them until they finish, fail or are
 * cancelled. Records never pass through here or through piscina: only the rings carry them.
 */
export default async function runSlot(assignment: SlotAssignment): Promise<SlotResult> {
  const { port, slotIndex } = assignment;
  const doorbells = assignment.doorbells.map((sab) => new Doorbell(sab));
  const control = SlotControl.from(assignment.control, doorbells);
  const post = (message: SlotMessage): void => port.postMessage(message);
  const logger = workerLogger(post, assignment.logLevel);
  control.startedOn(slotIndex, threadId);
  // While the thread is in async work outside the loop (importing the job, opening and closing
  // tasks), its event loop beats for it: the watchdog looks for a thread that runs nothing at all.
  const beating = setInterval(() => control.beat(slotIndex), HEARTBEAT_EVERY_MS);
  let deployed: DeployedTask[] = [];
  let sampleProgress = (): void => {};
  let sampling: ReturnType<typeof setInterval> | undefined;
  const levelStores =
    assignment.levelStorePort === undefined ? undefined : new LevelStoreClient(assignment.levelStorePort);
  let dataPlane: SlotDataPlane | undefined;
  let stopWaiting = (): void => {};
  // A one-slot task manager's slot serves its data port itself: the job manager answers its
  // address with every slot's, through the task manager. Listen from the start.
  const direct = assignment.cluster?.direct;
  const peers = new Promise<readonly DataAddress[]>((resolve) => {
    const onPeers = (message: CoordinatorMessage): void => {
      if (message.type !== 'peers') return;
      port.off('message', onPeers);
      resolve(message.addresses);
    };
    if (direct !== undefined) port.on('message', onPeers);
  });
  try {
    const job = await loadJob(assignment.jobUrl);
    const planned = planJob(job, assignment.args, {
      parallelism: assignment.parallelism,
      ...(assignment.maxParallelism === undefined ? {} : { maxParallelism: assignment.maxParallelism }),
      chaining: assignment.chaining,
      localAggregation: assignment.localAggregation,
    });
    if (planned.fingerprint !== assignment.fingerprint) {
      throw new Error(
        `the job module built a different graph in worker ${slotIndex} than in the coordinator; graph construction must be deterministic (same args, no randomness or clock reads in the build function)`,
      );
    }
    const clock =
      assignment.simulatedClock === undefined
        ? systemClock
        : SharedManualClock.reader(assignment.simulatedClock);
    const driverInputs: DriverInputs | undefined =
      assignment.driverBindings === undefined ? undefined : bindDriver(planned, assignment.driverBindings);
    const checkpoints =
      assignment.checkpointDirectory === undefined
        ? undefined
        : slotCheckpointHooks({
            directory: assignment.checkpointDirectory,
            control,
            post,
            describe: (task) => ({
              fileStem: planned.plan.jobGraph.vertices[task.options.vertex]!.id.replace(
                /[^A-Za-z0-9._-]/g,
                '_',
              ),
              keyGroups: subtaskOf(planned.plan, task.options.vertex, task.options.subtaskIndex).keyGroups,
            }),
          });
    const restore =
      assignment.restoreFrom === undefined
        ? undefined
        : await loadStateLookup(assignment.restoreFrom, ownedKeyGroups(planned, slotIndex));
    if (assignment.cluster !== undefined) {
      const cancelled = new Promise<void>((resolve) => {
        const polling = setInterval(() => {
          if (control.isCancelled) resolve();
        }, CANCEL_POLL_MS);
        stopWaiting = () => clearInterval(polling);
      });
      try {
        dataPlane =
          direct === undefined
            ? await openSlotDataPlane({ slotIndex, cluster: assignment.cluster, cancelled })
            : await openDirectSlotDataPlane({
                plan: planned.plan,
                slotIndex,
                cluster: assignment.cluster,
                port: direct,
                post,
                peers,
                cancelled,
                onRefused: (error) =>
                  logger.warn(
                    { event: 'data-connection-refused', peer: error.peer },
                    `task manager '${direct.taskManagerId}': ${error.message}`,
                  ),
              });
      } finally {
        stopWaiting();
      }
    }
    deployed = deploySlot({
      placement: dataPlane?.placement,
      job: planned,
      slotIndex,
      resources: { rings: assignment.rings, doorbells },
      config: assignment.config,
      clock,
      // Sink data crosses a thread as records do: checked and encoded by the record codec.
      sendToCoordinator: (channel, payload, commitKey) =>
        post({
          type: 'data',
          channel,
          payload: encodeRecords(payload as unknown[]),
          commitKey,
          onSuccess: false,
        }),
      sendOnSuccess: (channel, payload) =>
        post({
          type: 'data',
          channel,
          payload: encodeRecords(payload as unknown[]),
          commitKey: undefined,
          onSuccess: true,
        }),
      checkpoints,
      restore,
      stateBackend: assignment.stateBackend,
      levelStores,
      logger,
      metrics: assignment.metrics,
    });
    sampleProgress = progressSampler(
      deployed
        .filter((d) => d.task.options.source !== undefined)
        .map((d) => ({ task: d.task, operatorId: d.task.options.sourceOperatorId! })),
      post,
    );
    sampling = setInterval(sampleProgress, PROGRESS_SAMPLE_INTERVAL_MS);
    sampling.unref();
    let driverEpoch = 0;
    port.on('message', (message: CoordinatorMessage) => {
      switch (message.type) {
        case 'checkpoint-complete':
          for (const { task } of deployed) task.notifyCheckpointComplete(message.checkpointId);
          return;
        case 'driver-input':
          driverInputs?.deliver(message);
          return;
        case 'driver-epoch':
          // After the step's input (same port, in order): idle reports from now on cover it.
          driverEpoch = message.epoch;
          doorbells[slotIndex]!.ring();
          return;
      }
    });
    let lastIdle = { sequence: Number.NaN, epoch: -1 };
    for (const { task } of deployed) {
      control.stepping(slotIndex, task.options.vertex, task.options.subtaskIndex);
      try {
        await task.open();
      } catch (error) {
        throw new TaskFailedError(task, error);
      }
    }
    control.stepping(slotIndex, -1, 0);
    await runSlotLoop({
      tasks: deployed.map((d) => d.task),
      doorbell: doorbells[slotIndex]!,
      control,
      clock,
      ...(assignment.simulatedClock === undefined
        ? {}
        : {
            simulatedTime: {
              reportIdle: (doorbellSequence: number) => {
                if (doorbellSequence === lastIdle.sequence && driverEpoch === lastIdle.epoch) return;
                lastIdle = { sequence: doorbellSequence, epoch: driverEpoch };
                post({ type: 'idle', slotIndex, epoch: driverEpoch, doorbellSequence });
              },
            },
          }),
      // Channels over TCP move only on event-loop turns (socket reads, credit, corked writes):
      // a busy slot with such channels yields more often, within the default flush timeout.
      yieldEveryMs: assignment.cluster === undefined ? 20 : 5,
      sampleGauges: { intervalMs: GAUGE_INTERVAL_MS, sample: () => sampleStateEntries(deployed) },
      slotIndex,
      onTaskFinished: (task) => {
        logger.debug(
          { event: 'task-finished', task: task.options.name, subtask: task.options.subtaskIndex },
          `task '${task.options.name}' subtask ${task.options.subtaskIndex + 1}/${task.options.parallelism} finished`,
        );
        post({ type: 'task-finished', vertex: task.options.vertex, subtaskIndex: task.options.subtaskIndex });
      },
    });
    return { slotIndex, status: 'finished' };
  } catch (error) {
    if (error instanceof SlotCancelledError || error instanceof PeersCancelledError) {
      await abortAll(deployed);
      return { slotIndex, status: 'cancelled' };
    }
    // Stop every other slot first: they may be waiting on channels this one will never serve.
    control.cancelAll();
    const cause = error instanceof TaskFailedError ? error.cause : error;
    const failed = error instanceof TaskFailedError ? deployed.find((d) => d.task === error.task) : undefined;
    post({
      type: 'failed',
      error: serializeError(cause),
      ...(failed === undefined ? NOWHERE : locate(failed)),
    });
    await abortAll(deployed);
    return { slotIndex, status: 'failed' };
  } finally {
    clearInterval(sampling);
    // The last sample and every log line go out before the port closes: the coordinator waits for the close.
    sampleProgress();
    clearInterval(beating);
    control.ended(slotIndex);
    levelStores?.close();
    // Graceful: what the slot's last frames wrote still reaches the peers.
    await dataPlane?.close();
    // A slot that failed before it opened its data plane ends its streams here: its task manager
    // ends the attempt's connections once every stream is over (or after a grace period).
    if (dataPlane === undefined) {
      for (const { port } of assignment.cluster?.streams ?? [])
        port.postMessage('end' satisfies FromSlotStream);
    }
    port.close();
  }
}

/** How often a slot waiting for its data-plane peers looks whether the attempt was cancelled. */
const CANCEL_POLL_MS = 50;

/** How often a slot's event loop beats its heartbeat besides the loop's own turns. */
const HEARTBEAT_EVERY_MS = 100;

type FailureReport = Extract<SlotMessage, { type: 'failed' }>;

const NOWHERE = {
  operatorId: undefined,
  operatorName: undefined,
  subtaskIndex: undefined,
  parallelism: undefined,
  record: undefined,
  userFunction: undefined,
  ranIn: undefined,
};

/**
 * Where in a failed task the failure happened, from what the task left behind: a key selector
 * still running in one of its writers (it failed there, routing a record of the operator the
 * tracker names), else the operator the tracker names, on its record or in the timer it fires.
 */
function locate({
  task,
  tracker,
  members,
  keySelectors,
}: DeployedTask): Omit<FailureReport, 'type' | 'error'> {
  const member = members.get(tracker.node);
  const subtask = { subtaskIndex: task.options.subtaskIndex, parallelism: task.options.parallelism };
  const keying = keySelectors.find((k) => k.writer.keying !== NOT_KEYING);
  if (keying !== undefined) {
    return {
      ...subtask,
      operatorId: keying.operatorId,
      operatorName: keying.operatorName,
      record: previewRecord(keying.writer.keying),
      userFunction: keying.writer.keyingFunction,
      ranIn: member?.id,
    };
  }
  const timer = tracker.timer;
  return {
    ...subtask,
    operatorId: member?.id,
    operatorName: member?.name,
    record: tracker.hasRecord ? previewRecord(tracker.record) : undefined,
    userFunction:
      !tracker.hasRecord && timer.firing
        ? `${timer.eventTime ? 'event-time' : 'processing-time'} timer at ${timer.timestamp} for key ${previewRecord(timer.key)}`
        : undefined,
    ranIn: undefined,
  };
}

async function abortAll(deployed: readonly DeployedTask[]): Promise<void> {
  for (const { task } of deployed) await task.abort();
}

/** Which stored key groups this slot's subtasks will own, by operator id. */
function ownedKeyGroups(planned: PlannedJob, slotIndex: number) {
  const { plan } = planned;
  const ranges = new Map<string, Array<[number, number]>>();
  for (const { vertex, keyGroups } of plan.slots[slotIndex]!.subtasks) {
    for (const id of plan.jobGraph.vertices[vertex]!.operatorIds) {
      ranges.set(id, [...(ranges.get(id) ?? []), [keyGroups.start, keyGroups.end]]);
    }
  }
  return (operatorId: string, start: number, end: number): boolean =>
    (ranges.get(operatorId) ?? []).some(([s, e]) => s <= end && start <= e);
}

/** How often a slot counts its keyed state (O(keys) on the heap for window state): real time. */
const GAUGE_INTERVAL_MS = 1_000;

/** Publishes each keyed operator's state entries in memory to its counters. */
function sampleStateEntries(deployed: readonly DeployedTask[]): void {
  for (const { task, members } of deployed) {
    if (task.isFinished) continue; // its state is disposed of
    for (const info of members.values()) {
      if (info.stateEntries !== undefined) info.metrics.setStateEntries(info.stateEntries());
    }
  }
}
