import type { BatchKeys } from '../channels/batch-keys.ts';
import type { RuntimeContext } from '../contracts/functions.ts';
import type { OperatorCounters } from '../metrics/operator-counters.ts';
import type { KeyedStateBackend } from '../state/backend/keyed-state-backend.ts';
import type { Key } from '../state/key-groups.ts';
import type { SnapshotKey } from '../state/snapshot-keys.ts';
import type { InternalTimerService } from '../time/timer-service.ts';

/**
 * Records carry their event timestamp as a number; NaN means "no timestamp". A number rather than
 * `undefined` keeps the hot path monomorphic.
 */
export const NO_TIMESTAMP = Number.NaN;

export function userTimestamp(timestamp: number): number | undefined {
  return Number.isNaN(timestamp) ? undefined : timestamp;
}

/** Where an operator sends what it produces: the next chained operator, channels, or both. */
export interface Output {
  collect(value: unknown, timestamp: number): void;
  collectSide(tag: string, value: unknown, timestamp: number): void;
  emitWatermark(watermark: number): void;
  emitWatermarkStatus(idle: boolean): void;
}

/**
 * Counters of an operator's subtask, live in the attempt's shared metrics array: records in and
 * out are counted by the chain and the task; an operator counts what only it knows (late records
 * it dropped).
 */
export type OperatorMetrics = OperatorCounters;

/** What a keyed operator's subtask gets: state and timers over its key-group range. */
export interface KeyedContext {
  readonly backend: KeyedStateBackend;
  readonly timers: InternalTimerService<Key>;
}

/**
 * The timer a keyed operator is firing, so that a failure in the user's timer callback (a window
 * function, `onTimer`) names it: set around each callback (no try, no allocation), read only when
 * the task fails.
 */
export interface FiringTimer {
  firing: boolean;
  eventTime: boolean;
  timestamp: number;
  key: Key;
}

export function newFiringTimer(): FiringTimer {
  return { firing: false, eventTime: true, timestamp: 0, key: '' };
}

export interface OperatorSetup {
  readonly output: Output;
  readonly runtime: RuntimeContext;
  readonly metrics: OperatorMetrics;
  /** Present for keyed operators only. */
  readonly keyed: KeyedContext | undefined;
  /** The job's processing-time clock (ms). */
  readonly clock: () => number;
  readonly sendToCoordinator: (channel: string, payload: unknown, commitKey?: string) => void;
  readonly sendOnSuccess: (channel: string, payload: unknown) => void;
  /** Whether the job takes checkpoints. */
  readonly checkpointing: boolean;
  /** After a restore: the id of the checkpoint restored (the same in every operator of the attempt). */
  readonly restoredCheckpointId?: number | undefined;
  /**
   * Asks for a step of the operator's task soon, from outside one (an async request settled):
   * the task asks every operator for `nextProcessingTimeDeadline` again at its next step, and
   * the slot's doorbell rings. Call it once per burst of work, not per record.
   */
  readonly wake: () => void;
  /** Where a keyed operator says which timer it fires (the task's failure tracker holds it). */
  readonly firingTimer?: FiringTimer;
}

/**
 * The contract between a task and the operators it runs. Records are the default action;
 * watermarks, timers and end of input arrive as other calls, all on the task's one thread.
 */
export interface StreamOperator<IN, OUT> {
  /** For type inference only. */
  readonly __types?: (input: IN) => OUT;
  setup(setup: OperatorSetup): void;
  open(): void | Promise<void>;
  /** A record with its event timestamp ({@link NO_TIMESTAMP} for none). Keys it needs from disk were prefetched. */
  processElement(value: IN, timestamp: number): void;
  /**
   * Two-input operators (`connect`): a record of the second input, `processElement` taking the
   * first. The task calls it for batches from the channels of the second side.
   */
  processElement2?(value: unknown, timestamp: number): void;
  /**
   * Keyed operators: a record with the key and key group its sender computed (carried with the
   * record over a hash-partitioned channel), so the key selector and the hash do not run again.
   * The task calls this instead of `processElement` when a batch arrives with its keys.
   */
  processKeyedElement?(value: IN, timestamp: number, key: Key, keyGroup: number): void;
  /** Keyed two-input operators: {@link processKeyedElement} for the second input. */
  processKeyedElement2?(value: unknown, timestamp: number, key: Key, keyGroup: number): void;
  /**
   * Fires the event-time timers the watermark passes, then forwards it. May return a promise
   * while the keys of due timers are fetched (disk-backed state); only a task's head operator
   * may, as a chained output does not wait for it.
   */
  processWatermark(watermark: number): void | Promise<void>;
  processWatermarkStatus(idle: boolean): void;
  /** Fires processing-time timers due at `now`; may return a promise like `processWatermark`. */
  advanceProcessingTime(now: number): void | Promise<void>;
  /**
   * When the operator next needs `advanceProcessingTime` (ms): its next processing-time timer, an
   * idleness deadline; Infinity for never. The task asks after each batch of input and after timers fire.
   */
  nextProcessingTimeDeadline(): number;
  /** End of input: every input has ended and the final watermark has been processed. */
  finish(): void | Promise<void>;
  /**
   * After each batch of input, after timers fire and at end of input; a returned promise pauses
   * the task until it settles (backpressure).
   */
  flush(): void | Promise<void>;
  close(): void | Promise<void>;
  /**
   * Captures the operator's state for a checkpoint: what it returns must not change as processing
   * goes on (copy, or encode). A promise (a disk-backed backend reading its state) holds the
   * task's input until it settles, so the snapshot is still the state at the barrier. Undefined:
   * nothing to keep.
   */
  snapshotState?(checkpointId: number): OperatorStateSnapshot | Promise<OperatorStateSnapshot> | undefined;
  /** Prepares state before `open`: opens a disk-backed backend, puts restored state in place. */
  initializeState?(): void | Promise<void>;
  /** Releases state after `close` (a disk-backed backend's files). */
  disposeState?(): void | Promise<void>;
  /**
   * Keyed head operators: fetch the state of a batch's keys before it is processed (undefined: in
   * memory). `keys`: the keys the batch arrived with, or null to select them from the records.
   * `input` is the side the batch is for (two-input operators key each side their own way).
   */
  prefetch?(values: readonly unknown[], keys: BatchKeys | null, input: number): Promise<void> | undefined;
  /** Hands back the state of this subtask's share (after rescaling, of several old subtasks), before `initializeState`. */
  restoreState?(state: RestoredOperatorState): void;
  /** Checkpoint `checkpointId` is complete: its metadata is durable (two-phase commit sinks commit here). */
  notifyCheckpointComplete?(checkpointId: number): void | Promise<void>;
  /**
   * Whether the operator can take no more records for now (async I/O at its capacity): the task
   * then reads no input and its source polls nothing until this says otherwise (backpressure).
   */
  isFull?(): boolean;
  /**
   * Whether work started by records already taken is still going on (async requests in flight
   * or waiting to be emitted): at end of input the task keeps stepping, so that completions,
   * timeouts and retries run on its clock, until no operator has any, and only then finishes.
   */
  hasPendingWork?(): boolean;
}

/** Keyed state and timers of one key group, as stored in a checkpoint. */
export interface KeyGroupState {
  readonly keyGroup: number;
  /** Keys in their stored form (`state/snapshot-keys.ts`): a lone surrogate survives msgpack. */
  readonly entries: ReadonlyArray<
    readonly [stateName: string, key: SnapshotKey, namespace: string, value: unknown]
  >;
  readonly eventTimers: ReadonlyArray<readonly [timestamp: number, key: SnapshotKey, namespace: string]>;
  readonly processingTimers: ReadonlyArray<readonly [timestamp: number, key: SnapshotKey, namespace: string]>;
}

/**
 * An operator's part of a checkpoint. Keyed state is split by key group, so that a restore at
 * another parallelism moves whole key groups; operator state is a list whose items are dealt
 * round-robin to the new subtasks (Flink's list state), e.g. a source's splits.
 */
export interface OperatorStateSnapshot {
  readonly keyGroups?: readonly KeyGroupState[];
  readonly operatorState?: readonly unknown[];
}

export interface RestoredOperatorState {
  readonly keyGroups: readonly KeyGroupState[];
  /** This subtask's round-robin share of the operator's list state. */
  readonly operatorState: readonly unknown[];
  /** Every subtask's list state, in old subtask order (Flink's union list state). */
  readonly operatorStateOfAll: readonly unknown[];
}

/** Defaults for the lifecycle, so an operator implements only what it needs. */
export abstract class AbstractStreamOperator<IN, OUT> implements StreamOperator<IN, OUT> {
  protected output!: Output;
  protected runtime!: RuntimeContext;
  protected metrics!: OperatorMetrics;
  protected clock!: () => number;
  protected currentWatermark = Number.NEGATIVE_INFINITY;

  setup(setup: OperatorSetup): void {
    this.output = setup.output;
    this.runtime = setup.runtime;
    this.metrics = setup.metrics;
    this.clock = setup.clock;
  }

  open(): void | Promise<void> {}

  abstract processElement(value: IN, timestamp: number): void;
  processWatermark(watermark: number): void | Promise<void> {
    this.currentWatermark = watermark;
    this.output.emitWatermark(watermark);
  }

  processWatermarkStatus(idle: boolean): void {
    this.output.emitWatermarkStatus(idle);
  }
  advanceProcessingTime(_now: number): void | Promise<void> {}

  nextProcessingTimeDeadline(): number {
    return Number.POSITIVE_INFINITY;
  }
  finish(): void | Promise<void> {}

  flush(): void | Promise<void> {}

  close(): void | Promise<void> {}
}
