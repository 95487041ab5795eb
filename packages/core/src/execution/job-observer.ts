import { join, resolve as resolvePath } from 'node:path';
import { transportOf } from '../channels/channel-factory.ts';
import { ringUsage } from '../channels/ring-buffer.ts';
import type { CheckpointingOptions, CheckpointStats } from '../checkpoint/checkpoint-coordinator.ts';
import { ConfigError, JobExecutionError, SluiceError } from '../errors.ts';
import { CellRates, type OperatorMetricsReport, readOperatorMetrics } from '../metrics/job-metrics.ts';
import type { MetricsLayout } from '../metrics/metrics-layout.ts';
import { PrometheusExporter, type PrometheusView } from '../metrics/prometheus.ts';
import { type LiveCells, type SnapshotShape, vertexSnapshots } from '../metrics/vertex-snapshot.ts';
import type { ExecutionPlan } from '../plan/execution-plan.ts';
import type {
  CheckpointJson,
  CheckpointsJson,
  ExceptionJson,
  ExceptionsJson,
  JobEndpoints,
  JobStatus,
  JobStatusJson,
  PlanJson,
  SavepointRequestJson,
  TerminalJobStatus,
  VerticesJson,
} from '../web/rest-types.ts';
import type { ResolvedWebOptions } from '../web/web-server.ts';
import type { PlannedJob } from './planner.ts';

/** How many failures and savepoint requests the observer keeps (the newest). */
const EXCEPTIONS_KEPT = 50;
const SAVEPOINT_REQUESTS_KEPT = 50;

/** How far apart rate samples are (ms): a rate covers about the last second. */
export const RATE_INTERVAL_MS = 1_000;

/** What the observer asks of the job master for the actions. */
export interface JobControl {
  savepoint(folder: string): Promise<string>;
  stopWithSavepoint(folder: string): Promise<string>;
  cancel(): void;
}

export interface JobObserverOptions {
  readonly planned: PlannedJob;
  readonly parallelism: number;
  readonly checkpointing: CheckpointingOptions | undefined;
  readonly checkpointStats: CheckpointStats;
  /** The job's processing time (ms since the epoch): watermark lag and the times reported. */
  readonly clock: () => number;
  readonly web: ResolvedWebOptions | undefined;
  readonly control: JobControl;
}

/**
 * The job master's view of a running job, for whoever asks — the job result, the REST API, the
 * Prometheus exposition: status, restarts, failures, checkpoint history, and the live counters
 * of the current attempt, read from the attempt's shared metrics array (the single source of
 * truth; nothing is copied from the slots by message).
 */
export class JobObserver implements JobEndpoints {
  readonly #options: JobObserverOptions;
  readonly #shape: SnapshotShape;
  readonly #startedAtMs: number;
  #endedAtMs: number | undefined;
  #status: JobStatus = 'created';
  #finalSavepoint: string | null = null;
  #attempt = -1;
  #restarts = 0;
  #live: LiveCells | undefined;
  readonly #rates = new CellRates(RATE_INTERVAL_MS);
  readonly #exceptions: ExceptionJson[] = [];
  #exceptionsDropped = 0;
  readonly #savepoints = new Map<number, SavepointRequestJson>();
  #nextSavepointRequest = 1;
  #exporter: PrometheusExporter | undefined;

  constructor(options: JobObserverOptions) {
    this.#options = options;
    this.#shape = snapshotShapeOf(options.planned);
    this.#startedAtMs = options.clock();
    // Made up front, not at the first scrape: prom-client's set-up stays out of the running job.
    if (options.web !== undefined) this.#exporter = this.#newExporter();
  }

  #newExporter(): PrometheusExporter {
    return new PrometheusExporter(() => this.prometheusView(), { processMetrics: true });
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** An attempt starts, with its metrics array and channels. */
  attemptStarted(layout: MetricsLayout, cells: Float64Array, rings: readonly SharedArrayBuffer[]): void {
    this.#attempt++;
    this.#status = 'running';
    this.#live = { layout, cells, rings: ringChannelsOf(this.#options.planned.plan, rings) };
    this.#rates.sample(cells, performance.now());
  }

  /** An attempt failed; `restarting` when another follows. */
  attemptFailed(error: Error, restarting: boolean): void {
    if (restarting) {
      this.#restarts++;
      this.#status = 'restarting';
    }
    const located = error instanceof JobExecutionError ? error : undefined;
    const cause = (located?.cause ?? error) as { code?: unknown; message?: unknown };
    this.#exceptions.unshift({
      timestampMs: this.#options.clock(),
      attempt: this.#attempt,
      message: error.message,
      // The cause's own code says what went wrong; the wrapper's (SLUICE_JOB_FAILED) only that it did.
      code: typeof cause.code === 'string' ? cause.code : null,
      operatorId: located?.operatorId ?? null,
      operatorName: located?.operatorName ?? null,
      subtaskIndex: located?.subtaskIndex ?? null,
      record: located?.record ?? null,
      userFunction: located?.userFunction ?? null,
      restarted: restarting,
    });
    if (this.#exceptions.length > EXCEPTIONS_KEPT) {
      this.#exceptions.pop();
      this.#exceptionsDropped++;
    }
  }

  cancelling(): void {
    if (this.#endedAtMs === undefined) this.#status = 'cancelling';
  }

  /**
   * The job ended for good; the first call says how (later ones change nothing). `stopped`
   * names the savepoint it was stopped with.
   */
  ended(status: TerminalJobStatus, finalSavepoint?: string): void {
    if (this.#endedAtMs !== undefined) return;
    this.#status = status;
    this.#finalSavepoint = finalSavepoint ?? null;
    this.#endedAtMs = this.#options.clock();
  }

  /**
   * Refuses an action on a job that has ended (a server kept up after the end to report it,
   * `web.keepServingAfterEnd`): the REST API answers 409 with the code.
   */
  #refuseIfEnded(action: string): void {
    if (this.#endedAtMs === undefined) return;
    throw new SluiceError(
      'SLUICE_JOB_ENDED',
      `job '${this.#options.planned.streamGraph.jobName}' has ended (${this.#status}${this.#finalSavepoint === null ? '' : `, with savepoint ${this.#finalSavepoint}`}): it takes no ${action} any more; GET /api/job reports how it ended`,
    );
  }

  /** Takes a rate sample now (the web server calls it once a second). */
  sampleRates(): void {
    if (this.#live !== undefined) this.#rates.sample(this.#live.cells, performance.now());
  }

  /** The counters of the current (or last) attempt, per operator and subtask: `JobResult.metrics`. */
  operatorMetrics(): OperatorMetricsReport[] {
    const live = this.#live;
    return live === undefined ? [] : readOperatorMetrics(this.#shape, live.layout, live.cells);
  }

  job(): JobStatusJson {
    const { planned, checkpointing, web } = this.#options;
    const reason =
      web?.token === undefined
        ? 'actions need a token: start the job with web.token (sluice run: SLUICE_WEB_TOKEN or --web-token-file)'
        : web.savepointDirectory === undefined
          ? 'savepoints need a savepoint directory (web.savepointDirectory; sluice run: --savepoint-dir)'
          : checkpointing === undefined
            ? 'savepoints need checkpointing'
            : null;
    return {
      name: planned.streamGraph.jobName,
      status: this.#status,
      startedAtMs: this.#startedAtMs,
      durationMs: (this.#endedAtMs ?? this.#options.clock()) - this.#startedAtMs,
      parallelism: this.#options.parallelism,
      maxParallelism: planned.streamGraph.maxParallelism,
      restarts: this.#restarts,
      checkpointing: checkpointing === undefined ? null : { intervalMs: checkpointing.intervalMs },
      finalSavepoint: this.#finalSavepoint,
      actions: {
        enabled: web?.token !== undefined,
        savepoints: reason === null,
        reason,
      },
    };
  }

  plan(): PlanJson {
    const { planned } = this.#options;
    const { jobGraph } = planned.plan;
    const nodes = planned.streamGraph.nodes;
    return {
      jobName: planned.streamGraph.jobName,
      maxParallelism: planned.streamGraph.maxParallelism,
      vertices: jobGraph.vertices.map((v) => ({
        index: v.index,
        id: v.id,
        name: v.name,
        parallelism: v.parallelism,
        isSource: v.isSource,
        operators: v.nodes.map((n) => ({ id: nodes[n]!.id, name: nodes[n]!.name })),
      })),
      edges: jobGraph.edges.map((e) => ({
        source: e.sourceVertex,
        target: e.targetVertex,
        partitioner: e.partitioner,
        sourceOperator: nodes[e.sourceNode]!.id,
        sideOutput: e.sideOutput ?? null,
      })),
    };
  }

  vertices(): VerticesJson {
    this.sampleRates();
    const live = this.#live;
    return {
      timestampMs: this.#options.clock(),
      attempt: Math.max(0, this.#attempt),
      vertices:
        live === undefined ? [] : vertexSnapshots(this.#shape, live, this.#rates, this.#options.clock()),
    };
  }

  checkpoints(): CheckpointsJson {
    const stats = this.#options.checkpointStats;
    const history: CheckpointJson[] = [
      ...stats.completed.map(
        (c): CheckpointJson => ({
          id: c.checkpointId,
          kind: c.kind,
          status: 'completed',
          triggeredAtMs: c.triggeredAtMs,
          durationMs: c.durationMs,
          bytes: c.bytes,
          alignmentMs: c.maxAlignmentMs,
          reason: null,
        }),
      ),
      ...(stats.abandoned ?? []).map(
        (a): CheckpointJson => ({
          id: a.checkpointId,
          kind: a.kind,
          status: 'abandoned',
          triggeredAtMs: a.triggeredAtMs,
          durationMs: a.durationMs,
          bytes: null,
          alignmentMs: null,
          reason: a.reason,
        }),
      ),
    ].sort((a, b) => b.id - a.id);
    return {
      enabled: this.#options.checkpointing !== undefined,
      counts: { completed: stats.completed.length, abandoned: stats.aborted },
      latest: history[0] ?? null,
      history,
    };
  }

  exceptions(): ExceptionsJson {
    return { exceptions: this.#exceptions.slice(), truncated: this.#exceptionsDropped };
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    this.#exporter ??= this.#newExporter();
    return { contentType: this.#exporter.contentType, body: await this.#exporter.scrape() };
  }

  prometheusView(): PrometheusView {
    const stats = this.#options.checkpointStats;
    const last = stats.completed.at(-1);
    return {
      jobName: this.#options.planned.streamGraph.jobName,
      running: this.#status === 'running',
      restarts: this.#restarts,
      vertices: this.vertices().vertices,
      checkpoints: {
        completed: stats.completed.length,
        abandoned: stats.aborted,
        last:
          last === undefined
            ? undefined
            : { durationMs: last.durationMs, bytes: last.bytes, alignmentMs: last.maxAlignmentMs },
      },
    };
  }

  triggerSavepoint(stop: boolean): SavepointRequestJson {
    const { web, checkpointing, control } = this.#options;
    this.#refuseIfEnded(stop ? 'stop' : 'savepoint');
    if (web?.savepointDirectory === undefined) {
      throw new ConfigError(
        'this job takes no savepoints through the API: start it with web.savepointDirectory (sluice run: --savepoint-dir)',
      );
    }
    if (checkpointing === undefined) {
      throw new ConfigError('savepoints need the "checkpointing" option: its directory stages the files');
    }
    if (this.#status !== 'running') {
      throw new SluiceError('SLUICE_JOB_NOT_RUNNING', `job is ${this.#status}, not running`);
    }
    const id = this.#nextSavepointRequest++;
    // The folder is made here, from the configured directory and the time: never from the request.
    const folder = join(
      resolvePath(web.savepointDirectory),
      `savepoint-${new Date(this.#options.clock()).toISOString().replace(/[:.]/g, '-')}-${id}`,
    );
    const request: SavepointRequestJson = {
      id,
      stop,
      status: 'in-progress',
      requestedAtMs: this.#options.clock(),
      folder: null,
      error: null,
    };
    this.#savepoints.set(id, request);
    if (this.#savepoints.size > SAVEPOINT_REQUESTS_KEPT) {
      this.#savepoints.delete(this.#savepoints.keys().next().value!);
    }
    (stop ? control.stopWithSavepoint(folder) : control.savepoint(folder)).then(
      (written) => this.#savepoints.set(id, { ...request, status: 'completed', folder: written }),
      (error: unknown) =>
        this.#savepoints.set(id, {
          ...request,
          status: 'failed',
          error: (error as Error)?.message ?? String(error),
        }),
    );
    return request;
  }

  savepointRequest(id: number): SavepointRequestJson | undefined {
    return this.#savepoints.get(id);
  }

  cancel(): void {
    this.#refuseIfEnded('cancel');
    this.#options.control.cancel();
  }
}

/** Each vertex's operators in layout order, and which of them feed its edges. */
function snapshotShapeOf(planned: PlannedJob): SnapshotShape {
  const { jobGraph } = planned.plan;
  const nodes = planned.streamGraph.nodes;
  return {
    vertices: jobGraph.vertices.map((v) => {
      const sourceNodes = new Set(
        jobGraph.edges.filter((e) => e.sourceVertex === v.index).map((e) => e.sourceNode),
      );
      return {
        id: v.id,
        name: v.name,
        parallelism: v.parallelism,
        operators: v.nodes.map((n) => ({ id: nodes[n]!.id, name: nodes[n]!.name })),
        outputOperators: v.nodes.flatMap((n, position) => (sourceNodes.has(n) ? [position] : [])),
      };
    }),
  };
}

/** The channels that cross threads (those within a slot hand over without a ring). */
function ringChannelsOf(plan: ExecutionPlan, rings: readonly SharedArrayBuffer[]): LiveCells['rings'] {
  return plan.channels.flatMap((channel) => {
    const sab = rings[channel.index];
    if (sab === undefined || transportOf(channel, channel.sourceSubtask) === 'local') return [];
    return [
      {
        usage: () => ringUsage(sab),
        sourceVertex: channel.sourceVertex,
        sourceSubtask: channel.sourceSubtask,
        targetVertex: channel.targetVertex,
        targetSubtask: channel.targetSubtask,
      },
    ];
  });
}
