import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { allocateDoorbell, Doorbell } from '../channels/doorbell.ts';
import { allocateRing } from '../channels/ring-buffer.ts';
import { ConfigError, deserializeError, JobExecutionError, SluiceError } from '../errors.ts';
import { cancelAllSlots } from '../runtime/slot.ts';
import { type ExecutionConfig, resolveExecutionConfig } from './execution-config.ts';
import { type JobModuleRef, jobModuleUrl, loadJob } from './job-loader.ts';
import type { OperatorMetricsReport, SlotAssignment, SlotMessage, SlotResult } from './messages.ts';
import { planJob } from './planner.ts';

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
}

export interface JobResult {
  readonly jobName: string;
  readonly durationMs: number;
  /** Records a `collectSink(name)` received, from all its subtasks. */
  collected<T = unknown>(name: string): T[];
  /** Per operator and subtask counters. */
  readonly metrics: readonly OperatorMetricsReport[];
  /** Late records dropped by windows (not sent to a side output), summed over subtasks. */
  readonly lateRecordsDropped: number;
  /** Records read by all sources. */
  readonly sourceRecords: number;
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
}

const require = createRequire(import.meta.url);

/** How long slots may take to stop after a failure or cancellation before their threads are terminated. */
const STOP_GRACE_MS = 5_000;

function workerExecArgv(): string[] {
  const extra = process.env.SLUICE_WORKER_EXEC_ARGV;
  return extra === undefined || extra.trim() === '' ? [] : extra.trim().split(/\s+/);
}

function validateParallelism(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(`option "${option}" must be an integer >= 1, got ${String(value)}`);
  }
  return value;
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
 * Planning errors reject here, before any thread starts.
 */
export async function startJob<A = unknown>(
  module: JobModuleRef,
  options: RunJobOptions<A> = {},
): Promise<JobHandle> {
  const startedAt = performance.now();
  const parallelism = validateParallelism(options.parallelism, 'parallelism') ?? 1;
  const maxParallelism = validateParallelism(options.maxParallelism, 'maxParallelism');
  const config = resolveExecutionConfig(options);
  const url = jobModuleUrl(module);
  const job = await loadJob(url);
  const planned = planJob(job, options.args, {
    parallelism,
    ...(maxParallelism === undefined ? {} : { maxParallelism }),
    chaining: options.chaining ?? true,
  });
  const { plan } = planned;
  const jobName = job.config.name;
  const sourceIds = new Set(planned.streamGraph.nodes.filter((n) => n.role === 'source').map((n) => n.id));

  const rings = plan.channels.map(() => allocateRing(config.channelCapacityBytes));
  const doorbellBuffers = plan.slots.map(() => allocateDoorbell());
  const doorbells = doorbellBuffers.map((sab) => new Doorbell(sab));
  const controlBuffer = new SharedArrayBuffer(4);
  const control = new Int32Array(controlBuffer);
  const numSlots = plan.slots.length;

  const pool = new Piscina({
    filename: new URL('./slot-worker-entry.ts', import.meta.url).href,
    minThreads: numSlots,
    maxThreads: numSlots,
    concurrentTasksPerWorker: 1,
    // A slot is one long task whose thread keeps timers; 'sync' atomics would block its event loop.
    atomics: 'disabled',
    idleTimeout: Number.POSITIVE_INFINITY,
    // SLUICE_WORKER_EXEC_ARGV adds flags for the slot threads only, e.g. "--cpu-prof" to profile them.
    execArgv: ['--require', require.resolve('tsx/cjs'), ...workerExecArgv()],
  });

  const collected = new Map<string, unknown[]>();
  let failure: Error | undefined;
  let cancelled = false;
  /**
   * Slots stop at their next loop turn once cancelled; one stuck in user code (a sink's close
   * that never settles) must not keep the job alive: after a grace period its thread is
   * terminated, so runJob always settles and no thread survives it.
   */
  let forcedStop: ReturnType<typeof setTimeout> | undefined;
  let terminated = false;
  const stopAll = (): void => {
    cancelAllSlots(control, doorbells);
    forcedStop ??= setTimeout(() => {
      terminated = true;
      void pool.destroy();
    }, STOP_GRACE_MS);
  };
  const onMessage = (message: SlotMessage): void => {
    if (message.type === 'data') {
      options.onSinkData?.(message.channel, message.payload);
      let list = collected.get(message.channel);
      if (list === undefined) {
        list = [];
        collected.set(message.channel, list);
      }
      for (const item of message.payload as unknown[]) list.push(item);
      return;
    }
    if (failure === undefined) {
      failure = new JobExecutionError(
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
    }
    stopAll();
  };

  const slotRuns = plan.slots.map((slot) => {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', onMessage);
    const closed = new Promise<void>((resolve) => port1.once('close', () => resolve()));
    const assignment: SlotAssignment = {
      jobUrl: url,
      args: options.args,
      parallelism,
      maxParallelism,
      chaining: options.chaining ?? true,
      config,
      fingerprint: planned.fingerprint,
      slotIndex: slot.index,
      rings,
      doorbells: doorbellBuffers,
      control: controlBuffer,
      port: port2 as MessagePort,
    };
    const run = (pool.run(assignment, { transferList: [port2] as never }) as Promise<SlotResult>).then(
      async (result) => {
        await closed;
        return result;
      },
      (error: unknown) => {
        // The thread died (terminated, out of memory, uncaught error): stop the others.
        port1.close();
        if (failure === undefined && !cancelled && !terminated) {
          failure = new JobExecutionError(
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
    return run;
  });

  const abort = (): void => {
    cancelled = true;
    stopAll();
  };
  options.signal?.addEventListener('abort', abort, { once: true });
  if (options.signal?.aborted) abort();

  const result = (async (): Promise<JobResult> => {
    try {
      const results = await Promise.all(slotRuns);
      if (failure !== undefined) throw failure;
      if (cancelled) throw new JobCancelledError(jobName);
      const metrics = results.flatMap((r) => r?.metrics ?? []);
      return {
        jobName,
        durationMs: performance.now() - startedAt,
        collected: <T>(name: string) => (collected.get(`collect:${name}`) ?? []) as T[],
        metrics,
        lateRecordsDropped: metrics.reduce((n, m) => n + m.lateRecordsDropped, 0),
        sourceRecords: metrics
          .filter((m) => sourceIds.has(m.operatorId))
          .reduce((n, m) => n + m.recordsIn, 0),
      };
    } finally {
      options.signal?.removeEventListener('abort', abort);
      clearTimeout(forcedStop);
      if (!terminated) await pool.destroy();
    }
  })();

  return {
    jobName,
    result,
    async cancel(): Promise<void> {
      abort();
      await result.catch(() => undefined);
    },
  };
}
