import type { RecordWriter } from '../channels/record-writer.ts';
import { OperatorField } from '../metrics/metrics-layout.ts';
import type { OperatorCounters } from '../metrics/operator-counters.ts';
import { admitRecord } from '../records/record-codec.ts';
import type { FiringTimer, Output, StreamOperator } from './operator.ts';

/**
 * Which operator of a task is running, and on which record, so that an exception thrown by user
 * code can be attributed without a try/catch around every call. Chained outputs set it on the
 * way down and restore it on the way back: six stores per hop.
 */
export interface FailureTracker {
  node: number;
  record: unknown;
  hasRecord: boolean;
  /** The timer a keyed operator is firing, for a failure outside any record (`OperatorSetup.firingTimer`). */
  readonly timer: FiringTimer;
}

/**
 * Something an operator's output feeds: the next operator in the chain, or a record writer.
 * `checked`: the chained call is checked against the record contract, because at another
 * parallelism the two operators are not chained and the record crosses to another task.
 */
export type Consumer =
  | {
      readonly kind: 'operator';
      readonly node: number;
      readonly operator: StreamOperator<unknown, unknown>;
      readonly checked: boolean;
      /** The consumer's counters: a chained call is a record in. */
      readonly counters: OperatorCounters;
    }
  | { readonly kind: 'writer'; readonly writer: RecordWriter };

/** The common case, shaped for speed: one chained operator and nothing else. */
export class ChainedOutput implements Output {
  readonly #node: number;
  readonly #operator: StreamOperator<unknown, unknown>;
  readonly #tracker: FailureTracker;
  readonly #side: Map<string, Output>;
  readonly #consumer: OperatorCounters;
  // The two counters a chained call bumps, held directly: two loads and two stores per record.
  readonly #outCells: Float64Array;
  readonly #outCell: number;
  readonly #inCells: Float64Array;
  readonly #inCell: number;

  constructor(
    node: number,
    operator: StreamOperator<unknown, unknown>,
    tracker: FailureTracker,
    side: Map<string, Output>,
    counts: RecordCounts,
    consumer: OperatorCounters,
  ) {
    this.#node = node;
    this.#operator = operator;
    this.#tracker = tracker;
    this.#side = side;
    this.#consumer = consumer;
    this.#outCells = counts.cells;
    this.#outCell = counts.outCell;
    this.#inCells = consumer.cells;
    this.#inCell = consumer.base + OperatorField.recordsIn;
  }

  collect(value: unknown, timestamp: number): void {
    // Inside a chain there is no batch to count by: two increments of typed arrays, no allocation.
    this.#outCells[this.#outCell]!++;
    this.#inCells[this.#inCell]!++;
    const tracker = this.#tracker;
    const previousNode = tracker.node;
    const previousRecord = tracker.record;
    const previousHasRecord = tracker.hasRecord;
    tracker.node = this.#node;
    tracker.record = value;
    // Also under a source or a timer, where the caller had no record: this operator has one.
    tracker.hasRecord = true;
    this.#operator.processElement(value, timestamp);
    tracker.node = previousNode;
    tracker.record = previousRecord;
    tracker.hasRecord = previousHasRecord;
  }

  collectSide(tag: string, value: unknown, timestamp: number): void {
    this.#side.get(tag)?.collect(value, timestamp);
  }

  emitWatermark(watermark: number): void {
    this.#consumer.setWatermark(watermark);
    this.#operator.processWatermark(watermark);
    for (const output of this.#side.values()) output.emitWatermark(watermark);
  }

  emitWatermarkStatus(idle: boolean): void {
    this.#operator.processWatermarkStatus(idle);
    for (const output of this.#side.values()) output.emitWatermarkStatus(idle);
  }
}

/**
 * A chained call that is not chained at every parallelism: an operator with a parallelism of its
 * own next to one at the job's (chained only when the job runs at that parallelism). Its records
 * are checked as a record writer checks them, so that the job fails at every parallelism, in the
 * operator that emitted the record, or at none (`docs/records.md`). Chained calls that stay
 * chained at every parallelism are not checked: their records never cross a thread.
 */
export class CheckedChainedOutput extends ChainedOutput {
  override collect(value: unknown, timestamp: number): void {
    // Before the call: a refusal is this operator's, as it would be in its record writer.
    admitRecord(value);
    super.collect(value, timestamp);
  }
}

/** The common network case: one record writer. */
export class WriterOutput implements Output {
  readonly #writer: RecordWriter;
  readonly #side: Map<string, Output>;
  readonly #outCells: Float64Array;
  readonly #outCell: number;

  constructor(writer: RecordWriter, side: Map<string, Output>, counts: RecordCounts) {
    this.#writer = writer;
    this.#side = side;
    this.#outCells = counts.cells;
    this.#outCell = counts.outCell;
  }

  collect(value: unknown, timestamp: number): void {
    this.#outCells[this.#outCell]!++;
    this.#writer.emit(value, timestamp);
  }

  collectSide(tag: string, value: unknown, timestamp: number): void {
    this.#side.get(tag)?.collect(value, timestamp);
  }

  emitWatermark(watermark: number): void {
    this.#writer.emitWatermark(watermark);
    for (const output of this.#side.values()) output.emitWatermark(watermark);
  }

  emitWatermarkStatus(idle: boolean): void {
    this.#writer.emitWatermarkStatus(idle);
    for (const output of this.#side.values()) output.emitWatermarkStatus(idle);
  }
}

/** Any number of consumers (a stream read by several operators). */
export class FanOutOutput implements Output {
  readonly #consumers: Output[];
  readonly #side: Map<string, Output>;
  readonly #counts: RecordCounts;

  constructor(consumers: Output[], side: Map<string, Output>, counts: RecordCounts) {
    this.#consumers = consumers;
    this.#side = side;
    this.#counts = counts;
  }

  collect(value: unknown, timestamp: number): void {
    // One record out, however many consumers read it (as Flink counts numRecordsOut).
    const counts = this.#counts;
    counts.cells[counts.outCell]!++;
    const consumers = this.#consumers;
    for (let i = 0; i < consumers.length; i++) consumers[i]!.collect(value, timestamp);
  }

  collectSide(tag: string, value: unknown, timestamp: number): void {
    this.#side.get(tag)?.collect(value, timestamp);
  }

  emitWatermark(watermark: number): void {
    for (const consumer of this.#consumers) consumer.emitWatermark(watermark);
    for (const output of this.#side.values()) output.emitWatermark(watermark);
  }

  emitWatermarkStatus(idle: boolean): void {
    for (const consumer of this.#consumers) consumer.emitWatermarkStatus(idle);
    for (const output of this.#side.values()) output.emitWatermarkStatus(idle);
  }
}

/** Where an output counts the records its operator emits: one cell of a metrics array. */
export interface RecordCounts {
  readonly cells: Float64Array;
  readonly outCell: number;
}

/** The producer's records-out counter, as its outputs write it. */
export function recordsOutOf(counters: OperatorCounters): RecordCounts {
  return { cells: counters.cells, outCell: counters.base + OperatorField.recordsOut };
}

/** Counts nothing anybody reads: the branches of a fan-out (the fan-out itself counts once). */
const UNCOUNTED: RecordCounts = { cells: new Float64Array(1), outCell: 0 };

const NO_SIDE_OUTPUTS: Map<string, Output> = new Map();

/**
 * Builds the output for one list of consumers (the main output, or one side output); it counts
 * what it emits into `counts`, the producing operator's records out.
 */
export function outputFor(
  consumers: readonly Consumer[],
  tracker: FailureTracker,
  counts: RecordCounts,
  side: Map<string, Output> = NO_SIDE_OUTPUTS,
): Output {
  const outputOf = (c: Consumer, side: Map<string, Output>, counts: RecordCounts): Output => {
    if (c.kind === 'writer') return new WriterOutput(c.writer, side, counts);
    return c.checked
      ? new CheckedChainedOutput(c.node, c.operator, tracker, side, counts, c.counters)
      : new ChainedOutput(c.node, c.operator, tracker, side, counts, c.counters);
  };
  if (consumers.length === 1) return outputOf(consumers[0]!, side, counts);
  return new FanOutOutput(
    consumers.map((c) => outputOf(c, NO_SIDE_OUTPUTS, UNCOUNTED)),
    side,
    counts,
  );
}
