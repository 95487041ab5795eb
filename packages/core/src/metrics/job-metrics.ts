import { type MetricsLayout, OperatorField, TaskField } from './metrics-layout.ts';

/** The counters of one operator's subtask, as read from the attempt's metrics array. */
export interface OperatorMetricsReport {
  readonly operatorId: string;
  readonly operatorName: string;
  /** The job-graph vertex (chained task) the operator runs in. */
  readonly vertex: number;
  readonly subtaskIndex: number;
  /** Records the operator took in (for a source: records it read). */
  readonly recordsIn: number;
  /** Records it emitted, main and side outputs (once per record, however many consumers read it). */
  readonly recordsOut: number;
  /** Late records a window or an interval join dropped (no late side output set). */
  readonly lateRecordsDropped: number;
  /**
   * Its current input watermark (ms; for a source, the watermark it emitted): `-Infinity` before
   * the first, `Infinity` once its input ended.
   */
  readonly watermark: number;
  /** A keyed operator's (key, namespace) state entries in memory, sampled about once a second. */
  readonly stateEntries: number | undefined;
}

/** Where one subtask's time went (cumulative ms since the attempt started); see `task-times.ts`. */
export interface TaskTimesReport {
  readonly vertex: number;
  readonly subtaskIndex: number;
  readonly busyMs: number;
  readonly idleMs: number;
  readonly backPressuredMs: number;
}

/** What the reader needs of the job graph: each vertex's parallelism and operators, in layout order. */
export interface MetricsShape {
  readonly vertices: readonly {
    readonly parallelism: number;
    readonly operators: readonly { readonly id: string; readonly name: string }[];
  }[];
}

/** Reads every operator's counters of every subtask (vertex by vertex, subtask by subtask). */
export function readOperatorMetrics(
  shape: MetricsShape,
  layout: MetricsLayout,
  cells: Float64Array,
): OperatorMetricsReport[] {
  const reports: OperatorMetricsReport[] = [];
  shape.vertices.forEach((vertex, v) => {
    for (let s = 0; s < vertex.parallelism; s++) {
      vertex.operators.forEach((operator, o) => {
        const at = layout.operatorBase(v, s, o);
        const entries = cells[at + OperatorField.stateEntries]!;
        reports.push({
          operatorId: operator.id,
          operatorName: operator.name,
          vertex: v,
          subtaskIndex: s,
          recordsIn: cells[at + OperatorField.recordsIn]!,
          recordsOut: cells[at + OperatorField.recordsOut]!,
          lateRecordsDropped: cells[at + OperatorField.lateRecordsDropped]!,
          watermark: cells[at + OperatorField.watermark]!,
          stateEntries: Number.isNaN(entries) ? undefined : entries,
        });
      });
    }
  });
  return reports;
}

/** Reads every subtask's busy, idle and back-pressured time. */
export function readTaskTimes(
  shape: MetricsShape,
  layout: MetricsLayout,
  cells: Float64Array,
): TaskTimesReport[] {
  const reports: TaskTimesReport[] = [];
  shape.vertices.forEach((vertex, v) => {
    for (let s = 0; s < vertex.parallelism; s++) {
      const at = layout.taskBase(v, s);
      reports.push({
        vertex: v,
        subtaskIndex: s,
        busyMs: cells[at + TaskField.busyMs]!,
        idleMs: cells[at + TaskField.idleMs]!,
        backPressuredMs: cells[at + TaskField.backPressuredMs]!,
      });
    }
  });
  return reports;
}

/**
 * Per-second rates of cumulative cells (records, time), from two samples of the metrics array
 * taken at least `minIntervalMs` apart: a rate covers the last interval, Flink's meters do the
 * same over their time span. Sampling copies the array (a few KiB), never touches the slots.
 */
export class CellRates {
  readonly #minIntervalMs: number;
  #previous: { readonly cells: Float64Array; readonly atMs: number } | undefined;
  #latest: { readonly cells: Float64Array; readonly atMs: number } | undefined;
  #source: Float64Array | undefined;

  constructor(minIntervalMs: number) {
    this.#minIntervalMs = minIntervalMs;
  }

  /** Takes a sample of `cells` at `nowMs` (monotonic) unless the latest is younger than the interval. */
  sample(cells: Float64Array, nowMs: number): void {
    if (cells !== this.#source) {
      // A new attempt starts its counters at zero: rates start over with it.
      this.#source = cells;
      this.#previous = undefined;
      this.#latest = { cells: cells.slice(), atMs: nowMs };
      return;
    }
    if (this.#latest !== undefined && nowMs - this.#latest.atMs < this.#minIntervalMs) return;
    this.#previous = this.#latest;
    this.#latest = { cells: cells.slice(), atMs: nowMs };
  }

  /** The per-second rate of one cell over the last interval; `undefined` before two samples. */
  perSecond(cell: number): number | undefined {
    const previous = this.#previous;
    const latest = this.#latest;
    if (previous === undefined || latest === undefined) return undefined;
    const seconds = (latest.atMs - previous.atMs) / 1000;
    if (seconds <= 0) return undefined;
    return (latest.cells[cell]! - previous.cells[cell]!) / seconds;
  }
}
