import { rm } from 'node:fs/promises';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { allocateDoorbell, Doorbell } from '../channels/doorbell.ts';
import { allocateRing } from '../channels/ring-buffer.ts';
import {
  CheckpointCoordinator,
  type CheckpointingOptions,
  type CheckpointStats,
  type SavepointOptions,
} from '../checkpoint/checkpoint-coordinator.ts';
import type { CheckpointIdCounter } from '../checkpoint/checkpoint-id-counter.ts';
import type { CheckpointStorage } from '../checkpoint/storage.ts';
import type { Logger } from '../contracts/logger.ts';
import { JobExecutionError } from '../errors.ts';
import type { MetricsLayout } from '../metrics/metrics-layout.ts';
import { describeSlot } from '../plan/execution-plan.ts';
import { SlotControl } from '../runtime/slot-control.ts';
import type { LevelStoreHost } from '../state/leveldb/level-store/level-store-host.ts';
import { siblingModule } from '../threads/module-worker.ts';
import type { Clock, SharedManualClock } from '../time/clock.ts';
import { ControlPlane } from './control-plane.ts';
import { metricsLayoutOf } from './deploy.ts';
import type { DriverBindings } from './driver-bindings.ts';
import { type ExecutionConfig, slotResourceLimits, slotThreadFailure } from './execution-config.ts';
import type { RunJobOptions } from './job-options.ts';
import { levelOf } from './logging/line-logger.ts';
import type {
  CoordinatorMessage,
  SlotAssignment,
  SlotMessage,
  SlotResult,
  StateBackendAssignment,
} from './messages.ts';
import type { PlannedJob } from './planner.ts';
import type { ProgressTracker } from './progress.ts';
import { TaskWatchdog } from './task-watchdog.ts';

/** How long slots may take to stop after a failure or cancellation before their threads are terminated. */
const STOP_GRACE_MS = 5_000;

/** What every attempt of one job run shares: the plan, its options, and what outlives an attempt. */
export interface JobContext {
  readonly url: string;
  readonly planned: PlannedJob;
  readonly config: ExecutionConfig;
  readonly options: RunJobOptions<unknown>;
  readonly parallelism: number;
  readonly maxParallelism: number | undefined;
  readonly checkpointing: CheckpointingOptions | undefined;
  readonly storage: CheckpointStorage | undefined;
  readonly checkpointIds: CheckpointIdCounter;
  readonly checkpointStats: CheckpointStats;
  /** Sink data, by channel, over all attempts. */
  readonly deliver: (channel: string, records: unknown[]) => void;
  /** Commit keys taken (idempotent commits over restarts). */
  readonly committed: Set<string>;
  /** The job's logger (bound to the job); an attempt binds its number, a slot's lines their operator and subtask. */
  readonly logger: Logger;
  /** The sources' newest progress samples (reset by each attempt). */
  readonly progress: ProgressTracker;
  /** Lines of the checkpoint coordinator and storage (plain messages): the logger at warn. */
  readonly log: (message: string) => void;
  /** With the LevelDB backend: the thread that owns the databases, for the whole run. */
  readonly levelStoreHost: LevelStoreHost | undefined;
  /** The processing time of the slots and the coordinator. */
  readonly clock: Clock;
  /** How long a slot may show no heartbeat before it is taken for hung, and the watchdog's clock. */
  readonly watchdog: { readonly timeoutMs: number; readonly clock: () => number };
  /** Under the test driver: its clock, what it feeds and reads, and where it hears from the slots. */
  readonly driver: DriverHooks | undefined;
}

/** What the whole-job test driver (`testing/job-test-driver.ts`) hands the job master. */
export interface DriverHooks {
  /** The processing time of every slot and of the checkpoint coordinator. */
  readonly clock: SharedManualClock;
  readonly bindings: DriverBindings;
  /** The planned job, before any thread starts; throwing here fails `startJob`. */
  readonly onPlanned: (planned: PlannedJob) => void;
  /** Each attempt as it starts (the driver sends input through it). */
  readonly onAttempt: (attempt: Attempt) => void;
  readonly onIdle: (report: Extract<SlotMessage, { type: 'idle' }>) => void;
}

export type AttemptOutcome =
  | { readonly status: 'finished'; readonly results: readonly (SlotResult | undefined)[] }
  | { readonly status: 'failed'; readonly error: Error }
  | { readonly status: 'cancelled' };

/** One run of the whole job on fresh threads and channels, from scratch or from a checkpoint. */
export interface Attempt {
  readonly outcome: Promise<AttemptOutcome>;
  /** Cancels the attempt: every slot stops at its next turn (terminated after a grace period). */
  stop(): void;
  /** Fault injection for tests: terminates one slot's thread, as a crash would. */
  terminateWorker(index: number): Promise<boolean>;
  /** A savepoint into `folder`; with `stop`, the attempt's last checkpoint (its job master then stops it). */
  savepoint(folder: string, options?: SavepointOptions): Promise<string>;
  /** Sends a message to one slot (the test driver's input). */
  send(slotIndex: number, message: CoordinatorMessage): void;
  /** Sends a message to every slot. */
  broadcast(message: CoordinatorMessage): void;
  /** Each slot's doorbell (the test driver reads their sequences and rings them). */
  readonly doorbells: readonly Doorbell[];
  /** Slots whose thread has returned (finished, failed or cancelled). */
  readonly endedSlots: ReadonlySet<number>;
  /** The attempt's first failure, as soon as a slot reported it (before the outcome settles). */
  readonly failure: Error | undefined;
  /** The attempt's live counters, written by the slots (`metrics/metrics-layout.ts`). */
  readonly metrics: { readonly layout: MetricsLayout; readonly cells: Float64Array };
  /** Every channel's ring, by channel index (for their fill). */
  readonly rings: readonly SharedArrayBuffer[];
}

/**
 * The slot threads' Node flags: the process's own (as a Worker inherits them when given none:
 * `node --trace-warnings $(which sluice) run ...` reaches the slots), plus
 * SLUICE_WORKER_EXEC_ARGV for the slots only, e.g. "--cpu-prof" to profile them.
 */
export function workerExecArgv(): string[] | undefined {
  const extra = process.env.SLUICE_WORKER_EXEC_ARGV?.trim();
  return extra === undefined || extra === '' ? undefined : [...process.execArgv, ...extra.split(/\s+/)];
}

/**
 * The attempt's checkpoint coordinator, when the job takes checkpoints: `trigger` reaches the
 * sources, completions go to every slot through the control plane.
 */
export function checkpointCoordinatorOf(
  context: JobContext,
  controlPlane: ControlPlane,
  trigger: (checkpointId: number) => void,
): CheckpointCoordinator | undefined {
  const { planned, storage, options } = context;
  if (storage === undefined || context.checkpointing === undefined) return undefined;
  return new CheckpointCoordinator({
    storage,
    checkpointing: context.checkpointing,
    jobName: planned.streamGraph.jobName,
    maxParallelism: planned.streamGraph.maxParallelism,
    expectedAcks: planned.plan.jobGraph.vertices.reduce((n, v) => n + v.parallelism, 0),
    ids: context.checkpointIds,
    clock: context.clock,
    transport: {
      trigger,
      notifyComplete: (checkpointId) => {
        controlPlane.broadcast({ type: 'checkpoint-complete', checkpointId });
        const stats = context.checkpointStats.completed.at(-1);
        if (stats !== undefined) options.onCheckpoint?.(stats);
      },
    },
    log: context.log,
    stats: context.checkpointStats,
  });
}

/** A savepoint through the attempt's coordinator; refused when the job takes no checkpoints. */
export function savepointWith(
  coordinator: CheckpointCoordinator | undefined,
  folder: string,
  options?: SavepointOptions,
): Promise<string> {
  return coordinator === undefined
    ? Promise.reject(new Error('checkpointing is off'))
    : coordinator.savepoint(folder, options);
}

/** A slot's thread (or its process) died: the attempt's failure, naming the slot. */
export function slotDiedError(jobName: string, slotIndex: number, error: unknown): JobExecutionError {
  return new JobExecutionError(
    {
      jobName,
      operatorId: undefined,
      operatorName: undefined,
      subtaskIndex: slotIndex,
      parallelism: undefined,
      record: undefined,
    },
    error instanceof Error ? error : new Error(String(error)),
  );
}

/**
 * Starts one attempt: the channels' shared memory, one thread per slot (piscina), the control
 * plane over the slots' ports, and the checkpoint coordinator. It settles once every slot's
 * thread has returned; a slot that fails stops the others.
 */
export function runAttempt(
  context: JobContext,
  restoreFrom: string | undefined,
  stateBackend: StateBackendAssignment,
  attemptNumber = 0,
): Attempt {
  const { planned, config, options, storage } = context;
  const logger = context.logger.child({ attempt: attemptNumber });
  context.progress.reset();
  const { plan } = planned;
  const jobName = planned.streamGraph.jobName;
  const rings = plan.channels.map(() => allocateRing(config.channelCapacityBytes));
  const doorbellBuffers = plan.slots.map(() => allocateDoorbell());
  const doorbells = doorbellBuffers.map((sab) => new Doorbell(sab));
  const control = SlotControl.allocate(doorbells);
  const metricsLayout = metricsLayoutOf(plan);
  const metricsCells = metricsLayout.allocate();
  const numSlots = plan.slots.length;
  // LevelDB databases live in their own thread, never in a slot thread that may be terminated.
  const { levelStoreHost } = context;
  const levelStoreConnections: number[] = [];
  const endedSlots = new Set<number>();

  const pool = new Piscina({
    filename: siblingModule('./slot-worker', import.meta.url).href,
    // Each slot's task starts its own thread. A minimum would have piscina replace a thread that
    // died (an uncaught error, process.exit in user code) with one the attempt never uses, still
    // loading its modules as the attempt ends, and outliving it.
    minThreads: 0,
    maxThreads: numSlots,
    concurrentTasksPerWorker: 1,
    // A slot is one long task whose thread keeps timers; 'sync' atomics would block its event loop.
    atomics: 'disabled',
    idleTimeout: Number.POSITIVE_INFINITY,
    execArgv: workerExecArgv(),
    resourceLimits: slotResourceLimits(config),
  });

  let failure: Error | undefined;
  let cancelled = false;
  /**
   * Slots stop at their next loop turn once cancelled; one stuck in user code (a sink's close
   * that never settles) must not keep the job alive: after a grace period its thread is
   * terminated, so the attempt always settles and no thread survives it.
   */
  let forcedStop: ReturnType<typeof setTimeout> | undefined;
  let terminated = false;
  const stopAll = (): void => {
    coordinator?.stop(failure);
    control.cancelAll();
    forcedStop ??= setTimeout(() => {
      terminated = true;
      void pool.destroy();
    }, STOP_GRACE_MS);
  };

  const controlPlane = new ControlPlane(planned, {
    deliver: context.deliver,
    logger,
    onProgress: (message) => context.progress.onMessage(message),
    committed: context.committed,
    onFailure: (error) => {
      failure ??= error;
      stopAll();
    },
    ...(context.driver === undefined ? {} : { onIdle: context.driver.onIdle }),
  });
  const coordinator = checkpointCoordinatorOf(context, controlPlane, (checkpointId) =>
    control.requestCheckpoint(checkpointId),
  );
  controlPlane.attachCoordinator(coordinator);

  const { jobGraph } = plan;
  const watchdog = new TaskWatchdog({
    control,
    slots: numSlots,
    timeoutMs: context.watchdog.timeoutMs,
    clock: context.watchdog.clock,
    ended: endedSlots,
    describe: ({ vertex, subtaskIndex }) => {
      const v = jobGraph.vertices[vertex];
      if (v === undefined) return `task ${vertex}/${subtaskIndex}`;
      const operators = v.operatorIds.map((id) => `'${id}'`).join(', ');
      return `task '${v.name}' (operator${v.operatorIds.length > 1 ? 's' : ''} ${operators}) subtask ${subtaskIndex + 1}/${v.parallelism} of job '${jobName}'`;
    },
    onHung: (error, threadId) => {
      failure ??= new JobExecutionError(
        {
          jobName,
          operatorId: undefined,
          operatorName: undefined,
          subtaskIndex: error.slotIndex,
          parallelism: undefined,
          record: undefined,
        },
        error,
      );
      context.log(error.message);
      // The thread runs nothing but the stuck code: it would never see the cancel flag.
      const hung = pool.threads.find((worker) => worker.threadId === threadId);
      if (hung !== undefined) void hung.terminate();
      stopAll();
    },
  });

  const slotRuns = plan.slots.map((slot) => {
    const { port1, port2 } = new MessageChannel();
    const { closed } = controlPlane.connect(port1);
    const levelStoreConnection = levelStoreHost?.connect();
    const levelStorePort = levelStoreConnection?.port;
    if (levelStoreConnection !== undefined) levelStoreConnections.push(levelStoreConnection.id);
    const assignment: SlotAssignment = {
      jobUrl: context.url,
      args: options.args,
      parallelism: context.parallelism,
      maxParallelism: context.maxParallelism,
      chaining: options.chaining ?? true,
      localAggregation: options.localAggregation ?? true,
      config,
      fingerprint: planned.fingerprint,
      slotIndex: slot.index,
      rings,
      doorbells: doorbellBuffers,
      control: control.buffer,
      metrics: metricsCells,
      port: port2 as MessagePort,
      checkpointDirectory: storage?.dir,
      restoreFrom,
      stateBackend,
      levelStorePort,
      simulatedClock: context.driver?.clock.buffer,
      driverBindings: context.driver?.bindings,
      logLevel: levelOf(context.logger),
    };
    const transferList = levelStorePort === undefined ? [port2] : [port2, levelStorePort];
    return (pool.run(assignment, { transferList: transferList as never }) as Promise<SlotResult>).then(
      async (result) => {
        await closed;
        endedSlots.add(slot.index);
        return result;
      },
      (error: unknown) => {
        // The thread died (terminated, out of memory, uncaught error): stop the others.
        port1.close();
        endedSlots.add(slot.index);
        if (!cancelled && !terminated)
          failure ??= slotDiedError(
            jobName,
            slot.index,
            slotThreadFailure(error, config, describeSlot(plan, slot.index)),
          );
        stopAll();
        return undefined;
      },
    );
  });
  coordinator?.start();
  watchdog.start();

  const outcome = (async (): Promise<AttemptOutcome> => {
    try {
      const results = await Promise.all(slotRuns);
      if (failure !== undefined) return { status: 'failed', error: failure };
      if (cancelled) return { status: 'cancelled' };
      await controlPlane.commitAtEnd();
      return { status: 'finished', results };
    } finally {
      watchdog.stop();
      coordinator?.stop();
      clearTimeout(forcedStop);
      if (!terminated) await pool.destroy();
      await levelStoreHost?.release(levelStoreConnections);
      // A LevelDB backend's files are working storage of this attempt only (killed threads
      // leave theirs behind): the next attempt restores from the checkpoint into new ones.
      if (stateBackend.kind === 'leveldb') await rm(stateBackend.directory, { recursive: true, force: true });
    }
  })();

  const attempt: Attempt = {
    outcome,
    stop(): void {
      cancelled = true;
      stopAll();
    },
    savepoint: (folder, options) => savepointWith(coordinator, folder, options),
    async terminateWorker(index: number): Promise<boolean> {
      const threads = pool.threads;
      const worker = threads[index % Math.max(1, threads.length)];
      if (worker === undefined) return false;
      await worker.terminate();
      return true;
    },
    send: (slotIndex, message) => controlPlane.send(slotIndex, message),
    broadcast: (message) => controlPlane.broadcast(message),
    doorbells,
    endedSlots,
    get failure() {
      return failure;
    },
    metrics: { layout: metricsLayout, cells: metricsCells },
    rings,
  };
  context.driver?.onAttempt(attempt);
  return attempt;
}
