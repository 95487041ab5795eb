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
}

export interface SinkWriterContext {
  readonly jobName: string;
  readonly operatorId: string;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  /** Sends plain data to the process that runs the job (for `collectSink`); batched by the caller. */
  sendToCoordinator(channel: string, payload: unknown): void;
}

export interface SinkWriter<T> {
  open?(): void | Promise<void>;
  write(value: T, timestamp: number | undefined): void;
  flush?(): void | Promise<void>;
  /** Called at end of input after a final `flush`, and on cancellation. */
  close?(): void | Promise<void>;
}
