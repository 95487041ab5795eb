import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { allocateDoorbell, Doorbell } from '../channels/doorbell.ts';
import { decodeRecords } from '../channels/record-codec.ts';
import { allocateRing } from '../channels/ring-buffer.ts';
import {
  CheckpointCoordinator,
  type CheckpointingOptions,
  type CheckpointStats,
  type CompletedCheckpointStats,
} from '../checkpoint/checkpoint-coordinator.ts';
import {
  DEFAULT_RESTART_STRATEGY,
  type RestartStrategy,
  restartDelayMs,
  validateRestartStrategy,
} from '../checkpoint/restart-strategy.ts';
import { validateRestore } from '../checkpoint/restore-validation.ts';
import { CheckpointStorage, loadCheckpoint } from '../checkpoint/storage.ts';
import { ConfigError, deserializeError, JobExecutionError, SluiceError } from '../errors.ts';
import { CONTROL_CHECKPOINT } from '../runtime/checkpointing.ts';
import { COMMIT_AT_END } from '../runtime/operators/sink.ts';
import { cancelAllSlots } from '../runtime/slot.ts';
import { LevelStoreHost } from '../state/leveldb/level-store/level-store-host.ts';
import { siblingModule } from '../threads/module-worker.ts';
import {
  DEFAULT_EXECUTION_CONFIG,
  type ExecutionConfig,
  resolveExecutionConfig,
} from './execution-config.ts';
import { type JobModuleRef, jobModuleUrl, loadJob } from './job-loader.ts';
import type {
  CoordinatorMessage,
  OperatorMetricsReport,
  SlotAssignment,
  SlotMessage,
  SlotResult,
  StateBackendAssignment,
} from './messages.ts';
import { type PlannedJob, planJob } from './planner.ts';

export interface RunJobOptions<A = unknown> extends Partial<ExecutionConfig> {
  /** Default parallelism of every operator (default 1). */
  readonly parallelism?: number;
  /** Number of key groups (default 128); the upper bound of any operator's parallelism. */
  readonly maxParallelism?: number;
  /** Plain data handed to the job's build function in every worker. */
  readonly args?: A;
  /** Chain operators into tasks where possible (default true). */
  readonly chaining?: boolean;
  /** Cancels the job; `runJob` then rejects with a JobCancelledError. */
  readonly signal?: AbortSignal;
  /** Called with each batch a sink sends to the coordinator (e.g. a collect sink), as it arrives. */
  readonly onSinkData?: (channel: string, payload: unknown) => void;
  /** Take periodic aligned checkpoints; a failure then restarts the job from the last one. */
  readonly checkpointing?: CheckpointingOptions;
  /** What to do on failure (default: 10 restarts 200 ms apart with checkpointing, none without). */
  readonly restartStrategy?: RestartStrategy;
  /** Resume from a checkpoint or savepoint folder. */
  readonly restoreFrom?: string;
  /** Restore even if the checkpoint holds state of operators the job no longer has (that state is dropped). */
  readonly allowNonRestoredState?: boolean;
  /** Where the runtime reports restarts and abandoned checkpoints (default: stderr). */
  readonly log?: (message: string) => void;
  /** Called when a checkpoint is complete (durable), with its figures. */
  readonly onCheckpoint?: (checkpoint: CompletedCheckpointStats) => void;
  /**
   * Where keyed state lives while the job runs: the heap (default), or LevelDB on local disk for
   * state larger than memory (`directory` default: the system temp folder; `cacheMaxKeys` keys
   * are kept in memory per subtask). Either way, checkpoints hold the durable copy.
   */
  readonly stateBackend?:
    | 'heap'
    | { readonly kind: 'leveldb'; readonly directory?: string; readonly cacheMaxKeys?: number };
}

export interface JobResult {
  readonly jobName: string;
  readonly durationMs: number;
  /** Records a `collectSink(name)` received, from all its subtasks. */
  collected<T = unknown>(name: string): T[];
  /** Per operator and subtask counters of the last attempt. */
  readonly metrics: readonly OperatorMetricsReport[];
  /** Late records dropped by windows (not sent to a side output), summed over subtasks. */
  readonly lateRecordsDropped: number;
  /** Records read by all sources in the last attempt (after a restore: since the checkpoint). */
  readonly sourceRecords: number;
  /** How often the job restarted after a failure. */
  readonly restarts: number;
  readonly checkpoints: CheckpointStats;
}

export class JobCancelledError extends SluiceError {
  constructor(jobName: string) {
    super('SLUICE_JOB_CANCELLED', `job '${jobName}' was cancelled`);
  }
}

/** A running job. */
export interface JobHandle {
  readonly jobName: string;
  /** Settles when the job ends: resolves for bounded jobs that finished, rejects on failure or cancellation. */
  readonly result: Promise<JobResult>;
  /** Stops the job; resolves once every worker thread is gone. */
  cancel(): Promise<void>;
  /**
   * Fault injection for tests: terminates one worker thread of the running attempt from outside,
   * as a crash would. Returns false when no attempt is running.
   */ terminateWorker(index: number): Promise<boolean>;
  /**
   * Takes a savepoint into `folder` (which must not exist yet) while the job runs; resolves with
   * the folder once it is durable. Needs `checkpointing` (its directory stages the files).
   */
  savepoint(folder: string): Promise<string>;
  /** Takes a savepoint, then stops the job (its result rejects with JobCancelledError). */
  stopWithSavepoint(folder: string): Promise<string>;
}

/** How long slots may take to stop after a failure or cancellation before their threads are terminated. */
const STOP_GRACE_MS = 5_000;

/**
 * The slot threads' Node flags: the process's own (as a Worker inherits them when given none:
 * `node --trace-warnings $(which sluice) run ...` reaches the slots), plus
 * SLUICE_WORKER_EXEC_ARGV for the slots only, e.g. "--cpu-prof" to profile them.
 */
function workerExecArgv(): string[] | undefined {
  const extra = process.env.SLUICE_WORKER_EXEC_ARGV?.trim();
  return extra === undefined || extra === '' ? undefined : [...process.execArgv, ...extra.split(/\s+/)];
}

function validateParallelism(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(`option "${option}" must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

/** Node's timers hold at most 2^31 - 1 ms; a longer delay fires after 1 ms, with a warning. */
const MAX_TIMER_MS = 2_147_483_647;

/** Every option `runJob`/`startJob` knows: a misspelt one is refused, not silently ignored. */
const RUN_JOB_OPTIONS: ReadonlySet<string> = new Set<keyof RunJobOptions>([
  'parallelism',
  'maxParallelism',
  'args',
  'chaining',
  'signal',
  'onSinkData',
  'checkpointing',
  'restartStrategy',
  'restoreFrom',
  'allowNonRestoredState',
  'log',
  'onCheckpoint',
  'stateBackend',
  ...(Object.keys(DEFAULT_EXECUTION_CONFIG) as (keyof ExecutionConfig)[]),
]);
const CHECKPOINTING_OPTIONS: ReadonlySet<string> = new Set<keyof CheckpointingOptions>([
  'directory',
  'intervalMs',
  'timeoutMs',
  'maxConcurrent',
  'retain',
]);

function rejectUnknownKeys(options: object, known: ReadonlySet<string>, prefix: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new ConfigError(`unknown option "${prefix}${key}" (known: ${[...known].join(', ')})`);
    }
  }
}

function validateCheckpointing(options: CheckpointingOptions | undefined): CheckpointingOptions | undefined {
  if (options === undefined) return undefined;
  rejectUnknownKeys(options, CHECKPOINTING_OPTIONS, 'checkpointing.');
  if (typeof options.directory !== 'string' || options.directory.length === 0) {
    throw new ConfigError('option "checkpointing.directory" must be a non-empty path');
  }
  for (const key of ['intervalMs', 'timeoutMs', 'maxConcurrent', 'retain'] as const) {
    const value = options[key];
    if (value === undefined && key !== 'intervalMs') continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw new ConfigError(`option "checkpointing.${key}" must be an integer >= 1, got ${String(value)}`);
    }
    if ((key === 'intervalMs' || key === 'timeoutMs') && value > MAX_TIMER_MS) {
      throw new ConfigError(
        `option "checkpointing.${key}" must be at most ${MAX_TIMER_MS} ms (Node's timer limit), got ${value}`,
      );
    }
  }
  return options;
}

/** Runs a job module to completion on worker threads. */
export async function runJob<A = unknown>(
  module: JobModuleRef,
  options: RunJobOptions<A> = {},
): Promise<JobResult> {
  const handle = await startJob(module, options);
  return handle.result;
}

type AttemptOutcome =
  | { readonly status: 'finished'; readonly results: readonly (SlotResult | undefined)[] }
  | { readonly status: 'failed'; readonly error: Error }
  | { readonly status: 'cancelled' };

interface Attempt {
  readonly outcome: Promise<AttemptOutcome>;
  stop(): void;
  terminateWorker(index: number): Promise<boolean>;
  savepoint(folder: string): Promise<string>;
}

interface JobContext {
  readonly url: string;
  readonly planned: PlannedJob;
  readonly config: ExecutionConfig;
  readonly options: RunJobOptions<unknown>;
  readonly parallelism: number;
  readonly maxParallelism: number | undefined;
  readonly storage: CheckpointStorage | undefined;
  readonly checkpointStats: CheckpointStats;
  readonly collected: Map<string, unknown[]>;
  readonly committed: Set<string>;
  readonly log: (message: string) => void;
  /** With the LevelDB backend: the thread that owns the databases, for the whole run. */
  levelStoreHost: LevelStoreHost | undefined;
  nextCheckpointId: number;
}

/**
 * Starts a job module on worker threads, one per slot (the highest operator parallelism).
 * Planning errors reject here, before any thread starts. With checkpointing, a failed attempt is
 * followed by a new one restored from the newest valid checkpoint, as the restart strategy allows.
 */
export async function startJob<A = unknown>(
  module: JobModuleRef,
  options: RunJobOptions<A> = {},
): Promise<JobHandle> {
  const startedAt = performance.now();
  rejectUnknownKeys(options, RUN_JOB_OPTIONS, '');
  const parallelism = validateParallelism(options.parallelism, 'parallelism') ?? 1;
  const maxParallelism = validateParallelism(options.maxParallelism, 'maxParallelism');
  const config = resolveExecutionConfig(options);
  const checkpointing = validateCheckpointing(options.checkpointing);
  const strategy = validateRestartStrategy(
    options.restartStrategy ?? (checkpointing === undefined ? { kind: 'none' } : DEFAULT_RESTART_STRATEGY),
  );
  const url = jobModuleUrl(module);
  const job = await loadJob(url);
  stateBackendFor(options.stateBackend, job.config.name); // validates the option before anything runs
  const planned = planJob(job, options.args, {
    parallelism,
    ...(maxParallelism === undefined ? {} : { maxParallelism }),
    chaining: options.chaining ?? true,
  });
  const jobName = job.config.name;
  const log = options.log ?? ((message: string) => process.stderr.write(`sluice: ${message}\n`));
  const storage =
    checkpointing === undefined
      ? undefined
      : new CheckpointStorage(checkpointing.directory, { retain: checkpointing.retain ?? 3 });
  const context: JobContext = {
    url,
    planned,
    config,
    options: options as RunJobOptions<unknown>,
    parallelism,
    maxParallelism,
    storage,
    checkpointStats: { completed: [], aborted: 0 },
    collected: new Map(),
    committed: new Set(),
    log,
    levelStoreHost: undefined,
    nextCheckpointId: 1,
  };
  if (options.restoreFrom !== undefined) {
    const checkpoint = await loadCheckpoint(options.restoreFrom);
    validateRestore(
      checkpoint.metadata,
      {
        maxParallelism: planned.streamGraph.maxParallelism,
        operatorIds: new Set(planned.streamGraph.nodes.map((n) => n.id)),
      },
      { allowNonRestoredState: options.allowNonRestoredState ?? false, folder: options.restoreFrom },
    );
  }
  if (storage !== undefined) {
    // Continue the numbering of checkpoints already in the directory, so that none is overwritten.
    const existing = await storage.listComplete();
    context.nextCheckpointId = (existing[0] ?? 0) + 1;
  }

  let cancelled = false;
  let current: Attempt | undefined;
  let wakeFromDelay: (() => void) | undefined;
  const cancel = (): void => {
    cancelled = true;
    current?.stop();
    wakeFromDelay?.();
  };
  options.signal?.addEventListener('abort', cancel, { once: true });
  if (options.signal?.aborted) cancel();

  const result = (async (): Promise<JobResult> => {
    // Started here, after every check that can reject; shut down in `finally` below.
    if (stateBackendFor(options.stateBackend, jobName).kind === 'leveldb') {
      context.levelStoreHost = LevelStoreHost.start();
    }
    try {
      let restoreFrom = options.restoreFrom;
      for (let restarts = 0; ; restarts++) {
        if (cancelled) throw new JobCancelledError(jobName);
        current = runAttempt(context, restoreFrom);
        const outcome = await current.outcome;
        current = undefined;
        if (outcome.status === 'finished') {
          const metrics = outcome.results.flatMap((r) => r?.metrics ?? []);
          const sourceIds = new Set(
            planned.streamGraph.nodes.filter((n) => n.role === 'source').map((n) => n.id),
          );
          return {
            jobName,
            durationMs: performance.now() - startedAt,
            collected: <T>(name: string) => (context.collected.get(`collect:${name}`) ?? []) as T[],
            metrics,
            lateRecordsDropped: metrics.reduce((n, m) => n + m.lateRecordsDropped, 0),
            sourceRecords: metrics
              .filter((m) => sourceIds.has(m.operatorId))
              .reduce((n, m) => n + m.recordsIn, 0),
            restarts,
            checkpoints: context.checkpointStats,
          };
        }
        if (outcome.status === 'cancelled' || cancelled) throw new JobCancelledError(jobName); // A mistake in the job or its options fails the same way every time: no restart.
        const cause = (outcome.error as { cause?: { code?: unknown } }).cause;
        if (cause?.code === 'SLUICE_CONFIG' || cause?.code === 'SLUICE_PLAN') throw outcome.error;
        const delayMs = restartDelayMs(strategy, restarts);
        if (delayMs === undefined) throw outcome.error;
        log(`job '${jobName}' failed (${outcome.error.message}); restart ${restarts + 1} in ${delayMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          wakeFromDelay = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeFromDelay = undefined;
        if (storage !== undefined) {
          const latest = await storage.latestValid(log);
          if (latest !== undefined) restoreFrom = latest.folder;
        }
      }
    } finally {
      options.signal?.removeEventListener('abort', cancel);
      await context.levelStoreHost?.shutdown();
    }
  })();
  const savepoint = async (folder: string): Promise<string> => {
    if (checkpointing === undefined) {
      throw new ConfigError('savepoints need the "checkpointing" option: its directory stages the files');
    }
    if (current === undefined)
      throw new SluiceError('SLUICE_JOB_NOT_RUNNING', `job '${jobName}' is not running`);
    return current.savepoint(resolvePath(folder));
  };

  return {
    jobName,
    result,
    async cancel(): Promise<void> {
      cancel();
      await result.catch(() => undefined);
    },
    terminateWorker: async (index: number) =>
      current === undefined ? false : current.terminateWorker(index),
    savepoint,
    async stopWithSavepoint(folder: string): Promise<string> {
      const path = await savepoint(folder);
      cancel();
      await result.catch(() => undefined);
      return path;
    },
  };
}

/**
 * A run finished: take what sinks held back for success — collect-sink leftovers, and
 * committables for `Sink.commitAtEnd`, called here once per sink with all its subtasks' items.
 */
async function commitAtEnd(
  planned: PlannedJob,
  messages: ReadonlyArray<Extract<SlotMessage, { type: 'data' }>>,
  deliver: (message: Extract<SlotMessage, { type: 'data' }>) => void,
): Promise<void> {
  const bySink = new Map<string, unknown[]>();
  for (const message of messages) {
    if (!message.channel.startsWith(COMMIT_AT_END)) {
      deliver(message);
      continue;
    }
    const operatorId = message.channel.slice(COMMIT_AT_END.length);
    const items = bySink.get(operatorId) ?? [];
    items.push(...decodeRecords(message.payload));
    bySink.set(operatorId, items);
  }
  for (const [operatorId, items] of bySink) {
    const index = planned.streamGraph.nodes.findIndex((n) => n.id === operatorId);
    const sink = planned.env.nodes[index]?.sink;
    if (sink?.commitAtEnd === undefined)
      throw new Error(`bug: committables for '${operatorId}', which has no commitAtEnd`);
    await sink.commitAtEnd(items);
  }
}

function stateBackendFor(option: RunJobOptions['stateBackend'], jobName: string): StateBackendAssignment {
  if (option === undefined || option === 'heap') return { kind: 'heap' };
  if (option === null || typeof option !== 'object' || option.kind !== 'leveldb') {
    throw new ConfigError(
      `option "stateBackend" must be 'heap' or { kind: 'leveldb', ... }, got ${String(option)}`,
    );
  }
  const { cacheMaxKeys } = option;
  if (cacheMaxKeys !== undefined && (!Number.isInteger(cacheMaxKeys) || cacheMaxKeys < 1)) {
    throw new ConfigError(
      `option "stateBackend.cacheMaxKeys" must be an integer >= 1 (keys kept in memory), got ${String(cacheMaxKeys)}`,
    );
  }
  const base = option.directory ?? join(tmpdir(), 'sluice-state');
  const attempt = `${jobName.replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  return { kind: 'leveldb', directory: join(resolvePath(base), attempt), cacheMaxKeys: option.cacheMaxKeys };
}

/** One run of the whole job on fresh threads and channels, from scratch or from a checkpoint. */
function runAttempt(context: JobContext, restoreFrom: string | undefined): Attempt {
  const { planned, config, options, storage } = context;
  const { plan } = planned;
  const jobName = planned.streamGraph.jobName;
  const stateBackend = stateBackendFor(options.stateBackend, jobName);
  const rings = plan.channels.map(() => allocateRing(config.channelCapacityBytes));
  const doorbellBuffers = plan.slots.map(() => allocateDoorbell());
  const doorbells = doorbellBuffers.map((sab) => new Doorbell(sab));
  const controlBuffer = new SharedArrayBuffer(8);
  const control = new Int32Array(controlBuffer);
  const numSlots = plan.slots.length;
  const ports: MessagePort[] = [];
  // LevelDB databases live in their own thread, never in a slot thread that may be terminated.
  const { levelStoreHost } = context;
  const levelStoreConnections: number[] = [];

  const pool = new Piscina({
    filename: siblingModule('./slot-worker', import.meta.url).href,
    minThreads: numSlots,
    maxThreads: numSlots,
    concurrentTasksPerWorker: 1,
    // A slot is one long task whose thread keeps timers; 'sync' atomics would block its event loop.
    atomics: 'disabled',
    idleTimeout: Number.POSITIVE_INFINITY,
    // SLUICE_WORKER_EXEC_ARGV adds flags for the slot threads only, e.g. "--cpu-prof" to profile them.
    execArgv: workerExecArgv(),
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
    coordinator?.stop();
    cancelAllSlots(control, doorbells);
    forcedStop ??= setTimeout(() => {
      terminated = true;
      void pool.destroy();
    }, STOP_GRACE_MS);
  };

  const coordinator =
    storage === undefined || options.checkpointing === undefined
      ? undefined
      : new CheckpointCoordinator({
          storage,
          checkpointing: options.checkpointing,
          jobName,
          maxParallelism: planned.streamGraph.maxParallelism,
          expectedAcks: plan.jobGraph.vertices.reduce((n, v) => n + v.parallelism, 0),
          firstCheckpointId: context.nextCheckpointId,
          transport: {
            trigger: (checkpointId) => {
              context.nextCheckpointId = checkpointId + 1;
              Atomics.store(control, CONTROL_CHECKPOINT, checkpointId);
              for (const doorbell of doorbells) doorbell.ring();
            },
            notifyComplete: (checkpointId) => {
              const message: CoordinatorMessage = { type: 'checkpoint-complete', checkpointId };
              for (const port of ports) port.postMessage(message);
              const stats = context.checkpointStats.completed.at(-1);
              if (stats !== undefined) options.onCheckpoint?.(stats);
            },
          },
          log: context.log,
          stats: context.checkpointStats,
        });

  const onSuccess: Array<Extract<SlotMessage, { type: 'data' }>> = [];
  const deliver = (message: Extract<SlotMessage, { type: 'data' }>): void => {
    const records = decodeRecords(message.payload);
    options.onSinkData?.(message.channel, records);
    let list = context.collected.get(message.channel);
    if (list === undefined) {
      list = [];
      context.collected.set(message.channel, list);
    }
    for (const item of records) list.push(item);
  };

  const onMessage = (message: SlotMessage): void => {
    switch (message.type) {
      case 'data': {
        if (message.onSuccess) {
          onSuccess.push(message);
          return;
        }
        if (message.commitKey !== undefined) {
          // Idempotent commits: a committable re-sent after a restore is taken once.
          if (context.committed.has(message.commitKey)) return;
          context.committed.add(message.commitKey);
        }
        deliver(message);
        return;
      }
      case 'ack':
        coordinator?.onAck(message);
        return;
      case 'decline':
        coordinator?.onDecline(message);
        return;
      case 'task-finished':
        coordinator?.taskFinished();
        return;
      case 'failed':
        failure ??= new JobExecutionError(
          {
            jobName,
            operatorId: message.operatorId,
            operatorName: message.operatorName,
            subtaskIndex: message.subtaskIndex,
            parallelism: message.parallelism,
            record: message.record,
          },
          deserializeError(message.error),
        );
        stopAll();
        return;
    }
  };

  const slotRuns = plan.slots.map((slot) => {
    const { port1, port2 } = new MessageChannel();
    ports.push(port1);
    port1.on('message', onMessage);
    const closed = new Promise<void>((resolve) => port1.once('close', () => resolve()));
    const levelStoreConnection = levelStoreHost?.connect();
    const levelStorePort = levelStoreConnection?.port;
    if (levelStoreConnection !== undefined) levelStoreConnections.push(levelStoreConnection.id);
    const assignment: SlotAssignment = {
      jobUrl: context.url,
      args: options.args,
      parallelism: context.parallelism,
      maxParallelism: context.maxParallelism,
      chaining: options.chaining ?? true,
      config,
      fingerprint: planned.fingerprint,
      slotIndex: slot.index,
      rings,
      doorbells: doorbellBuffers,
      control: controlBuffer,
      port: port2 as MessagePort,
      checkpointDirectory: storage?.dir,
      restoreFrom,
      stateBackend,
      levelStorePort,
    };
    const transferList = levelStorePort === undefined ? [port2] : [port2, levelStorePort];
    return (pool.run(assignment, { transferList: transferList as never }) as Promise<SlotResult>).then(
      async (result) => {
        await closed;
        return result;
      },
      (error: unknown) => {
        // The thread died (terminated, out of memory, uncaught error): stop the others.
        port1.close();
        if (!cancelled && !terminated) {
          failure ??= new JobExecutionError(
            {
              jobName,
              operatorId: undefined,
              operatorName: undefined,
              subtaskIndex: slot.index,
              parallelism: undefined,
              record: undefined,
            },
            error instanceof Error ? error : new Error(String(error)),
          );
        }
        stopAll();
        return undefined;
      },
    );
  });
  coordinator?.start();

  const outcome = (async (): Promise<AttemptOutcome> => {
    try {
      const results = await Promise.all(slotRuns);
      if (failure !== undefined) return { status: 'failed', error: failure };
      if (cancelled) return { status: 'cancelled' };
      await commitAtEnd(planned, onSuccess, deliver);
      return { status: 'finished', results };
    } finally {
      coordinator?.stop();
      clearTimeout(forcedStop);
      if (!terminated) await pool.destroy();
      await levelStoreHost?.release(levelStoreConnections);
      // A LevelDB backend's files are working storage of this attempt only (killed threads
      // leave theirs behind): the next attempt restores from the checkpoint into new ones.
      if (stateBackend.kind === 'leveldb') await rm(stateBackend.directory, { recursive: true, force: true });
    }
  })();

  return {
    outcome,
    stop(): void {
      cancelled = true;
      stopAll();
    },
    savepoint: (folder: string) =>
      coordinator === undefined
        ? Promise.reject(new Error('checkpointing is off'))
        : coordinator.savepoint(folder),
    async terminateWorker(index: number): Promise<boolean> {
      const threads = pool.threads;
      const worker = threads[index % Math.max(1, threads.length)];
      if (worker === undefined) return false;
      await worker.terminate();
      return true;
    },
  };
}
