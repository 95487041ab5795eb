import { basename, dirname, resolve as resolvePath } from 'node:path';
import type { CheckpointStats, SavepointOptions } from '../checkpoint/checkpoint-coordinator.ts';
import { CheckpointIdCounter } from '../checkpoint/checkpoint-id-counter.ts';
import { CheckpointJobMismatchError } from '../checkpoint/errors.ts';
import { restartDelayMs } from '../checkpoint/restart-strategy.ts';
import { resolveRestoreTarget } from '../checkpoint/restore-target.ts';
import { validateRestore } from '../checkpoint/restore-validation.ts';
import { CheckpointStorage, type LoadedCheckpoint } from '../checkpoint/storage.ts';
import { ConfigError, JobExecutionError, SluiceError } from '../errors.ts';
import type { OperatorMetricsReport } from '../metrics/job-metrics.ts';
import { LevelStoreHost } from '../state/leveldb/level-store/level-store-host.ts';
import { systemClock } from '../time/clock.ts';
import type { JobStatus } from '../web/rest-types.ts';
import { startWebServer, validateWebOptions, type WebAddress, type WebServer } from '../web/web-server.ts';
import { type Attempt, type DriverHooks, type JobContext, runAttempt } from './attempt.ts';
import { type JobManagerCluster, startJobManagerCluster } from './cluster/job-manager.ts';
import { checkPortableArgs } from './cluster/portable-args.ts';
import { runRemoteAttempt } from './cluster/remote-attempt.ts';
import { bindDriver } from './driver-bindings.ts';
import { type JobModuleRef, jobModuleUrl, loadJob } from './job-loader.ts';
import { JobObserver, RATE_INTERVAL_MS } from './job-observer.ts';
import { type RunJobOptions, stateBackendFor, validateRunJobOptions } from './job-options.ts';
import { jobLogger } from './logging/job-logger.ts';
import { planJob } from './planner.ts';
import { type JobProgress, ProgressTracker } from './progress.ts';
import { DEFAULT_TASK_HEARTBEAT_TIMEOUT_MS } from './task-watchdog.ts';

export type { RunJobOptions } from './job-options.ts';

export interface JobResult {
  readonly jobName: string;
  readonly durationMs: number;
  /** Records a `collectSink(name)` received, from all its subtasks. */
  collected<T = unknown>(name: string): T[];
  /**
   * Per operator and subtask counters of the last attempt, read from the same shared counters
   * the live metrics show (docs/observability.md).
   */
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
  /**
   * What the sources have read so far in the current attempt, from samples the slots send
   * twice a second (and once more when they end); the share of input when sources know their size.
   */
  progress(): JobProgress;
  /**
   * Stops the job with a savepoint (Flink's stop-with-savepoint): no checkpoint is triggered once
   * it is asked for, the savepoint is the attempt's last, and the job is stopped as soon as it is
   * written — no checkpoint completes after it, so no two-phase-commit sink commits what it does
   * not cover. Resolves with the folder once the job has ended (its result rejects with
   * JobCancelledError; the REST API reports status `stopped`). Should the savepoint fail, this
   * rejects and the job runs on, periodic checkpoints resuming.
   */
  stopWithSavepoint(folder: string): Promise<string>;
  /**
   * With the `web` option: where the metrics and REST server listens. It closes when the job ends;
   * with `web.keepServingAfterEnd`, only at `closeWeb()`.
   */
  readonly web: WebAddress | undefined;
  /** The job's status, as `GET /api/job` reports it (`stopped` after a stop with a savepoint). */
  status(): JobStatus;
  /** Closes the web server, if any (idempotent); the way to end one kept serving after the job ended. */
  closeWeb(): Promise<void>;
  /** With the `cluster` option: where task managers register, and a local cluster's task-manager processes. */
  readonly cluster: ClusterHandle | undefined;
}

/** The job manager's side of a job run on task-manager processes. */
export interface ClusterHandle {
  /** The control port task managers register at. */
  readonly address: { readonly host: string; readonly port: number };
  /** The pids of a local cluster's task managers running now (empty for task managers started elsewhere). */
  taskManagerPids(): readonly number[];
}

/**
 * Where a job starts: the checkpoint `restoreFrom` names (any of its three forms), else — with
 * checkpointing and without `fresh` — the newest valid checkpoint of this job in the checkpoint
 * directory (the pointer first), else nothing. A directory whose checkpoints are another job's
 * (by the job name in their metadata) is refused rather than resumed.
 */
async function initialCheckpoint(
  jobName: string,
  storage: CheckpointStorage | undefined,
  options: RunJobOptions<unknown>,
  log: (message: string) => void,
): Promise<LoadedCheckpoint | undefined> {
  if (options.restoreFrom !== undefined) return resolveRestoreTarget(options.restoreFrom, log);
  if (storage === undefined) return undefined;
  if (options.fresh === true) {
    const existing = await storage.listComplete();
    if (existing.length > 0) {
      log(
        `starting job '${jobName}' fresh: the ${existing.length} complete checkpoint${existing.length > 1 ? 's' : ''} in ${storage.dir} (chk-${existing.at(-1)} to chk-${existing[0]}) will not be used, and are deleted once this run has completed its first checkpoint`,
      );
    }
    return undefined;
  }
  const { checkpoint, finishedRun } = await storage.latestForResume(log);
  if (finishedRun !== undefined) {
    if (finishedRun.jobName !== jobName)
      throw new CheckpointJobMismatchError(storage.dir, finishedRun.jobName, jobName);
    log(
      `the previous run of job '${jobName}' in ${storage.dir} finished; starting fresh (its checkpoints are deleted once this run has completed one; --restore ${storage.dir}/chk-${finishedRun.checkpointId} restores its last one)`,
    );
    return undefined;
  }
  if (checkpoint === undefined) return undefined;
  if (checkpoint.metadata.jobName !== jobName)
    throw new CheckpointJobMismatchError(checkpoint.folder, checkpoint.metadata.jobName, jobName);
  log(
    `resuming job '${jobName}' from checkpoint ${checkpoint.metadata.checkpointId} (${checkpoint.folder}); --fresh starts over instead`,
  );
  return checkpoint;
}

/**
 * Restoring a checkpoint older than one that completed (explicitly, or falling back past a
 * corrupt newest one) runs again what those newer checkpoints' sinks already committed. The file
 * sink takes its output back; a sink that cannot (Kafka: committed transactions are read) writes
 * it a second time. Said loudly, naming the checkpoints, because "exactly once" then does not hold.
 */
function warnRepeatedOutput(
  restoredId: number,
  completeIds: readonly number[],
  log: (message: string) => void,
): void {
  const newer = [...new Set(completeIds.filter((id) => id > restoredId))].sort((a, b) => a - b);
  if (newer.length === 0) return;
  log(
    `WARNING: restoring checkpoint ${restoredId} although checkpoint${newer.length > 1 ? 's' : ''} ${newer.join(', ')} completed after it: output that sinks committed for ${newer.length > 1 ? 'those checkpoints' : 'it'} is produced again. The file sink removes its files committed after checkpoint ${restoredId}; sinks that cannot take output back (Kafka) may repeat the output of checkpoint${newer.length > 1 ? 's' : ''} ${newer.join(', ')}`,
  );
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
  const web = options.web === undefined ? undefined : validateWebOptions(options.web);
  if (web?.savepointDirectory !== undefined && checkpointing === undefined) {
    throw new ConfigError(
      '"web.savepointDirectory" needs the "checkpointing" option: its directory stages the savepoint files',
    );
  }
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
  const logger = jobLogger(options).child({ job: jobName });
  const log = (message: string): void => logger.warn(message);
  const storage =
    checkpointing === undefined
      ? undefined
      : new CheckpointStorage(checkpointing.directory, { retain: checkpointing.retain ?? 3, log });
  const initial = await initialCheckpoint(jobName, storage, options, log);
  if (initial !== undefined && options.restoreFrom !== undefined) {
    logger.info(
      { event: 'restore', folder: initial.folder, checkpointId: initial.metadata.checkpointId },
      `job '${jobName}': restoring ${initial.folder} (checkpoint ${initial.metadata.checkpointId}, a ${initial.metadata.kind})`,
    );
  }
  if (initial !== undefined) {
    validateRestore(
      initial.metadata,
      {
        maxParallelism: planned.streamGraph.maxParallelism,
        operatorIds: new Set(planned.streamGraph.nodes.map((n) => n.id)),
      },
      { allowNonRestoredState: options.allowNonRestoredState ?? false, folder: initial.folder },
    );
  }
  // Continue the numbering of checkpoints already in the directory, so that none is overwritten,
  // and after the checkpoint restored, so that ids grow along the job's history (the file sink
  // tells by id which committed files came after the checkpoint it restores).
  const existing = storage === undefined ? [] : await storage.listComplete();
  const startId = Math.max(existing[0] ?? 0, initial?.metadata.checkpointId ?? 0);
  if (initial !== undefined) {
    const siblings =
      /^chk-\d+$/.test(basename(initial.folder)) && dirname(initial.folder) !== storage?.dir
        ? await new CheckpointStorage(dirname(initial.folder)).listComplete()
        : [];
    warnRepeatedOutput(initial.metadata.checkpointId, [...existing, ...siblings], log);
  }
  const checkpointIds = new CheckpointIdCounter(startId);
  if (storage !== undefined) {
    // Checkpoints newer than the one restored belong to a history this run leaves (and a fresh
    // run leaves them all): deleted once this run has completed a checkpoint of its own.
    storage.discardAtNextCommit(
      existing.filter((id) => initial === undefined || id > initial.metadata.checkpointId),
    );
  }
  const checkpointStats: CheckpointStats = { completed: [], aborted: 0, abandoned: [] };
  // The actions of the REST API reach the job master through these, bound once it exists below.
  const control = {
    savepoint: (folder: string): Promise<string> => handle.savepoint(folder),
    stopWithSavepoint: (folder: string): Promise<string> => handle.stopWithSavepoint(folder),
    cancel: (): void => void handle.cancel(),
  };
  const observer = new JobObserver({
    planned,
    parallelism,
    checkpointing,
    checkpointStats,
    clock: driver?.clock.now ?? systemClock,
    web,
    control,
  });
  // Started last of what can fail (a port in use), before anything that would need stopping.
  const server: WebServer | undefined = web === undefined ? undefined : await startWebServer(web, observer);
  if (server !== undefined) {
    log(`job '${jobName}': metrics and REST API at ${server.address.url}`);
    log(`job '${jobName}': dashboard at ${server.address.url}/`);
  }
  let cluster: JobManagerCluster | undefined;
  if (options.cluster !== undefined) {
    if (driver !== undefined) {
      await server?.close();
      throw new ConfigError('the job test driver runs jobs in one process: it takes no "cluster" option');
    }
    try {
      checkPortableArgs(options.args);
      cluster = await startJobManagerCluster(options.cluster, {
        jobName,
        slotsNeeded: planned.plan.slots.length,
        logger,
      });
    } catch (error) {
      await server?.close();
      throw error;
    }
    logger.debug(
      { event: 'job-manager-listening', ...cluster.address },
      `job '${jobName}': job manager listening for task managers at ${cluster.address.host}:${cluster.address.port}`,
    );
  }
  const collected = new Map<string, unknown[]>();
  const progress = new ProgressTracker(
    planned.plan.jobGraph.vertices.filter((v) => v.isSource).reduce((n, v) => n + v.parallelism, 0),
  );
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
    checkpointStats,
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
    logger,
    log,
    progress,
    // Started after every check that can reject; shut down when the job ends.
    // In a cluster the task managers host the databases of their slots.
    levelStoreHost:
      cluster === undefined && stateBackendFor(options.stateBackend, jobName).kind === 'leveldb'
        ? LevelStoreHost.start()
        : undefined,
    clock: driver?.clock.now ?? systemClock,
    watchdog: {
      timeoutMs: options.taskHeartbeatTimeoutMs ?? DEFAULT_TASK_HEARTBEAT_TIMEOUT_MS,
      clock: options.watchdogClock ?? (() => performance.now()),
    },
    driver,
  };

  let cancelled = false;
  let current: Attempt | undefined;
  let wakeFromDelay: (() => void) | undefined;
  const cancel = (): void => {
    cancelled = true;
    observer.cancelling();
    current?.stop();
    wakeFromDelay?.();
  };
  options.signal?.addEventListener('abort', cancel, { once: true });
  if (options.signal?.aborted) cancel();

  const cancelledError = (): JobCancelledError => {
    logger.info({ event: 'job-cancelled' }, `job '${jobName}' was cancelled`);
    return new JobCancelledError(jobName);
  };
  // Rates need two samples a second apart; the server's readers sample too, but may be rare.
  const sampler =
    server === undefined ? undefined : setInterval(() => observer.sampleRates(), RATE_INTERVAL_MS);
  sampler?.unref();
  let ended: 'finished' | 'failed' | 'cancelled' = 'failed';
  /** Set once a stop's savepoint is written: the job ends `stopped`, not `cancelled`. */
  let finalSavepoint: string | undefined;
  let webClosed: Promise<void> | undefined;
  const closeWeb = (): Promise<void> => {
    webClosed ??= server?.close() ?? Promise.resolve();
    return webClosed;
  };
  const result = (async (): Promise<JobResult> => {
    try {
      let restoreFrom = initial?.folder;
      for (let restarts = 0; ; restarts++) {
        if (cancelled) throw cancelledError();
        const backend = stateBackendFor(options.stateBackend, jobName);
        current =
          cluster === undefined
            ? runAttempt(context, restoreFrom, backend, restarts)
            : runRemoteAttempt(context, cluster.registry, restoreFrom, backend, restarts);
        observer.attemptStarted(current.metrics.layout, current.metrics.cells, current.rings);
        const outcome = await current.outcome;
        current = undefined;
        if (outcome.status === 'finished') {
          // Nothing to resume after a finished run: the next start of the job begins fresh.
          // (The job did finish: a pointer that cannot be written is reported, not a failure.)
          await storage
            ?.writeLatestPointer({
              jobName,
              checkpointId: context.checkpointStats.completed.at(-1)?.checkpointId ?? startId,
              finished: true,
            })
            .catch((error: unknown) =>
              log(
                `could not mark job '${jobName}' finished in ${storage.dir} (the next start resumes its last checkpoint): ${(error as Error).message}`,
              ),
            );
          observer.ended('finished');
          ended = 'finished';
          const metrics = observer.operatorMetrics();
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
        if (outcome.status === 'cancelled' || cancelled) {
          if (finalSavepoint === undefined) observer.ended('cancelled');
          else observer.ended('stopped', finalSavepoint);
          throw cancelledError();
        }
        // A mistake in the job or its options fails the same way every time: no restart.
        const cause = (outcome.error as { cause?: { code?: unknown } }).cause;
        const delayMs =
          cause?.code === 'SLUICE_CONFIG' || cause?.code === 'SLUICE_PLAN'
            ? undefined
            : restartDelayMs(validated.restartStrategy, restarts);
        observer.attemptFailed(outcome.error, delayMs !== undefined);
        if (delayMs === undefined) {
          observer.ended('failed');
          // Logged once, here, where the job ends: with its context, whoever reads the rejection.
          logger.error(
            { event: 'job-failed', err: outcome.error, ...failureFields(outcome.error), attempt: restarts },
            outcome.error.message,
          );
          throw outcome.error;
        }
        logger.warn(
          {
            event: 'job-restart',
            err: outcome.error,
            ...failureFields(outcome.error),
            attempt: restarts,
            delayMs,
          },
          `job '${jobName}' failed (${outcome.error.message}); restart ${restarts + 1} in ${delayMs} ms`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          wakeFromDelay = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeFromDelay = undefined;
        if (storage !== undefined) {
          // Only this run's own checkpoints (newer than any there before it), else where it began.
          const latest = await storage.latestValid(log, { newerThan: startId });
          restoreFrom = latest?.folder ?? initial?.folder;
          const restoredId = latest?.metadata.checkpointId ?? initial?.metadata.checkpointId;
          if (restoredId !== undefined) warnRepeatedOutput(restoredId, await storage.listComplete(), log);
        }
      }
    } finally {
      // Whatever ended the loop (a cancel during a restart delay, an error of our own) ends the job.
      observer.ended(cancelled ? 'cancelled' : 'failed');
      options.signal?.removeEventListener('abort', cancel);
      clearInterval(sampler);
      await context.levelStoreHost?.shutdown();
      await cluster?.close(cancelled ? 'cancelled' : ended);
      // Kept serving: the final status and savepoint requests stay readable until closeWeb().
      if (web?.keepServingAfterEnd !== true) await closeWeb();
    }
  })();
  const savepoint = async (folder: string, savepointOptions?: SavepointOptions): Promise<string> => {
    if (checkpointing === undefined) {
      throw new ConfigError('savepoints need the "checkpointing" option: its directory stages the files');
    }
    if (current === undefined)
      throw new SluiceError('SLUICE_JOB_NOT_RUNNING', `job '${jobName}' is not running`);
    return current.savepoint(resolvePath(folder), savepointOptions);
  };

  const handle: JobHandle = {
    jobName,
    result,
    web: server?.address,
    closeWeb,
    status: () => observer.job().status,
    cluster:
      cluster === undefined
        ? undefined
        : { address: cluster.address, taskManagerPids: () => cluster.taskManagerPids() },
    async cancel(): Promise<void> {
      cancel();
      await result.catch(() => undefined);
    },
    terminateWorker: async (index: number) =>
      current === undefined ? false : current.terminateWorker(index),
    savepoint: (folder) => savepoint(folder),
    progress: () => progress.snapshot(),
    async stopWithSavepoint(folder: string): Promise<string> {
      const path = await savepoint(folder, { stop: true });
      finalSavepoint = path;
      cancel();
      await result.catch(() => undefined);
      return path;
    },
  };
  return handle;
}

/** Where a failure happened, as log fields: the operator and subtask a job failure names. */
function failureFields(error: Error): Record<string, unknown> {
  if (!(error instanceof JobExecutionError) || error.operatorId === undefined) return {};
  return { operator: error.operatorId, subtask: error.subtaskIndex };
}
