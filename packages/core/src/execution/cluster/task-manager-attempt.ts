/**
 * One attempt's slots in a task manager: the worker threads (piscina), the shared memory of the
 * channels between them (rings for slots of this process; channels to other processes go over
 * the task manager's one connection per peer task manager: through `task-manager-data-plane.ts`,
 * which this attempt opens its streams on, when the task manager has several slots; served by
 * the slot thread itself, `direct-slot-data-plane.ts`, when it has one), the control array the
 * job manager's signals reach the slots through, the watchdog over these slots, and the relay of
 * each slot's messages to the job manager. The mirror of `execution/attempt.ts` for the part of
 * an attempt that runs here.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { allocateDoorbell, Doorbell } from '../../channels/doorbell.ts';
import { allocateRing } from '../../channels/ring-buffer.ts';
import type { Logger } from '../../contracts/logger.ts';
import { serializeError } from '../../errors.ts';
import { describeSlot } from '../../plan/execution-plan.ts';
import { SlotControl } from '../../runtime/slot-control.ts';
import { LevelStoreHost } from '../../state/leveldb/level-store/level-store-host.ts';
import { siblingModule } from '../../threads/module-worker.ts';
import { workerExecArgv } from '../attempt.ts';
import { metricsLayoutOf } from '../deploy.ts';
import { slotResourceLimits, slotThreadFailure } from '../execution-config.ts';
import type {
  CoordinatorMessage,
  DataAddress,
  DirectDataPortAssignment,
  SlotAssignment,
  SlotMessage,
  SlotResult,
} from '../messages.ts';
import type { PlannedJob } from '../planner.ts';
import { TaskWatchdog } from '../task-watchdog.ts';
import { type DeployMessage, TO_JOB_MANAGER } from './protocol.ts';
import { streamPorts, type TaskManagerDataPlane } from './task-manager-data-plane.ts';

/** How long slots may take to stop after a cancel before their threads are terminated. */
const STOP_GRACE_MS = 5_000;
/** How often the task manager sends its slots' counters to the job manager. */
const METRICS_EVERY_MS = 500;

export interface TaskManagerAttemptEnv {
  /** This task manager's id (as registered). */
  readonly id: string;
  /** How this task manager's slots reach other task managers. */
  readonly data: TaskManagerData;
  readonly logger: Logger;
  /** Sends a control message to the job manager (dropped once the connection is gone). */
  readonly send: (type: string, payload: unknown) => void;
}

/**
 * A task manager of several slots shares its data port and one socket per peer through its main
 * thread (`shared`); a task manager of one slot lets that slot serve the port itself (`direct`).
 */
export type TaskManagerData =
  | {
      readonly kind: 'shared';
      readonly plane: TaskManagerDataPlane;
      /** The address peers dial for the data port. */
      readonly advertiseHost: string;
    }
  | { readonly kind: 'direct'; readonly port: Omit<DirectDataPortAssignment, 'taskManagerId' | 'attempt'> };

/** The running slots of one attempt in this task manager. */
export interface TaskManagerAttempt {
  readonly attempt: number;
  peers(addresses: readonly DataAddress[]): void;
  triggerCheckpoint(checkpointId: number): void;
  toSlot(slotIndex: number, message: CoordinatorMessage): void;
  cancel(): void;
  terminateSlot(slotIndex: number): void;
  /** Settles once every thread of the attempt is gone and its working files are removed. */
  readonly done: Promise<void>;
}

export function startTaskManagerAttempt(
  planned: PlannedJob,
  jobUrl: string,
  deploy: DeployMessage,
  env: TaskManagerAttemptEnv,
): TaskManagerAttempt {
  const { plan } = planned;
  const { config, attempt } = deploy;
  const local = new Set(deploy.slots);
  const numSlots = plan.slots.length;
  const doorbellBuffers = plan.slots.map(() => allocateDoorbell());
  const doorbells = doorbellBuffers.map((sab) => new Doorbell(sab));
  const control = SlotControl.allocate(doorbells);
  // Rings only between two slots of this process; the others travel over TCP (or stay in a slot).
  const unused = new SharedArrayBuffer(0);
  const rings = plan.channels.map((c) =>
    c.sourceSubtask !== c.targetSubtask && local.has(c.sourceSubtask) && local.has(c.targetSubtask)
      ? allocateRing(config.channelCapacityBytes)
      : unused,
  );
  const metricsCells = metricsLayoutOf(plan).allocate();
  const peerOfSlot = plan.slots.map(
    (slot) => `${deploy.processOfSlot[slot.index]}/a${attempt}/s${slot.index}`,
  );
  const stateBackend =
    deploy.stateBackend.kind === 'leveldb'
      ? {
          ...deploy.stateBackend,
          directory: join(deploy.stateBackend.directory, env.id.replace(/[^A-Za-z0-9._-]/g, '_')),
        }
      : deploy.stateBackend;
  const levelStoreHost = stateBackend.kind === 'leveldb' ? LevelStoreHost.start() : undefined;
  const levelStoreConnections: number[] = [];
  // Slots of other processes are not ours to watch.
  const ended = new Set<number>(plan.slots.map((s) => s.index).filter((i) => !local.has(i)));
  const ports = new Map<number, MessagePort>();
  const { data } = env;
  const dataPlane =
    data.kind === 'shared'
      ? data.plane.openAttempt({
          attempt,
          plan,
          processOfSlot: deploy.processOfSlot,
          localSlots: deploy.slots,
        })
      : undefined;
  // Every slot of this task manager takes data connections at the one data port (a direct slot
  // reports it itself once it listens).
  if (data.kind === 'shared') {
    for (const slotIndex of deploy.slots) {
      const message: SlotMessage = {
        type: 'data-address',
        slotIndex,
        host: data.advertiseHost,
        port: data.plane.address.port,
      };
      env.send(TO_JOB_MANAGER.slotMessage, { attempt, slotIndex, message });
    }
  }
  const direct: DirectDataPortAssignment | undefined =
    data.kind === 'direct' ? { ...data.port, taskManagerId: env.id, attempt } : undefined;

  const pool = new Piscina({
    filename: siblingModule('../slot-worker', import.meta.url).href,
    // Each slot's task starts its own thread. A minimum would have piscina replace a thread that
    // died (an uncaught error, process.exit in user code) with one the attempt never uses, still
    // loading its modules as the attempt ends, and outliving it.
    minThreads: 0,
    maxThreads: local.size,
    concurrentTasksPerWorker: 1,
    atomics: 'disabled',
    idleTimeout: Number.POSITIVE_INFINITY,
    execArgv: workerExecArgv(),
    resourceLimits: slotResourceLimits(config),
  });
  let forcedStop: ReturnType<typeof setTimeout> | undefined;
  let terminated = false;
  let finished = false;
  const cancel = (): void => {
    // A cancel after the end (the task manager stops its attempt when the job manager says the
    // job ended) has nothing to stop: a timer armed now would hold the process for the grace period.
    if (finished) return;
    control.cancelAll();
    forcedStop ??= setTimeout(() => {
      terminated = true;
      void pool.destroy();
    }, STOP_GRACE_MS);
  };

  const sendMetrics = (): void =>
    env.send(TO_JOB_MANAGER.metrics, { attempt, cells: new Uint8Array(metricsCells.buffer.slice(0)) });
  const metricsTimer = setInterval(sendMetrics, METRICS_EVERY_MS);
  metricsTimer.unref();

  const watchdog = new TaskWatchdog({
    control,
    slots: numSlots,
    timeoutMs: deploy.taskHeartbeatTimeoutMs,
    clock: () => performance.now(),
    ended,
    describe: ({ vertex, subtaskIndex }) => {
      const v = plan.jobGraph.vertices[vertex];
      return v === undefined
        ? `task ${vertex}/${subtaskIndex}`
        : `task '${v.name}' subtask ${subtaskIndex + 1}/${v.parallelism}`;
    },
    onHung: (error, threadId) => {
      env.logger.error({ event: 'task-hung', slot: error.slotIndex }, error.message);
      env.send(TO_JOB_MANAGER.slotEnded, {
        attempt,
        slotIndex: error.slotIndex,
        result: undefined,
        error: serializeError(error),
      });
      const hung = pool.threads.find((worker) => worker.threadId === threadId);
      if (hung !== undefined) void hung.terminate();
      cancel();
    },
  });

  const runs = deploy.slots.map((slotIndex) => {
    const { port1, port2 } = new MessageChannel();
    ports.set(slotIndex, port1);
    port1.on('message', (message: SlotMessage) =>
      env.send(TO_JOB_MANAGER.slotMessage, { attempt, slotIndex, message }),
    );
    const closed = new Promise<void>((resolve) => port1.once('close', () => resolve()));
    const levelStoreConnection = levelStoreHost?.connect();
    if (levelStoreConnection !== undefined) levelStoreConnections.push(levelStoreConnection.id);
    const assignment: SlotAssignment = {
      jobUrl,
      args: deploy.args,
      parallelism: deploy.parallelism,
      maxParallelism: deploy.maxParallelism,
      chaining: deploy.chaining,
      localAggregation: deploy.localAggregation,
      config,
      fingerprint: deploy.fingerprint,
      slotIndex,
      rings,
      doorbells: doorbellBuffers,
      control: control.buffer,
      metrics: metricsCells,
      port: port2,
      checkpointDirectory: deploy.checkpointDirectory,
      restoreFrom: deploy.restoreFrom,
      stateBackend,
      levelStorePort: levelStoreConnection?.port,
      simulatedClock: undefined,
      driverBindings: undefined,
      logLevel: deploy.logLevel,
      cluster: {
        processOfSlot: deploy.processOfSlot,
        peerOfSlot,
        streams: dataPlane?.streamsOf(slotIndex) ?? [],
        direct,
      },
    };
    const transferList = [
      port2,
      ...streamPorts(dataPlane?.streamsOf(slotIndex) ?? []),
      ...(levelStoreConnection === undefined ? [] : [levelStoreConnection.port]),
    ];
    return (pool.run(assignment, { transferList: transferList as never }) as Promise<SlotResult>).then(
      async (result) => {
        await closed;
        ended.add(slotIndex);
        // The slot's final counters before its end: the job manager builds the job's result
        // (its metrics, sourceRecords) as soon as the last slot has ended.
        sendMetrics();
        env.send(TO_JOB_MANAGER.slotEnded, { attempt, slotIndex, result, error: undefined });
      },
      (error: unknown) => {
        port1.close();
        ended.add(slotIndex);
        sendMetrics();
        env.send(TO_JOB_MANAGER.slotEnded, {
          attempt,
          slotIndex,
          result: undefined,
          error: terminated
            ? undefined
            : serializeError(slotThreadFailure(error, config, describeSlot(plan, slotIndex))),
        });
        cancel();
      },
    );
  });
  watchdog.start();

  const done = (async (): Promise<void> => {
    try {
      await Promise.all(runs);
    } finally {
      finished = true;
      watchdog.stop();
      clearInterval(metricsTimer);
      sendMetrics();
      clearTimeout(forcedStop);
      // Before the threads go: what the slots sent last is written before the connections end.
      await dataPlane?.close();
      if (!terminated) await pool.destroy();
      await levelStoreHost?.release(levelStoreConnections);
      await levelStoreHost?.shutdown();
      if (stateBackend.kind === 'leveldb') await rm(stateBackend.directory, { recursive: true, force: true });
    }
  })();

  return {
    attempt,
    peers(addresses) {
      if (dataPlane !== undefined) dataPlane.connect(addresses);
      else
        for (const port of ports.values())
          port.postMessage({ type: 'peers', addresses } satisfies CoordinatorMessage);
    },
    triggerCheckpoint: (checkpointId) => control.requestCheckpoint(checkpointId),
    toSlot: (slotIndex, message) => ports.get(slotIndex)?.postMessage(message),
    cancel,
    terminateSlot(slotIndex) {
      const threadId = control.heartbeat(slotIndex).threadId;
      const worker = pool.threads.find((w) => w.threadId === threadId);
      if (worker !== undefined) void worker.terminate();
    },
    done,
  };
}
