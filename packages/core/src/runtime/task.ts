import type { BatchKeys } from '../channels/batch-keys.ts';
import type { InputGate, InputHandler } from '../channels/input-gate.ts';
import type { RecordWriter } from '../channels/record-writer.ts';
import { PollStatus, type SourceOutput, type SourceReader } from '../contracts/source.ts';
import { OperatorField } from '../metrics/metrics-layout.ts';
import type { OperatorCounters } from '../metrics/operator-counters.ts';
import type { TaskTimes } from '../metrics/task-times.ts';
import type { Clock } from '../time/clock.ts';
import type { FailureTracker } from './chain-outputs.ts';
import type { OperatorMetrics, OperatorStateSnapshot, Output, StreamOperator } from './operator.ts';

/** One operator of a task, in chain order (parents before children). */
export interface ChainMember {
  readonly node: number;
  readonly operatorId: string;
  readonly operatorName: string;
  readonly operator: StreamOperator<unknown, unknown>;
  readonly metrics: OperatorMetrics;
}

export interface TaskOptions {
  readonly vertex: number;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  readonly name: string;
  readonly chain: readonly ChainMember[];
  readonly writers: readonly RecordWriter[];
  readonly tracker: FailureTracker;
  readonly bufferTimeoutMs: number;
  /** Processing time, for what the task times itself (barrier alignment). */
  readonly clock: Clock;
  /** Records a source emits per poll; frames a task reads per step. */
  readonly sourceBatchSize: number;
  readonly framesPerStep: number;
  /** Source tasks: the reader, the source node and its output into the chain. */
  readonly source?: {
    readonly reader: SourceReader<unknown>;
    readonly node: number;
    readonly output: Output;
  };
  /** The source operator's id (its state in checkpoints). */
  readonly sourceOperatorId?: string;
  /** Present when the job takes checkpoints. */
  readonly checkpoints?: CheckpointHooks;
  /** Other tasks: the input gate and the chain's head. */
  readonly input?: { readonly gate: InputGate; readonly head: ChainMember };
  /** The counters of the chain's first node (the source node of a source task): its records in. */
  readonly headCounters: OperatorCounters;
  /** Where the slot loop accounts this task's busy, idle and back-pressured time. */
  readonly times: TaskTimes;
}

type Phase = 'running' | 'finishing' | 'draining' | 'finished';

/** A task's part of a checkpoint: the state of each operator of its chain, by operator id. */
export type TaskSnapshot = Record<string, OperatorStateSnapshot>;

/** How a task takes part in checkpoints; implemented by the slot. */
export interface CheckpointHooks {
  /** The newest checkpoint the coordinator has asked the sources for (0: none yet). */
  requested(): number;
  /** Stores the snapshot (asynchronously) and acknowledges it to the coordinator. */
  persist(task: Task, checkpointId: number, snapshot: TaskSnapshot, alignmentMs: number): void;
}

/**
 * A subtask: a chain of operators fed by a source reader or an input gate, writing to record
 * writers. `step` does a bounded amount of work and never waits; the slot's loop calls it over
 * and over (Flink's mailbox loop, with input as the default action).
 */
export class Task implements InputHandler, SourceOutput<unknown> {
  readonly options: TaskOptions;
  readonly #chain: readonly ChainMember[];
  readonly #writers: readonly RecordWriter[];
  readonly #tracker: FailureTracker;
  /** The chain's operators that can be full or have work pending (async I/O); usually none. */
  readonly #asyncOperators: readonly StreamOperator<unknown, unknown>[];
  #phase: Phase = 'running';
  /** A sink's flush (or the end-of-input sequence) in progress; no input is taken meanwhile. */
  #waiting: Promise<void> | undefined;
  #inputEnded = false;
  /** A rejection of `#waiting`, rethrown by the next `step` so that the slot reports it. */
  #asyncFailure: { error: unknown; node: number } | undefined;
  #sourceSleepUntilMs = 0;
  #sourcePending = false;
  #timerDeadlineMs = Number.POSITIVE_INFINITY;
  #lastCheckpointId = 0;
  #waitToken = 0;
  #flushDeadlineMs = Number.POSITIVE_INFINITY;
  readonly #headCells: Float64Array;
  readonly #headInCell: number;

  constructor(options: TaskOptions) {
    this.options = options;
    this.#chain = options.chain;
    this.#writers = options.writers;
    this.#tracker = options.tracker;
    this.#headCells = options.headCounters.cells;
    this.#headInCell = options.headCounters.base + OperatorField.recordsIn;
    this.#asyncOperators = options.chain
      .map((member) => member.operator)
      .filter((operator) => operator.isFull !== undefined || operator.hasPendingWork !== undefined);
  }

  get isFinished(): boolean {
    return this.#phase === 'finished';
  }

  /** Records into the chain's head so far (for a source task: records read), from its counters. */
  get recordsIn(): number {
    return this.#headCells[this.#headInCell]!;
  }

  async open(): Promise<void> {
    for (const member of this.#chain) {
      this.#tracker.node = member.node;
      await member.operator.initializeState?.();
      await member.operator.open();
    }
    if (this.options.source !== undefined) {
      this.#tracker.node = this.options.source.node;
      await this.options.source.reader.open?.();
    }
    this.#tracker.hasRecord = false;
    this.#refreshTimerDeadline();
  }

  /** The reader said it has data again. */
  notifySourceAvailable(): void {
    this.#sourcePending = false;
  }

  #isBlocked(): boolean {
    const writers = this.#writers;
    for (let i = 0; i < writers.length; i++) if (writers[i]!.isBlocked) return true;
    return false;
  }

  /** Whether the task's output is full: the time it waits counts as back-pressured. */
  get isBackPressured(): boolean {
    return this.#isBlocked();
  }

  /** Whether an operator of the chain (async I/O at its capacity) takes no more records for now. */
  #operatorFull(): boolean {
    const operators = this.#asyncOperators;
    for (let i = 0; i < operators.length; i++) if (operators[i]!.isFull?.() === true) return true;
    return false;
  }

  /** Whether an operator of the chain still has requests in flight or results to emit. */
  get hasPendingWork(): boolean {
    const operators = this.#asyncOperators;
    for (let i = 0; i < operators.length; i++) if (operators[i]!.hasPendingWork?.() === true) return true;
    return false;
  }

  /**
   * An operator has work from outside a step (an async request settled): its deadline is asked
   * again at the next step, which therefore calls `advanceProcessingTime`. The caller rings the
   * slot's doorbell.
   */
  requestStep(): void {
    this.#timerDeadlineMs = Number.NEGATIVE_INFINITY;
  }

  /**
   * The gate stops reading when output is full, a batch waits for its keys' state, or an
   * operator is at its capacity.
   */
  readonly #blocked = (): boolean => this.#waiting !== undefined || this.#isBlocked() || this.#operatorFull();

  /** Does a bounded amount of work; returns whether anything happened. */
  step(nowMs: number): boolean {
    if (this.#asyncFailure !== undefined) {
      this.#tracker.node = this.#asyncFailure.node;
      this.#tracker.hasRecord = false;
      throw this.#asyncFailure.error;
    }
    if (this.#phase === 'finished' || this.#waiting !== undefined) return false;
    if (this.#phase === 'draining') return this.#drainEnd();
    let progressed = false;
    for (const writer of this.#writers) if (writer.drain()) progressed = true;
    if (this.#isBlocked()) return progressed;
    if (this.#phase === 'finishing') return progressed;
    if (nowMs >= this.#timerDeadlineMs) {
      const firing: Promise<void>[] = [];
      for (const member of this.#chain) {
        this.#tracker.node = member.node;
        this.#tracker.hasRecord = false;
        const result = member.operator.advanceProcessingTime(nowMs);
        if (result !== undefined) firing.push(result);
      }
      this.#refreshTimerDeadline();
      if (firing.length > 0) {
        // Timers fired from disk-backed state may register others: look again once they have.
        this.#wait(
          Promise.all(firing).then(() => {
            this.#refreshTimerDeadline();
            return this.#flushOperatorsAfterWait();
          }),
        );
        return true;
      }
      progressed = true;
    }

    const hooks = this.options.checkpoints;
    if (hooks !== undefined && this.options.source !== undefined && !this.#inputEnded) {
      // Sources start checkpoints: the barrier enters the stream between two polls.
      const requested = hooks.requested();
      if (requested > this.#lastCheckpointId) {
        this.#checkpoint(requested, 0);
        progressed = true;
      }
    }

    if (this.options.source !== undefined) {
      if (
        !this.#sourcePending &&
        nowMs >= this.#sourceSleepUntilMs &&
        !this.#inputEnded &&
        !this.#operatorFull()
      ) {
        progressed = this.#pollSource(nowMs) || progressed;
      }
    } else if (this.options.input !== undefined && !this.#inputEnded) {
      this.#tracker.hasRecord = true;
      const frames = this.options.input.gate.poll(this, this.options.framesPerStep, this.#blocked);
      if (frames > 0) progressed = true;
    }

    if (progressed) this.#afterInput();
    if (this.#inputEnded && this.#waiting === undefined && !this.#isBlocked() && !this.hasPendingWork) {
      this.#startFinishing();
      return true;
    }
    if (this.#flushDeadlineMs <= nowMs || progressed) this.#flushTimedOut(nowMs);
    return progressed;
  }

  #pollSource(nowMs: number): boolean {
    const source = this.options.source!;
    const tracker = this.#tracker;
    tracker.node = source.node;
    tracker.hasRecord = false;
    const result = source.reader.poll(this, this.options.sourceBatchSize);
    if (typeof result === 'number') {
      if (result === PollStatus.End) {
        this.#tracker.node = source.node;
        this.options.headCounters.setWatermark(Number.POSITIVE_INFINITY);
        source.output.emitWatermark(Number.POSITIVE_INFINITY);
        this.#inputEnded = true;
      } else if (result === PollStatus.Pending) {
        this.#sourcePending = true;
      }
    } else {
      this.#sourceSleepUntilMs = nowMs + result.sleepMs;
    }
    return true;
  }

  /** SourceOutput: the reader's own watermark. */
  emitWatermark(watermark: number): void {
    this.options.headCounters.setWatermark(watermark);
    this.options.source!.output.emitWatermark(watermark);
  }

  /** SourceOutput: the reader has nothing to read for a while (or again has). */
  markIdle(idle: boolean): void {
    this.options.source!.output.emitWatermarkStatus(idle);
  }

  /** SourceOutput: a record from the reader enters the chain. */
  collect(value: unknown, timestamp?: number): void {
    this.#headCells[this.#headInCell]!++;
    this.options.source!.output.collect(value, timestamp ?? Number.NaN);
  }

  // InputHandler: the gate hands over batches and combined watermarks.
  processBatch(
    values: readonly unknown[],
    timestamps: readonly number[] | null,
    keys: BatchKeys | null,
    input: number,
  ): void {
    const fetching = this.options.input!.head.operator.prefetch?.(values, keys, input);
    if (fetching !== undefined) {
      // A disk-backed state backend is fetching this batch's keys: the batch (and everything
      // after it) waits; the operators flush once it has been processed.
      this.#wait(
        fetching.then(() => {
          try {
            this.#runBatch(values, timestamps, keys, input);
            // The batch registered its timers only now, after #afterInput looked for them.
            this.#refreshTimerDeadline();
            return this.#flushOperators();
          } catch (error) {
            // The operator that failed is in the tracker only until this callback returns.
            throw new NodeFailure(error, this.#tracker.node);
          }
        }),
      );
      return;
    }
    this.#runBatch(values, timestamps, keys, input);
  }

  #runBatch(
    values: readonly unknown[],
    timestamps: readonly number[] | null,
    keys: BatchKeys | null,
    input: number,
  ): void {
    if (input !== 0) {
      this.#runSecondInputBatch(values, timestamps, keys);
      return;
    }
    const head = this.options.input!.head;
    const operator = head.operator;
    const tracker = this.#tracker;
    tracker.node = head.node;
    // Counted per batch, not per record.
    this.#headCells[this.#headInCell]! += values.length;
    if (keys !== null && operator.processKeyedElement !== undefined) {
      this.#runKeyedBatch(operator, values, timestamps, keys);
      return;
    }
    // Shaped for speed: one tight loop per batch, the timestamp-less case without array reads.
    if (timestamps === null) {
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        tracker.record = value;
        operator.processElement(value, Number.NaN);
      }
    } else {
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        tracker.record = value;
        operator.processElement(value, timestamps[i]!);
      }
    }
  }

  /** A batch for a two-input head's second side: the same loop, calling `processElement2`. */
  #runSecondInputBatch(
    values: readonly unknown[],
    timestamps: readonly number[] | null,
    batchKeys: BatchKeys | null,
  ): void {
    const head = this.options.input!.head;
    const operator = head.operator;
    if (operator.processElement2 === undefined) {
      throw new Error(`bug: operator '${head.operatorId}' got a second-input batch but has one input`);
    }
    const tracker = this.#tracker;
    tracker.node = head.node;
    // Counted per batch, not per record.
    this.#headCells[this.#headInCell]! += values.length;
    if (batchKeys !== null && operator.processKeyedElement2 !== undefined) {
      const { keys, keyGroups } = batchKeys;
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        tracker.record = value;
        operator.processKeyedElement2(
          value,
          timestamps === null ? Number.NaN : timestamps[i]!,
          keys[i]!,
          keyGroups[i]!,
        );
      }
      return;
    }
    // Shaped as the first input's loop: no per-record branch on whether the batch has timestamps.
    if (timestamps === null) {
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        tracker.record = value;
        operator.processElement2(value, Number.NaN);
      }
    } else {
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        tracker.record = value;
        operator.processElement2(value, timestamps[i]!);
      }
    }
  }

  /** A keyed head operator gets each record's key as its sender computed it: no selector, no hash here. */
  #runKeyedBatch(
    operator: StreamOperator<unknown, unknown>,
    values: readonly unknown[],
    timestamps: readonly number[] | null,
    batchKeys: BatchKeys,
  ): void {
    const tracker = this.#tracker;
    const { keys, keyGroups } = batchKeys;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      tracker.record = value;
      operator.processKeyedElement!(
        value,
        timestamps === null ? Number.NaN : timestamps[i]!,
        keys[i]!,
        keyGroups[i]!,
      );
    }
  }

  processWatermark(watermark: number): void {
    const head = this.options.input!.head;
    head.metrics.setWatermark(watermark);
    this.#tracker.node = head.node;
    this.#tracker.hasRecord = false;
    const firing = head.operator.processWatermark(watermark);
    // Timers whose keys' state is on disk: the watermark moves on once they have fired.
    if (firing !== undefined) {
      this.#wait(
        firing.then(() => {
          this.#refreshTimerDeadline();
          return this.#flushOperatorsAfterWait();
        }),
      );
    }
    this.#tracker.hasRecord = true;
  }

  processWatermarkStatus(idle: boolean): void {
    this.options.input!.head.operator.processWatermarkStatus(idle);
  }

  endOfInput(): void {
    this.#inputEnded = true;
  }

  processBarrier(checkpointId: number): void {
    const gate = this.options.input!.gate;
    this.#checkpoint(checkpointId, this.options.clock() - gate.alignmentStartedAtMs);
    this.#tracker.hasRecord = true;
  }

  abortCheckpoint(): void {
    // The coordinator times the checkpoint out; nothing was stored for it here.
  }

  /**
   * Takes this task's part of checkpoint `checkpointId`: every operator's state, synchronously
   * (so it is the state after exactly the records before the barrier), then the barrier goes
   * downstream, and the snapshot is written while processing goes on.
   */
  #checkpoint(checkpointId: number, alignmentMs: number): void {
    const tracker = this.#tracker;
    tracker.hasRecord = false;
    const snapshot: TaskSnapshot = {};
    const source = this.options.source;
    if (source !== undefined) {
      tracker.node = source.node;
      const splits = source.reader.snapshotState?.(checkpointId);
      if (splits === undefined) {
        throw new Error(
          'this source cannot be checkpointed (its reader has no snapshotState); run the job without checkpoints',
        );
      }
      snapshot[this.options.sourceOperatorId!] = { operatorState: splits };
    }
    let pending: Promise<void>[] | undefined;
    for (const member of this.#chain) {
      tracker.node = member.node;
      const state = member.operator.snapshotState?.(checkpointId);
      if (state instanceof Promise) {
        pending ??= [];
        pending.push(
          state.then(
            (s) => {
              snapshot[member.operatorId] = s;
            },
            (error: unknown) => Promise.reject(new NodeFailure(error, member.node)),
          ),
        );
      } else if (state !== undefined) {
        snapshot[member.operatorId] = state;
      }
    }
    for (const writer of this.#writers) writer.emitBarrier(checkpointId);
    this.#lastCheckpointId = checkpointId;
    const hooks = this.options.checkpoints!;
    const persist = (): void => {
      try {
        hooks.persist(this, checkpointId, snapshot, alignmentMs);
      } catch (error) {
        // State that cannot be written is the failure of the operator that holds it.
        const holder = this.#chain.find(
          (m) => m.operatorId === (error as { operatorId?: unknown }).operatorId,
        );
        throw holder === undefined ? error : new NodeFailure(error, holder.node);
      }
    };
    if (pending === undefined) {
      try {
        persist();
      } catch (error) {
        if (!(error instanceof NodeFailure)) throw error;
        tracker.node = error.node;
        throw error.error;
      }
      return;
    }
    // A disk-backed backend snapshots asynchronously; no record is processed until it has, so the
    // snapshot holds exactly the state at the barrier.
    this.#wait(Promise.all(pending).then(persist));
  }

  /** The coordinator completed a checkpoint: sinks commit what they prepared for it. */
  notifyCheckpointComplete(checkpointId: number): void {
    const source = this.options.source;
    if (source?.reader.notifyCheckpointComplete !== undefined) {
      try {
        const result = source.reader.notifyCheckpointComplete(checkpointId);
        result?.catch((error: unknown) => {
          this.#asyncFailure ??= { error, node: source.node };
        });
      } catch (error) {
        this.#asyncFailure ??= { error, node: source.node };
      }
    }
    for (const member of this.#chain) {
      if (member.operator.notifyCheckpointComplete === undefined) continue;
      const node = member.node;
      try {
        const result = member.operator.notifyCheckpointComplete(checkpointId);
        if (result !== undefined) {
          result.catch((error: unknown) => {
            this.#asyncFailure ??= { error, node };
          });
        }
      } catch (error) {
        this.#asyncFailure ??= { error, node };
      }
    }
  }

  /** After a batch of input: operators flush (watermark generation, sinks); a sink may pause the task. */ #afterInput(): void {
    this.#refreshTimerDeadline();
    // A deferred batch or watermark flushes the operators itself, once it has been processed.
    if (this.#waiting !== undefined) return;
    const flushing = this.#flushOperators();
    if (flushing !== undefined) this.#wait(flushing);
  }

  /**
   * {@link #flushOperators} in a promise callback: a failure there reaches the task through
   * `#wait`, with the operator that was flushing (it is in the tracker only until then).
   */
  #flushOperatorsAfterWait(): Promise<void> | undefined {
    try {
      return this.#flushOperators();
    } catch (error) {
      throw new NodeFailure(error, this.#tracker.node);
    }
  }

  /** Every operator's `flush`, in chain order; a promise if any of them is asynchronous. */
  #flushOperators(): Promise<void> | undefined {
    this.#tracker.hasRecord = false;
    let pending: Promise<void>[] | undefined;
    for (const member of this.#chain) {
      this.#tracker.node = member.node;
      const result = member.operator.flush();
      if (result !== undefined) {
        pending ??= [];
        // A failed flush (a LevelDB write-back) is the failure of the operator that flushed.
        pending.push(result.catch((error: unknown) => Promise.reject(new NodeFailure(error, member.node))));
      }
    }
    return pending === undefined ? undefined : Promise.all(pending).then(() => undefined);
  }

  /**
   * Pauses the task (no input, no source poll) until `promise` settles. One wait at a time: the
   * gate and the source check `#waiting` before taking more input.
   */
  #wait(promise: Promise<void>, onDone?: () => void): void {
    const node = this.#tracker.node;
    const token = ++this.#waitToken;
    this.#waiting = promise.then(
      () => {
        if (this.#waitToken === token) this.#waiting = undefined;
        onDone?.();
      },
      (error: unknown) => {
        if (this.#waitToken === token) this.#waiting = undefined;
        this.#asyncFailure ??=
          error instanceof NodeFailure
            ? { error: error.error, node: error.node }
            : { error, node: this.#phase === 'finishing' ? this.#tracker.node : node };
      },
    );
  }

  /** A promise to await when the slot has nothing else to do (async flush, end of input). */
  get waiting(): Promise<void> | undefined {
    return this.#waiting;
  }

  #flushTimedOut(nowMs: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const writer of this.#writers) {
      const deadline = writer.flushOlderThan(nowMs, this.options.bufferTimeoutMs);
      if (deadline < next) next = deadline;
    }
    this.#flushDeadlineMs = next;
  }

  #refreshTimerDeadline(): void {
    let next = Number.POSITIVE_INFINITY;
    for (const member of this.#chain) {
      const deadline = member.operator.nextProcessingTimeDeadline();
      if (deadline < next) next = deadline;
    }
    this.#timerDeadlineMs = next;
  }

  /** When this task next needs the clock: a timer, a flush timeout, a rate-limited source. */
  nextDeadlineMs(): number {
    // A waiting task does nothing at any deadline; the end of its wait wakes the slot instead.
    if (this.#waiting !== undefined) return Number.POSITIVE_INFINITY;
    let next = Math.min(this.#timerDeadlineMs, this.#flushDeadlineMs);
    if (this.options.source !== undefined && !this.#sourcePending && this.#sourceSleepUntilMs > 0) {
      next = Math.min(next, this.#sourceSleepUntilMs);
    }
    return next;
  }

  /**
   * End of input: every operator finishes in chain order (each may still emit to the next),
   * sinks flush and close, and end-of-input goes downstream after the last records.
   */
  #startFinishing(): void {
    this.#phase = 'finishing';
    const tracker = this.#tracker;
    tracker.hasRecord = false;
    const run = async (): Promise<void> => {
      for (const member of this.#chain) {
        tracker.node = member.node;
        await member.operator.finish();
      }
      for (const member of this.#chain) {
        tracker.node = member.node;
        await member.operator.flush();
      }
      for (const writer of this.#writers) {
        writer.flush();
        writer.emitEndOfInput();
      }
      for (const member of this.#chain) {
        tracker.node = member.node;
        await member.operator.close();
        await member.operator.disposeState?.();
      }
      if (this.options.source !== undefined) {
        tracker.node = this.options.source.node;
        await this.options.source.reader.close?.();
      }
    };
    this.#wait(run(), () => {
      this.#phase = 'draining';
    });
  }

  /** After finishing: the last frames may still wait for room. */
  #drainEnd(): boolean {
    let progressed = false;
    for (const writer of this.#writers) if (writer.drain()) progressed = true;
    if (!this.#isBlocked()) {
      this.#phase = 'finished';
      progressed = true;
    }
    return progressed;
  }

  /** Cancellation or failure elsewhere: close what is open, ignore what fails. */
  async abort(): Promise<void> {
    this.#phase = 'finished';
    for (const member of this.#chain) {
      try {
        await member.operator.close();
      } catch {
        // The job is already failing; the first error is the one reported.
      }
      try {
        await member.operator.disposeState?.();
      } catch {
        // As above.
      }
    }
    try {
      await this.options.source?.reader.close?.();
    } catch {
      // As above.
    }
    for (const writer of this.#writers) writer.close();
    this.options.input?.gate.close();
  }
}

/** A failure and the chain member it belongs to, when that is not the one running at the time. */
class NodeFailure {
  readonly error: unknown;
  readonly node: number;

  constructor(error: unknown, node: number) {
    this.error = error;
    this.node = node;
  }
}
