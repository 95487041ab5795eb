import type { Logger } from './logger.ts';

/**
 * The source extension point. A source is plain data plus a factory; every subtask of the source
 * operator calls `createReader` in its own worker thread and reads its own share of the input.
 */
export interface Source<T> {
  /** Shown in plans, metrics and errors. */
  readonly name: string;
  /** `bounded` sources end; the runtime then sends a final watermark and end-of-input downstream. */
  readonly boundedness: 'bounded' | 'unbounded';
  /** Whether the reader assigns event timestamps itself (`SourceOutput.collect(value, timestamp)`). */
  readonly emitsTimestamps?: boolean;
  /** The source's own limit on parallelism (a single file, a single socket, ...). */
  readonly maxParallelism?: number;
  createReader(context: SourceReaderContext): SourceReader<T>;
}

export interface SourceReaderContext {
  readonly jobName: string;
  readonly operatorId: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  /** Milliseconds; the job's clock (injectable for tests). */
  currentProcessingTime(): number;
  /** Where the reader logs: the job's logger, bound to this operator and subtask. */
  readonly logger: Logger;
  /** Call when data arrived for a reader whose last `poll` returned `PollStatus.Pending`. */
  notifyAvailable(): void;
  /**
   * After a restore: this subtask's share of the splits the readers returned from
   * `snapshotState` (dealt round-robin when the parallelism changed). Undefined on a fresh start.
   */
  readonly restoredState: readonly unknown[] | undefined;
}

export interface SourceOutput<T> {
  collect(value: T, timestamp?: number): void;
  /**
   * For sources that generate watermarks themselves (e.g. per Kafka partition, so a lagging
   * partition's records are not late): no record with a timestamp at or below `watermark`
   * follows. Emit when it advanced, at most once per poll; a downstream `assignTimestamps`
   * replaces these watermarks with its own.
   */
  emitWatermark(watermark: number): void;
  /** Marks this subtask idle (it holds back no downstream watermark) or active again. */
  markIdle(idle: boolean): void;
}

/** What `poll` says about the reader after emitting. */
export const PollStatus = {
  /** More records can be read right away. */
  More: 0,
  /** Nothing to read now; the reader calls `notifyAvailable()` when there is. */
  Pending: 1,
  /** The reader's share of the input is exhausted. */
  End: 2,
} as const;
export type PollStatus = (typeof PollStatus)[keyof typeof PollStatus];

/** How far a source reader is through its share of the input, in records or bytes. */
export interface SourceProgress {
  /** Units read so far. */
  readonly read: number;
  /** Units in the reader's share, when known (undefined: unbounded or unknown size). */
  readonly total: number | undefined;
  readonly unit: 'records' | 'bytes';
}

export interface SourceReader<T> {
  /** Called once before the first poll; may be async (open files, connect). */
  open?(): void | Promise<void>;
  /**
   * Emit at most `maxRecords` records into `output`, synchronously. Returning a number instead
   * of a status asks to be polled again after that many milliseconds (rate limiting).
   */
  poll(output: SourceOutput<T>, maxRecords: number): PollStatus | { readonly sleepMs: number };
  close?(): void | Promise<void>;
  /**
   * The reader's position for a checkpoint, as a list of plain-data splits (what remains to be
   * read); required when the job checkpoints. Called between polls, synchronously.
   */
  snapshotState?(checkpointId: number): readonly unknown[];
  /**
   * Optional: how far the reader is through its share of the input, for progress displays
   * (`sluice run --progress`, `JobHandle.progress()`). Sampled from time to time between polls,
   * never per record: keep it cheap and synchronous. Bounded sources that know their size
   * should give `total`; after a restore, read and total may cover what remained at the restore.
   */
  progress?(): SourceProgress;
  /**
   * Checkpoint `checkpointId` is complete (e.g. commit its offsets somewhere for monitoring).
   * A rejection fails the job.
   */
  notifyCheckpointComplete?(checkpointId: number): void | Promise<void>;
}
