import type { Logger } from './logger.ts';

/**
 * The sink extension point. Every subtask of a sink creates its own writer in its worker thread.
 * `write` is synchronous and called once per record; `flush` is called after each batch of input
 * and may return a promise: the task reads no more input until it settles, which is how a slow
 * sink pushes back on the sources without a promise per record.
 */
export interface Sink<T> {
  readonly name: string;
  /** The sink's own limit on parallelism. */
  readonly maxParallelism?: number;
  createWriter(context: SinkWriterContext): SinkWriter<T>;
  /**
   * Commits what the writers handed to `context.commitAtEnd`, once the whole job has finished;
   * `context.logger` is the job's logger, bound to the sink's operator.
   */
  commitAtEnd?(committables: readonly unknown[], context: CommitAtEndContext): void | Promise<void>;
}

/** What `Sink.commitAtEnd` gets besides the committables. */
export interface CommitAtEndContext {
  readonly logger: Logger;
}

export interface SinkWriterContext {
  readonly jobName: string;
  readonly operatorId: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  /** Where the writer logs: the job's logger, bound to this operator and subtask. */
  readonly logger: Logger;
  /** Sends plain data to the process that runs the job (for `collectSink`); batched by the caller. */
  sendToCoordinator(channel: string, payload: unknown, commitKey?: string): void;
  /**
   * Like `sendToCoordinator`, but taken only if this run of the job finishes: for what a sink
   * still holds at end of input, when no checkpoint will complete to commit it.
   */
  sendOnSuccess(channel: string, payload: unknown): void;
  /**
   * Hands committables to `Sink.commitAtEnd`, which runs once in the process that runs the job
   * after every task has finished: how an exactly-once sink commits what it wrote after the last
   * checkpoint (Flink's final checkpoint). After a failure they are dropped and replayed.
   */
  commitAtEnd(committables: readonly unknown[]): void;
  /** Whether the job takes checkpoints (an exactly-once sink then commits on checkpoint completion). */
  readonly checkpointing: boolean;
  /** After a restore: this subtask's share of what `snapshotState` returned. */
  readonly restoredState: readonly unknown[] | undefined;
  /**
   * After a restore: what every subtask's `snapshotState` returned (at the old parallelism), so
   * that a sink can split recovery work by a rule of its own (e.g. which transactions to finish).
   */
  readonly restoredStateOfAllSubtasks: readonly unknown[] | undefined;
  /**
   * After a restore: the id of the checkpoint restored, even when this sink had no state in it.
   * Checkpoint ids grow along a job's history (a run continues after the checkpoint it restored),
   * so a sink that records with its output the checkpoint that committed it can tell what came
   * after the restored one — and take it back (the file sink does). Undefined on a fresh start.
   */
  readonly restoredCheckpointId?: number | undefined;
}

export interface SinkWriter<T> {
  open?(): void | Promise<void>;
  write(value: T, timestamp: number | undefined): void;
  flush?(): void | Promise<void>;
  /** Called at end of input after a final `flush`, and on cancellation. */
  close?(): void | Promise<void>;
  /**
   * Two-phase commit, phase one: at a checkpoint barrier, return what was written since the last
   * one as plain data ("committables"); it is stored in the checkpoint. It may return a promise
   * (e.g. to wait for records in flight to be acknowledged): the task takes no input until it
   * settles, and a rejection fails the checkpoint's task.
   */
  snapshotState?(checkpointId: number): readonly unknown[] | Promise<readonly unknown[]>;
  /**
   * Phase two: checkpoint `checkpointId` is durable; commit what was prepared up to it. Must be
   * idempotent: after a crash it is called again for committables restored from the checkpoint.
   */
  notifyCheckpointComplete?(checkpointId: number): void | Promise<void>;
}
