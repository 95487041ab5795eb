import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { VertexSnapshot, WatermarkValue } from './vertex-snapshot.ts';

/** What one scrape reports: the job's live vertices and its job-level counts. */
export interface PrometheusView {
  readonly jobName: string;
  readonly running: boolean;
  readonly restarts: number;
  readonly vertices: readonly VertexSnapshot[];
  readonly checkpoints: {
    readonly completed: number;
    readonly abandoned: number;
    readonly last:
      | { readonly durationMs: number; readonly bytes: number; readonly alignmentMs: number }
      | undefined;
  };
}

type Labels = Record<string, string | number>;
type Sample = readonly [labels: Labels, value: number];

const finite = (w: WatermarkValue): number | undefined => (typeof w === 'number' ? w : undefined);

/**
 * The Prometheus exposition of one job, with prom-client: every metric reads the view taken at
 * the start of the scrape (one read of the shared counters per scrape, whatever the number of
 * metrics). Counters restart at zero with each attempt after a failure, which Prometheus'
 * `rate()` reads as a counter reset. Names and units: docs/observability.md.
 */
export class PrometheusExporter {
  readonly registry = new Registry();
  readonly #view: () => PrometheusView;
  #current: PrometheusView | undefined;

  constructor(view: () => PrometheusView, options: { readonly processMetrics: boolean }) {
    this.#view = view;
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'sluice_process_' });
    const operators = ['job', 'task', 'operator', 'subtask'] as const;
    const tasks = ['job', 'task', 'subtask'] as const;

    const operatorSamples =
      (pick: (o: VertexSnapshot['operators'][number]['subtasks'][number]) => number | null | undefined) =>
      (view: PrometheusView): Sample[] =>
        view.vertices.flatMap((v) =>
          v.operators.flatMap((o) =>
            o.subtasks.flatMap((s): Sample[] => {
              const value = pick(s);
              return value === null || value === undefined
                ? []
                : [[{ job: view.jobName, task: v.id, operator: o.id, subtask: s.subtaskIndex }, value]];
            }),
          ),
        );
    const taskSamples =
      (pick: (s: VertexSnapshot['subtasks'][number]) => number | null) =>
      (view: PrometheusView): Sample[] =>
        view.vertices.flatMap((v) =>
          v.subtasks.flatMap((s): Sample[] => {
            const value = pick(s);
            return value === null
              ? []
              : [[{ job: view.jobName, task: v.id, subtask: s.subtaskIndex }, value]];
          }),
        );
    const job =
      (pick: (view: PrometheusView) => number | undefined) =>
      (view: PrometheusView): Sample[] => {
        const value = pick(view);
        return value === undefined ? [] : [[{ job: view.jobName }, value]];
      };

    this.#counter(
      'sluice_operator_records_in_total',
      'Records an operator subtask took in (a source: read).',
      operators,
      operatorSamples((s) => s.recordsIn),
    );
    this.#counter(
      'sluice_operator_records_out_total',
      'Records an operator subtask emitted (main and side outputs).',
      operators,
      operatorSamples((s) => s.recordsOut),
    );
    this.#gauge(
      'sluice_operator_records_in_per_second',
      'Records in per second over the last sampling interval.',
      operators,
      operatorSamples((s) => s.recordsInPerSecond),
    );
    this.#gauge(
      'sluice_operator_records_out_per_second',
      'Records out per second over the last sampling interval.',
      operators,
      operatorSamples((s) => s.recordsOutPerSecond),
    );
    this.#counter(
      'sluice_operator_late_records_dropped_total',
      'Late records a window or interval join dropped (no late side output).',
      operators,
      operatorSamples((s) => s.lateRecordsDropped),
    );
    this.#gauge(
      'sluice_operator_current_input_watermark_ms',
      "The operator subtask's input watermark (ms since the epoch); absent before the first and after the end of input.",
      operators,
      operatorSamples((s) => finite(s.watermark)),
    );
    this.#gauge(
      'sluice_operator_watermark_lag_ms',
      'Processing time minus the input watermark (ms).',
      operators,
      operatorSamples((s) => s.watermarkLagMs),
    );
    this.#gauge(
      'sluice_operator_state_entries',
      'Keyed state (key, namespace) entries in memory (heap: all; LevelDB: its cache).',
      operators,
      operatorSamples((s) => s.stateEntries),
    );

    this.#counter(
      'sluice_task_busy_time_ms_total',
      'Time a subtask spent working (ms).',
      tasks,
      taskSamples((s) => s.busyTimeMs),
    );
    this.#counter(
      'sluice_task_idle_time_ms_total',
      'Time a subtask waited for input (ms).',
      tasks,
      taskSamples((s) => s.idleTimeMs),
    );
    this.#counter(
      'sluice_task_back_pressured_time_ms_total',
      'Time a subtask waited for room in its output channels (ms).',
      tasks,
      taskSamples((s) => s.backPressuredTimeMs),
    );
    this.#gauge(
      'sluice_task_busy_time_ms_per_second',
      'Busy ms per second over the last sampling interval (Flink busyTimeMsPerSecond).',
      tasks,
      taskSamples((s) => s.busyTimeMsPerSecond),
    );
    this.#gauge(
      'sluice_task_idle_time_ms_per_second',
      'Idle ms per second (Flink idleTimeMsPerSecond).',
      tasks,
      taskSamples((s) => s.idleTimeMsPerSecond),
    );
    this.#gauge(
      'sluice_task_back_pressured_time_ms_per_second',
      'Back-pressured ms per second (Flink backPressuredTimeMsPerSecond).',
      tasks,
      taskSamples((s) => s.backPressuredTimeMsPerSecond),
    );
    this.#gauge(
      'sluice_task_input_pool_usage',
      "Mean fill (0..1) of the subtask's input channels between threads.",
      tasks,
      taskSamples((s) => s.inputPoolUsage),
    );
    this.#gauge(
      'sluice_task_output_pool_usage',
      "Mean fill (0..1) of the subtask's output channels between threads.",
      tasks,
      taskSamples((s) => s.outputPoolUsage),
    );

    this.#gauge(
      'sluice_job_running',
      '1 while an attempt of the job runs, else 0.',
      ['job'],
      job((v) => (v.running ? 1 : 0)),
    );
    this.#counter(
      'sluice_job_restarts_total',
      'Restarts of the job after a failure.',
      ['job'],
      job((v) => v.restarts),
    );
    this.#counter(
      'sluice_checkpoints_completed_total',
      'Checkpoints and savepoints completed.',
      ['job'],
      job((v) => v.checkpoints.completed),
    );
    this.#counter(
      'sluice_checkpoints_abandoned_total',
      'Checkpoints declined, timed out or not committed.',
      ['job'],
      job((v) => v.checkpoints.abandoned),
    );
    this.#gauge(
      'sluice_checkpoint_last_duration_ms',
      'The last completed checkpoint: trigger to durable metadata (ms).',
      ['job'],
      job((v) => v.checkpoints.last?.durationMs),
    );
    this.#gauge(
      'sluice_checkpoint_last_size_bytes',
      'The last completed checkpoint: state written, all subtasks (bytes).',
      ['job'],
      job((v) => v.checkpoints.last?.bytes),
    );
    this.#gauge(
      'sluice_checkpoint_last_alignment_ms',
      'The last completed checkpoint: the longest barrier alignment of any task (ms).',
      ['job'],
      job((v) => v.checkpoints.last?.alignmentMs),
    );
  }

  /** The exposition text of every metric, from one view of the job. */
  async scrape(): Promise<string> {
    this.#current = this.#view();
    try {
      return await this.registry.metrics();
    } finally {
      this.#current = undefined;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #counter(
    name: string,
    help: string,
    labelNames: readonly string[],
    samples: (view: PrometheusView) => Sample[],
  ): void {
    const exporter = this;
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        const view = exporter.#current;
        if (view === undefined) return;
        for (const [labels, value] of samples(view)) this.inc(labels, value);
      },
    });
  }

  #gauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    samples: (view: PrometheusView) => Sample[],
  ): void {
    const exporter = this;
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        const view = exporter.#current;
        if (view === undefined) return;
        for (const [labels, value] of samples(view)) this.set(labels, value);
      },
    });
  }
}
