import type { VertexSnapshot } from '../metrics/vertex-snapshot.ts';

/**
 * The JSON of the REST API (docs/observability.md shows each with an example). Times are ms since
 * the epoch on the job's clock, durations ms, sizes bytes.
 */

/**
 * `created` until the first attempt starts; `restarting` between a failure and the next attempt.
 * Terminal: `finished` (bounded input read), `failed`, `cancelled`, and `stopped` (stopped with a
 * savepoint: `POST /api/stop`, or `JobHandle.stopWithSavepoint`; the job processed nothing that
 * savepoint does not cover, see `finalSavepoint`).
 */
export type JobStatus =
  | 'created'
  | 'running'
  | 'restarting'
  | 'finished'
  | 'failed'
  | 'cancelling'
  | 'cancelled'
  | 'stopped';

/** The states a job ends in. */
export type TerminalJobStatus = Extract<JobStatus, 'finished' | 'failed' | 'cancelled' | 'stopped'>;

/** `GET /api/job` */
export interface JobStatusJson {
  readonly name: string;
  readonly status: JobStatus;
  readonly startedAtMs: number;
  /** Running time so far, or until it ended. */
  readonly durationMs: number;
  readonly parallelism: number;
  readonly maxParallelism: number;
  readonly restarts: number;
  readonly checkpointing: { readonly intervalMs: number } | null;
  /** Status `stopped`: the folder of the savepoint the job was stopped with (null otherwise). */
  readonly finalSavepoint: string | null;
  /** Which actions this server takes: they need the token, savepoints a savepoint directory. */
  readonly actions: {
    readonly enabled: boolean;
    readonly savepoints: boolean;
    /** Why actions or savepoints are refused, when they are. */
    readonly reason: string | null;
  };
}

/** `GET /api/plan`: the job graph as it runs (chained vertices, the edges between them). */
export interface PlanJson {
  readonly jobName: string;
  readonly maxParallelism: number;
  readonly vertices: readonly {
    readonly index: number;
    readonly id: string;
    readonly name: string;
    readonly parallelism: number;
    readonly isSource: boolean;
    /** The chained operators, the head first. */
    readonly operators: readonly { readonly id: string; readonly name: string }[];
  }[];
  readonly edges: readonly {
    readonly source: number;
    readonly target: number;
    /** forward, rebalance, hash (by key group), broadcast... */
    readonly partitioner: string;
    /** The operator of the source vertex whose output the edge carries. */
    readonly sourceOperator: string;
    readonly sideOutput: string | null;
  }[];
}

/** `GET /api/vertices` */
export interface VerticesJson {
  readonly timestampMs: number;
  /** The attempt the counters belong to (0 first; counters restart with each). */
  readonly attempt: number;
  readonly vertices: readonly VertexSnapshot[];
}

/** One entry of the checkpoint history. */
export interface CheckpointJson {
  readonly id: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly status: 'completed' | 'abandoned';
  readonly triggeredAtMs: number;
  readonly durationMs: number;
  /** Completed only: state written (bytes) and the longest barrier alignment (ms). */
  readonly bytes: number | null;
  readonly alignmentMs: number | null;
  /** Abandoned only: why. */
  readonly reason: string | null;
}

/** `GET /api/checkpoints` */
export interface CheckpointsJson {
  readonly enabled: boolean;
  readonly counts: { readonly completed: number; readonly abandoned: number };
  readonly latest: CheckpointJson | null;
  /** Newest first: every completed one, the newest abandoned ones. */
  readonly history: readonly CheckpointJson[];
}

/** A failure of the job, with where it happened as the error carries it. */
export interface ExceptionJson {
  readonly timestampMs: number;
  readonly attempt: number;
  readonly message: string;
  readonly code: string | null;
  readonly operatorId: string | null;
  readonly operatorName: string | null;
  readonly subtaskIndex: number | null;
  /** A preview of the record being processed. */
  readonly record: string | null;
  readonly userFunction: string | null;
  /** Whether the job restarted after it. */
  readonly restarted: boolean;
}

/** `GET /api/exceptions`, newest first. */
export interface ExceptionsJson {
  readonly exceptions: readonly ExceptionJson[];
  /** How many were left out (only the newest are kept). */
  readonly truncated: number;
}

/** `POST /api/savepoints`, `POST /api/stop`, `GET /api/savepoints/:id` */
export interface SavepointRequestJson {
  readonly id: number;
  readonly stop: boolean;
  readonly status: 'in-progress' | 'completed' | 'failed';
  readonly requestedAtMs: number;
  /** Where the savepoint was written (below the job's configured savepoint directory). */
  readonly folder: string | null;
  readonly error: string | null;
}

/** What the REST API serves; the job master implements it. */
export interface JobEndpoints {
  job(): JobStatusJson;
  plan(): PlanJson;
  vertices(): VerticesJson;
  checkpoints(): CheckpointsJson;
  exceptions(): ExceptionsJson;
  /** Prometheus exposition text. */
  metrics(): Promise<{ readonly contentType: string; readonly body: string }>;
  /** Starts a savepoint (and a stop after it) into a new folder of the configured directory. */
  triggerSavepoint(stop: boolean): SavepointRequestJson;
  savepointRequest(id: number): SavepointRequestJson | undefined;
  cancel(): void;
}
