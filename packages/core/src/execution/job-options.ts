import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import type { TlsServerFiles } from '../channels/tcp/endpoint.ts';
import type { CheckpointingOptions, CompletedCheckpointStats } from '../checkpoint/checkpoint-coordinator.ts';
import {
  DEFAULT_RESTART_STRATEGY,
  type RestartStrategy,
  validateRestartStrategy,
} from '../checkpoint/restart-strategy.ts';
import type { Logger } from '../contracts/logger.ts';
import { ConfigError } from '../errors.ts';
import type { WebOptions } from '../web/web-server.ts';
import {
  DEFAULT_EXECUTION_CONFIG,
  type ExecutionConfig,
  resolveExecutionConfig,
} from './execution-config.ts';
import type { StateBackendAssignment } from './messages.ts';

export interface RunJobOptions<A = unknown> extends Partial<ExecutionConfig> {
  /** Default parallelism of every operator (default 1). */
  readonly parallelism?: number;
  /** Number of key groups (default 128); the upper bound of any operator's parallelism. */
  readonly maxParallelism?: number;
  /** Plain data handed to the job's build function in every worker. */
  readonly args?: A;
  /** Chain operators into tasks where possible (default true). */
  readonly chaining?: boolean;
  /**
   * Pre-aggregate the input of eligible windows in the producing subtask, before the keyBy
   * exchange (default true): partial accumulators per key and window cross the threads instead of
   * records. Eligible: event-time tumbling and sliding windows with `reduce`, or with `aggregate`
   * whose AggregateFunction has `merge`, the default trigger, no evictor, no late side output.
   */
  readonly localAggregation?: boolean;
  /** Cancels the job; `runJob` then rejects with a JobCancelledError. */
  readonly signal?: AbortSignal;
  /** Called with each batch a sink sends to the coordinator (e.g. a collect sink), as it arrives. */
  readonly onSinkData?: (channel: string, payload: unknown) => void;
  /** Take periodic aligned checkpoints; a failure then restarts the job from the last one. */
  readonly checkpointing?: CheckpointingOptions;
  /** What to do on failure (default: 10 restarts 200 ms apart with checkpointing, none without). */
  readonly restartStrategy?: RestartStrategy;
  /**
   * Resume from a checkpoint or savepoint folder (`chk-<n>` or a savepoint), or from the newest
   * valid checkpoint of a checkpoint directory. A `chk-<n>` folder that does not verify falls back
   * to the previous valid checkpoint of its directory, with a message.
   */
  readonly restoreFrom?: string;
  /**
   * Start from scratch even though `checkpointing.directory` holds checkpoints of this job (by
   * default the job resumes from the newest valid one). The old checkpoints are deleted once this
   * run has completed its first checkpoint. Not with `restoreFrom`.
   */
  readonly fresh?: boolean;
  /**
   * A slot whose thread shows no heartbeat for this long (ms) is taken for hung — stuck in
   * synchronous user code, e.g. an infinite loop — and the attempt fails: its thread is terminated
   * and the restart strategy takes over (default 60000; 100 to 2147483647).
   */
  readonly taskHeartbeatTimeoutMs?: number;
  /**
   * The watchdog's clock (ms, monotonic; default `performance.now`). For tests: a clock they move
   * themselves makes the watchdog's verdict independent of the machine's load.
   */
  readonly watchdogClock?: () => number;
  /** Restore even if the checkpoint holds state of operators the job no longer has (that state is dropped). */
  readonly allowNonRestoredState?: boolean;
  /**
   * Where the runtime, and user functions through `ctx.logger`, write their log lines: a pino
   * logger or any object with pino's methods (`trace` ... `fatal`, `child`). Every line carries
   * the job (and attempt); lines from operators also their operator and subtask. Default: pino,
   * JSON lines on stderr, level from SLUICE_LOG_LEVEL (default info). See docs/logging.md.
   */
  readonly logger?: Logger;
  /**
   * The simple form of `logger`: called with one human-readable line for each line at info
   * level and above (restarts, abandoned checkpoints, what user functions log). Not with `logger`.
   */
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
  /**
   * Serve live metrics (Prometheus, `/metrics`) and the REST API (`/api/...`) over HTTP while the
   * job runs; the address is `JobHandle.web`. See docs/observability.md for the endpoints and
   * the security rules.
   */
  readonly web?: WebOptions;
  /**
   * Run the slots in task-manager processes instead of this process's threads (docs/cluster.md):
   * `{ taskManagers, slotsPerTaskManager }` starts them as child processes of this one (a local
   * cluster); `{ listen, secret }` opens a control port for task managers started elsewhere
   * (`sluice taskmanager`), as `sluice jobmanager` does.
   */
  readonly cluster?: ClusterOptions;
}

/** Where the task managers of a job come from. */
export type ClusterOptions = LocalClusterSpec | JobManagerSpec;

/** Task managers started by the job manager, as child processes on this machine. */
export interface LocalClusterSpec {
  readonly taskManagers: number;
  /** Default: as few as hold the job's highest parallelism (1, a slot per process, when there are enough task managers). */
  readonly slotsPerTaskManager?: number;
}

/** Task managers that register at this job manager's control port. */
export interface JobManagerSpec {
  readonly listen: { readonly host?: string; readonly port?: number };
  /** The cluster secret every connection proves (`loadClusterSecret`), at least 16 bytes. */
  readonly secret: Uint8Array;
  /** TLS for the control port (PEM files). */
  readonly tls?: TlsServerFiles;
  /**
   * The slots the task managers will offer in all, when the cluster is fixed (`sluice run
   * --task-managers`, a fixed number of pods): a job that needs more fails at once, where the job
   * manager would otherwise wait for task managers to register.
   */
  readonly expectedSlots?: number;
}

/** Options checked once, before any thread starts. */
export interface ValidatedOptions {
  readonly parallelism: number;
  readonly maxParallelism: number | undefined;
  readonly config: ExecutionConfig;
  readonly checkpointing: CheckpointingOptions | undefined;
  readonly restartStrategy: RestartStrategy;
}

/** Node's timers hold at most 2^31 - 1 ms; a longer delay fires after 1 ms, with a warning. */
const MAX_TIMER_MS = 2_147_483_647;
/** A V8 Map holds at most 2^24 entries; the cache is one. */
const CACHE_MAX_KEYS_MAX = 1 << 24;
/** Upper bounds of the checkpointing counts: far beyond any use, so that a typo is refused. */
const CHECKPOINTING_COUNT_MAX: Record<'maxConcurrent' | 'retain', number> = {
  maxConcurrent: 1000,
  retain: 1000,
};
/** Below this, a slot busy with one large batch, a GC pause or a loaded machine would pass for hung. */
export const TASK_HEARTBEAT_TIMEOUT_MIN_MS = 100;

/** Every option `runJob`/`startJob` knows: a misspelt one is refused, not silently ignored. */
const RUN_JOB_OPTIONS: ReadonlySet<string> = new Set<keyof RunJobOptions>([
  'parallelism',
  'maxParallelism',
  'args',
  'chaining',
  'localAggregation',
  'signal',
  'onSinkData',
  'checkpointing',
  'restartStrategy',
  'restoreFrom',
  'fresh',
  'taskHeartbeatTimeoutMs',
  'cluster',
  'watchdogClock',
  'allowNonRestoredState',
  'log',
  'logger',
  'onCheckpoint',
  'stateBackend',
  'web',
  ...(Object.keys(DEFAULT_EXECUTION_CONFIG) as (keyof ExecutionConfig)[]),
]);
const CHECKPOINTING_OPTIONS: ReadonlySet<string> = new Set<keyof CheckpointingOptions>([
  'directory',
  'intervalMs',
  'timeoutMs',
  'maxConcurrent',
  'retain',
]);

/** Checks every option `startJob` takes; throws a ConfigError naming the first bad one. */
export function validateRunJobOptions(options: RunJobOptions<unknown>): ValidatedOptions {
  rejectUnknownKeys(options, RUN_JOB_OPTIONS, '');
  if (options.localAggregation !== undefined && typeof options.localAggregation !== 'boolean') {
    throw new ConfigError(
      `option "localAggregation" must be true or false, got ${String(options.localAggregation)}`,
    );
  }
  const checkpointing = validateCheckpointing(options.checkpointing);
  if (options.fresh !== undefined && typeof options.fresh !== 'boolean')
    throw new ConfigError(`option "fresh" must be a boolean, got ${String(options.fresh)}`);
  if (
    options.taskHeartbeatTimeoutMs !== undefined &&
    !(
      Number.isInteger(options.taskHeartbeatTimeoutMs) &&
      options.taskHeartbeatTimeoutMs >= TASK_HEARTBEAT_TIMEOUT_MIN_MS &&
      options.taskHeartbeatTimeoutMs <= MAX_TIMER_MS
    )
  )
    throw new ConfigError(
      `option "taskHeartbeatTimeoutMs" must be an integer from ${TASK_HEARTBEAT_TIMEOUT_MIN_MS} to ${MAX_TIMER_MS} (ms), got ${String(options.taskHeartbeatTimeoutMs)}`,
    );
  if (options.watchdogClock !== undefined && typeof options.watchdogClock !== 'function')
    throw new ConfigError('option "watchdogClock" must be a function returning ms');
  if (options.fresh === true && options.restoreFrom !== undefined)
    throw new ConfigError('options "fresh" and "restoreFrom" exclude each other: fresh means no restore');
  validateCluster(options.cluster);
  return {
    parallelism: validateParallelism(options.parallelism, 'parallelism') ?? 1,
    maxParallelism: validateParallelism(options.maxParallelism, 'maxParallelism'),
    config: resolveExecutionConfig(options),
    checkpointing,
    restartStrategy: validateRestartStrategy(
      options.restartStrategy ?? (checkpointing === undefined ? { kind: 'none' } : DEFAULT_RESTART_STRATEGY),
    ),
  };
}

const MAX_LOCAL_TASK_MANAGERS = 256;

function validateCluster(cluster: ClusterOptions | undefined): void {
  if (cluster === undefined) return;
  if (typeof cluster !== 'object' || cluster === null)
    throw new ConfigError(`option "cluster" must be an object, got ${String(cluster)}`);
  if ('listen' in cluster) {
    rejectUnknownKeys(cluster, new Set(['listen', 'secret', 'tls', 'expectedSlots']), 'cluster.');
    const { expectedSlots } = cluster;
    if (expectedSlots !== undefined && !(Number.isInteger(expectedSlots) && expectedSlots >= 1))
      throw new ConfigError(
        `option "cluster.expectedSlots" must be a positive integer, got ${String(expectedSlots)}`,
      );
    const { port, host } = cluster.listen ?? {};
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
      throw new ConfigError(
        `option "cluster.listen.port" must be an integer from 0 to 65535, got ${String(port)}`,
      );
    if (host !== undefined && (typeof host !== 'string' || host.length === 0))
      throw new ConfigError(`option "cluster.listen.host" must be a non-empty string, got ${String(host)}`);
    if (!(cluster.secret instanceof Uint8Array))
      throw new ConfigError('option "cluster.secret" must be a Uint8Array (see loadClusterSecret)');
    return;
  }
  rejectUnknownKeys(cluster, new Set(['taskManagers', 'slotsPerTaskManager']), 'cluster.');
  const { taskManagers, slotsPerTaskManager } = cluster;
  if (!(Number.isInteger(taskManagers) && taskManagers >= 1 && taskManagers <= MAX_LOCAL_TASK_MANAGERS))
    throw new ConfigError(
      `option "cluster.taskManagers" must be an integer from 1 to ${MAX_LOCAL_TASK_MANAGERS}, got ${String(taskManagers)}`,
    );
  if (
    slotsPerTaskManager !== undefined &&
    !(Number.isInteger(slotsPerTaskManager) && slotsPerTaskManager >= 1 && slotsPerTaskManager <= 1024)
  )
    throw new ConfigError(
      `option "cluster.slotsPerTaskManager" must be an integer from 1 to 1024, got ${String(slotsPerTaskManager)}`,
    );
}

function validateParallelism(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(`option "${option}" must be an integer >= 1, got ${String(value)}`);
  }
  return value;
}

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
    if ((key === 'maxConcurrent' || key === 'retain') && value > CHECKPOINTING_COUNT_MAX[key]) {
      throw new ConfigError(
        `option "checkpointing.${key}" must be at most ${CHECKPOINTING_COUNT_MAX[key]}, got ${value}`,
      );
    }
    if ((key === 'intervalMs' || key === 'timeoutMs') && value > MAX_TIMER_MS) {
      throw new ConfigError(
        `option "checkpointing.${key}" must be at most ${MAX_TIMER_MS} ms (Node's timer limit), got ${value}`,
      );
    }
  }
  return options;
}

/**
 * Where keyed state lives in one attempt. A LevelDB backend gets a directory of its own per
 * attempt (the job's name, the process, the time and a random part): a restarted attempt
 * restores from the checkpoint into new databases, never into what a killed thread left.
 */
export function stateBackendFor(
  option: RunJobOptions['stateBackend'],
  jobName: string,
): StateBackendAssignment {
  if (option === undefined || option === 'heap') return { kind: 'heap' };
  if (option === null || typeof option !== 'object' || option.kind !== 'leveldb') {
    throw new ConfigError(
      `option "stateBackend" must be 'heap' or { kind: 'leveldb', ... }, got ${String(option)}`,
    );
  }
  const { cacheMaxKeys } = option;
  if (
    cacheMaxKeys !== undefined &&
    (!Number.isInteger(cacheMaxKeys) || cacheMaxKeys < 1 || cacheMaxKeys > CACHE_MAX_KEYS_MAX)
  ) {
    throw new ConfigError(
      `option "stateBackend.cacheMaxKeys" must be an integer from 1 to ${CACHE_MAX_KEYS_MAX} (keys kept in memory), got ${String(cacheMaxKeys)}`,
    );
  }
  const base = option.directory ?? join(tmpdir(), 'sluice-state');
  const attempt = `${jobName.replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  return { kind: 'leveldb', directory: join(resolvePath(base), attempt), cacheMaxKeys: option.cacheMaxKeys };
}
