import { OPERATOR_FIELDS, OperatorField } from './metrics-layout.ts';

/**
 * One operator subtask's counters: a window onto its cells of the attempt's metrics array
 * (`metrics-layout.ts`), or onto cells of its own in an operator test harness. The hot paths
 * (chained outputs, the task's batch loop) write `cells[base + field]` directly; operators use
 * the methods.
 */
export class OperatorCounters {
  readonly cells: Float64Array;
  readonly base: number;

  constructor(cells: Float64Array, base: number) {
    this.cells = cells;
    this.base = base;
  }

  /** Counters on cells of their own, read by nobody else (operator harnesses, unit tests). */
  static detached(): OperatorCounters {
    const cells = new Float64Array(OPERATOR_FIELDS);
    cells[OperatorField.watermark] = Number.NEGATIVE_INFINITY;
    cells[OperatorField.stateEntries] = Number.NaN;
    return new OperatorCounters(cells, 0);
  }

  get recordsIn(): number {
    return this.cells[this.base + OperatorField.recordsIn]!;
  }

  get recordsOut(): number {
    return this.cells[this.base + OperatorField.recordsOut]!;
  }

  get lateRecordsDropped(): number {
    return this.cells[this.base + OperatorField.lateRecordsDropped]!;
  }

  get watermark(): number {
    return this.cells[this.base + OperatorField.watermark]!;
  }

  /** A window or an interval join dropped a record as too late (no late side output set). */
  countLateRecordDropped(records = 1): void {
    this.cells[this.base + OperatorField.lateRecordsDropped]! += records;
  }

  setWatermark(watermark: number): void {
    this.cells[this.base + OperatorField.watermark] = watermark;
  }

  setStateEntries(entries: number): void {
    this.cells[this.base + OperatorField.stateEntries] = entries;
  }
}
