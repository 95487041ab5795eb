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
   * Checkpoint `checkpointId` is complete (e.g. commit its offsets somewhere for monitoring).
   * A rejection fails the job.
   */
  notifyCheckpointComplete?(checkpointId: number): void | Promise<void>;
}
