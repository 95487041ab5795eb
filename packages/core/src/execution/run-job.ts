import { resolve as resolvePath } from 'node:path';
import type { CheckpointStats } from '../checkpoint/checkpoint-coordinator.ts';
import { CheckpointIdCounter } from '../checkpoint/checkpoint-id-counter.ts';
import { restartDelayMs } from '../checkpoint/restart-strategy.ts';
import { validateRestore } from '../checkpoint/restore-validation.ts';
import { CheckpointStorage, loadCheckpoint } from '../checkpoint/storage.ts';
import { ConfigError, SluiceError } from '../errors.ts';
import { LevelStoreHost } from '../state/leveldb/level-store/level-store-host.ts';
import { systemClock } from '../time/clock.ts';
import { type Attempt, type DriverHooks, type JobContext, runAttempt } from './attempt.ts';
import { bindDriver } from './driver-bindings.ts';
import { type JobModuleRef, jobModuleUrl, loadJob } from './job-loader.ts';
import { type RunJobOptions, stateBackendFor, validateRunJobOptions } from './job-options.ts';
import type { OperatorMetricsReport } from './messages.ts';
import { planJob } from './planner.ts';

export type { RunJobOptions } from './job-options.ts';

export interface JobResult {
  readonly jobName: string;
  readonly durationMs: number;
  /** Records a `collectSink(name)` received, from all its subtasks. */
  collected<T = unknown>(name: string): T[];
  /** Per operator and subtask counters of the last attempt. */
  readonly metrics: readonly OperatorMetricsReport[];
  /** Late records dropped by windows (not sent to a side output) and interval joins, summed over subtasks. */
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

/** Runs a job module to completion on worker threads. */
export async function runJob<A = unknown>(
  module: JobModuleRef,
  options: RunJobOptions<A> = {},
): Promise<JobResult> {
  const handle = await startJob(module, options);
  return handle.result;
}

/**
 * Starts a job module on worker threads, one per slot (the highest operator parallelism).
 * Planning errors reject here, before any thread starts. With checkpointing, a failed attempt is
 * followed by a new one restored from the newest valid checkpoint, as the restart strategy allows.
 */
export function startJob<A = unknown>(
  module: JobModuleRef,
  options: RunJobOptions<A> = {},
): Promise<JobHandle> {
  return startJobWith(module, options, undefined);
}

/**
 * `startJob`, with what only the runtime's own test driver passes (a simulated clock, driven
 * sources and sinks). The job master: it plans the job, then runs attempts until one finishes,
 * the job is cancelled, or the restart strategy gives up.
 */
export async function startJobWith<A = unknown>(
  module: JobModuleRef,
  options: RunJobOptions<A>,
  driver: DriverHooks | undefined,
): Promise<JobHandle> {
  const startedAt = performance.now();
  const validated = validateRunJobOptions(options as RunJobOptions<unknown>);
  const { parallelism, maxParallelism, checkpointing } = validated;
  const url = jobModuleUrl(module);
  const job = await loadJob(url);
  const jobName = job.config.name;
  stateBackendFor(options.stateBackend, jobName); // validates the option before anything runs
  const planned = planJob(job, options.args, {
    parallelism,
    ...(maxParallelism === undefined ? {} : { maxParallelism }),
    chaining: options.chaining ?? true,
    localAggregation: options.localAggregation ?? true,
  });
  if (driver !== undefined) {
    driver.onPlanned(planned);
    // The coordinator's copy of the graph matches the slots': driven sources and sinks swapped.
    bindDriver(planned, driver.bindings);
  }
  const log = options.log ?? ((message: string) => process.stderr.write(`sluice: ${message}\n`));
  const storage =
    checkpointing === undefined
      ? undefined
      : new CheckpointStorage(checkpointing.directory, { retain: checkpointing.retain ?? 3 });
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
  // Continue the numbering of checkpoints already in the directory, so that none is overwritten.
  const checkpointIds = new CheckpointIdCounter(
    storage === undefined ? 0 : ((await storage.listComplete())[0] ?? 0),
  );
  const collected = new Map<string, unknown[]>();
  const context: JobContext = {
    url,
    planned,
    config: validated.config,
    options: options as RunJobOptions<unknown>,
    parallelism,
    maxParallelism,
    checkpointing,
    storage,
    checkpointIds,
    checkpointStats: { completed: [], aborted: 0 },
    deliver: (channel, records) => {
      options.onSinkData?.(channel, records);
      let list = collected.get(channel);
      if (list === undefined) {
        list = [];
        collected.set(channel, list);
      }
      for (const item of records) list.push(item);
    },
    committed: new Set(),
    log,
    // Started after every check that can reject; shut down when the job ends.
    levelStoreHost:
      stateBackendFor(options.stateBackend, jobName).kind === 'leveldb' ? LevelStoreHost.start() : undefined,
    clock: driver?.clock.now ?? systemClock,
    driver,
  };

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
    try {
      let restoreFrom = options.restoreFrom;
      for (let restarts = 0; ; restarts++) {
        if (cancelled) throw new JobCancelledError(jobName);
        current = runAttempt(context, restoreFrom, stateBackendFor(options.stateBackend, jobName));
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
            collected: <T>(name: string) => (collected.get(`collect:${name}`) ?? []) as T[],
            metrics,
            lateRecordsDropped: metrics.reduce((n, m) => n + m.lateRecordsDropped, 0),
            sourceRecords: metrics
              .filter((m) => sourceIds.has(m.operatorId))
              .reduce((n, m) => n + m.recordsIn, 0),
            restarts,
            checkpoints: context.checkpointStats,
          };
        }
        if (outcome.status === 'cancelled' || cancelled) throw new JobCancelledError(jobName);
        // A mistake in the job or its options fails the same way every time: no restart.
        const cause = (outcome.error as { cause?: { code?: unknown } }).cause;
        if (cause?.code === 'SLUICE_CONFIG' || cause?.code === 'SLUICE_PLAN') throw outcome.error;
        const delayMs = restartDelayMs(validated.restartStrategy, restarts);
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
