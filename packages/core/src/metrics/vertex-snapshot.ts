import type { CellRates } from './job-metrics.ts';
import { type MetricsLayout, OperatorField, TaskField } from './metrics-layout.ts';

/**
 * A watermark in JSON: milliseconds, `null` before the first, `'end-of-input'` once the input
 * ended (the watermark went to +∞).
 */
export type WatermarkValue = number | null | 'end-of-input';

/** One operator in one subtask, live. Rates are per second over the last sampling interval (`null` until two samples). */
export interface OperatorSubtaskSnapshot {
  readonly subtaskIndex: number;
  readonly recordsIn: number;
  readonly recordsOut: number;
  readonly recordsInPerSecond: number | null;
  readonly recordsOutPerSecond: number | null;
  readonly lateRecordsDropped: number;
  readonly watermark: WatermarkValue;
  /** Processing time minus the watermark (ms); `null` without a finite watermark. */
  readonly watermarkLagMs: number | null;
  /** Keyed operators: (key, namespace) state entries in memory; `null` when not keyed. */
  readonly stateEntries: number | null;
}

/** One operator over all its subtasks: sums, and the minimum watermark (the one that holds event time back). */
export interface OperatorSnapshot extends Omit<OperatorSubtaskSnapshot, 'subtaskIndex'> {
  readonly id: string;
  readonly name: string;
  readonly subtasks: readonly OperatorSubtaskSnapshot[];
}

/** One subtask of a vertex: where its time went and how full its channels are. */
export interface SubtaskSnapshot {
  readonly subtaskIndex: number;
  /** Share of each second spent working, waiting for input, waiting for room downstream (ms per second, Flink's names). */
  readonly busyTimeMsPerSecond: number | null;
  readonly idleTimeMsPerSecond: number | null;
  readonly backPressuredTimeMsPerSecond: number | null;
  /** The same, cumulative since the attempt started (ms). */
  readonly busyTimeMs: number;
  readonly idleTimeMs: number;
  readonly backPressuredTimeMs: number;
  /** Mean fill (0..1) of its input and output channels between threads; `null` when it has none. */
  readonly inputPoolUsage: number | null;
  readonly outputPoolUsage: number | null;
}

/** A vertex of the job graph (a chain of operators run as one task per subtask), live. */
export interface VertexSnapshot {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly parallelism: number;
  /** Records into the chain's head (for a source: read), and out through the vertex's edges. */
  readonly recordsIn: number;
  readonly recordsOut: number;
  readonly recordsInPerSecond: number | null;
  readonly recordsOutPerSecond: number | null;
  /** The busiest and most back-pressured subtask (as Flink's web UI colours a vertex), the least idle. */
  readonly busyTimeMsPerSecond: number | null;
  readonly idleTimeMsPerSecond: number | null;
  readonly backPressuredTimeMsPerSecond: number | null;
  /**
   * The chain's first watermark, minimum over subtasks: the head's input watermark, or in a
   * source vertex whose source emits none, the first operator's that has one (what its
   * timestamp assigner emits).
   */
  readonly watermark: WatermarkValue;
  readonly watermarkLagMs: number | null;
  readonly lateRecordsDropped: number;
  /** Summed over its keyed operators and subtasks; `null` when none is keyed. */
  readonly stateEntries: number | null;
  /** The fullest subtask's. */
  readonly inputPoolUsage: number | null;
  readonly outputPoolUsage: number | null;
  readonly subtasks: readonly SubtaskSnapshot[];
  readonly operators: readonly OperatorSnapshot[];
}

/** What the snapshot needs of the job graph. */
export interface SnapshotShape {
  readonly vertices: readonly {
    readonly id: string;
    readonly name: string;
    readonly parallelism: number;
    /** In layout order (the vertex's `operatorIds`); the first is the head. */
    readonly operators: readonly { readonly id: string; readonly name: string }[];
    /** Positions of the operators whose output leaves the vertex (the sources of its edges). */
    readonly outputOperators: readonly number[];
  }[];
}

/** A channel between threads: its ring and its two ends. */
export interface RingChannel {
  readonly usage: () => number;
  readonly sourceVertex: number;
  readonly sourceSubtask: number;
  readonly targetVertex: number;
  readonly targetSubtask: number;
}

/** The running attempt as the coordinator sees it. */
export interface LiveCells {
  readonly layout: MetricsLayout;
  readonly cells: Float64Array;
  readonly rings: readonly RingChannel[];
}

const rounded = (value: number | undefined): number | null =>
  value === undefined ? null : Math.round(value * 100) / 100;

/**
 * A time share in ms per second: the samples and the slots' accounting are not taken at the same
 * instants, so a rate may stray a little past 0..1000; it is clamped.
 */
const msPerSecond = (value: number | undefined): number | null =>
  value === undefined ? null : Math.min(1000, Math.max(0, Math.round(value * 100) / 100));

function watermarkOf(watermark: number): WatermarkValue {
  if (watermark === Number.POSITIVE_INFINITY) return 'end-of-input';
  return Number.isFinite(watermark) ? watermark : null;
}

function lagOf(watermark: number, nowMs: number): number | null {
  return Number.isFinite(watermark) ? Math.max(0, nowMs - watermark) : null;
}

function sumOrNull(values: readonly (number | null)[]): number | null {
  let sum: number | null = null;
  for (const v of values) if (v !== null) sum = (sum ?? 0) + v;
  return sum;
}

function maxOrNull(values: readonly (number | null)[]): number | null {
  let max: number | null = null;
  for (const v of values) if (v !== null && (max === null || v > max)) max = v;
  return max;
}

function minOrNull(values: readonly (number | null)[]): number | null {
  let min: number | null = null;
  for (const v of values) if (v !== null && (min === null || v < min)) min = v;
  return min;
}

/** The minimum of raw watermarks (−∞ if any subtask has none yet). */
function minWatermark(values: readonly number[]): number {
  let min = Number.POSITIVE_INFINITY;
  for (const v of values) if (v < min) min = v;
  return values.length === 0 ? Number.NEGATIVE_INFINITY : min;
}

function meanUsage(rings: readonly RingChannel[]): number | null {
  if (rings.length === 0) return null;
  let sum = 0;
  for (const ring of rings) sum += ring.usage();
  return Math.round((sum / rings.length) * 1000) / 1000;
}

/**
 * Every vertex of the running attempt, with its subtasks and operators: counters read live from
 * the metrics array, rates from `rates` (sampled by the caller), watermark lag against `nowMs`
 * (the job's processing time).
 */
export function vertexSnapshots(
  shape: SnapshotShape,
  live: LiveCells,
  rates: CellRates,
  nowMs: number,
): VertexSnapshot[] {
  const { layout, cells } = live;
  return shape.vertices.map((vertex, v) => {
    const subtasks: SubtaskSnapshot[] = [];
    const rawWatermarks: number[][] = vertex.operators.map(() => []);
    const perOperator: OperatorSubtaskSnapshot[][] = vertex.operators.map(() => []);
    for (let s = 0; s < vertex.parallelism; s++) {
      const task = layout.taskBase(v, s);
      subtasks.push({
        subtaskIndex: s,
        busyTimeMsPerSecond: msPerSecond(rates.perSecond(task + TaskField.busyMs)),
        idleTimeMsPerSecond: msPerSecond(rates.perSecond(task + TaskField.idleMs)),
        backPressuredTimeMsPerSecond: msPerSecond(rates.perSecond(task + TaskField.backPressuredMs)),
        busyTimeMs: Math.round(cells[task + TaskField.busyMs]!),
        idleTimeMs: Math.round(cells[task + TaskField.idleMs]!),
        backPressuredTimeMs: Math.round(cells[task + TaskField.backPressuredMs]!),
        inputPoolUsage: meanUsage(live.rings.filter((r) => r.targetVertex === v && r.targetSubtask === s)),
        outputPoolUsage: meanUsage(live.rings.filter((r) => r.sourceVertex === v && r.sourceSubtask === s)),
      });
      vertex.operators.forEach((_, o) => {
        const at = layout.operatorBase(v, s, o);
        const watermark = cells[at + OperatorField.watermark]!;
        const entries = cells[at + OperatorField.stateEntries]!;
        rawWatermarks[o]!.push(watermark);
        perOperator[o]!.push({
          subtaskIndex: s,
          recordsIn: cells[at + OperatorField.recordsIn]!,
          recordsOut: cells[at + OperatorField.recordsOut]!,
          recordsInPerSecond: rounded(rates.perSecond(at + OperatorField.recordsIn)),
          recordsOutPerSecond: rounded(rates.perSecond(at + OperatorField.recordsOut)),
          lateRecordsDropped: cells[at + OperatorField.lateRecordsDropped]!,
          watermark: watermarkOf(watermark),
          watermarkLagMs: lagOf(watermark, nowMs),
          stateEntries: Number.isNaN(entries) ? null : entries,
        });
      });
    }
    const operators: OperatorSnapshot[] = vertex.operators.map((operator, o) => {
      const subs = perOperator[o]!;
      const watermark = minWatermark(rawWatermarks[o]!);
      return {
        id: operator.id,
        name: operator.name,
        recordsIn: subs.reduce((n, x) => n + x.recordsIn, 0),
        recordsOut: subs.reduce((n, x) => n + x.recordsOut, 0),
        recordsInPerSecond: rounded(sumOrNull(subs.map((x) => x.recordsInPerSecond)) ?? undefined),
        recordsOutPerSecond: rounded(sumOrNull(subs.map((x) => x.recordsOutPerSecond)) ?? undefined),
        lateRecordsDropped: subs.reduce((n, x) => n + x.lateRecordsDropped, 0),
        watermark: watermarkOf(watermark),
        watermarkLagMs: lagOf(watermark, nowMs),
        stateEntries: sumOrNull(subs.map((x) => x.stateEntries)),
        subtasks: subs,
      };
    });
    const head = operators[0]!;
    const outputs = vertex.outputOperators.map((o) => operators[o]!);
    // The head's input watermark; in a source vertex the source may have none of its own, and
    // the first watermark is the one its timestamp assigner emits.
    let headWatermark = Number.NEGATIVE_INFINITY;
    for (const raw of rawWatermarks) {
      headWatermark = minWatermark(raw);
      if (headWatermark !== Number.NEGATIVE_INFINITY) break;
    }
    return {
      index: v,
      id: vertex.id,
      name: vertex.name,
      parallelism: vertex.parallelism,
      recordsIn: head.recordsIn,
      recordsOut: outputs.reduce((n, x) => n + x.recordsOut, 0),
      recordsInPerSecond: head.recordsInPerSecond,
      recordsOutPerSecond:
        outputs.length === 0 ? 0 : rounded(sumOrNull(outputs.map((x) => x.recordsOutPerSecond)) ?? undefined),
      busyTimeMsPerSecond: maxOrNull(subtasks.map((x) => x.busyTimeMsPerSecond)),
      idleTimeMsPerSecond: minOrNull(subtasks.map((x) => x.idleTimeMsPerSecond)),
      backPressuredTimeMsPerSecond: maxOrNull(subtasks.map((x) => x.backPressuredTimeMsPerSecond)),
      watermark: watermarkOf(headWatermark),
      watermarkLagMs: lagOf(headWatermark, nowMs),
      lateRecordsDropped: operators.reduce((n, x) => n + x.lateRecordsDropped, 0),
      stateEntries: sumOrNull(operators.map((x) => x.stateEntries)),
      inputPoolUsage: maxOrNull(subtasks.map((x) => x.inputPoolUsage)),
      outputPoolUsage: maxOrNull(subtasks.map((x) => x.outputPoolUsage)),
      subtasks,
      operators,
    };
  });
}
