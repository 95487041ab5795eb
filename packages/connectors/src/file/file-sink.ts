import { type FileHandle, mkdir, open as openFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, type Sink, type SinkWriter, type SinkWriterContext } from '@sluice/core';
import { commitAtEnd, removeCommittedAfter } from './file-commit.ts';
import { asWriteError, commitRestored, TransactionalFileWriter } from './transactional-file-writer.ts';

export interface FileSinkOptions<T> {
  /** Turns a record into its line (default: strings as they are, other values as JSON). */
  readonly format?: (value: T) => string;
  /** File names start with `${prefix}-${subtaskIndex}` (default prefix `part`). */
  readonly prefix?: string;
}

/**
 * Writes records as lines of text into `directory` (created if missing). Lines are kept in memory
 * until the task flushes (after each batch of input) and then written in one write; the task
 * takes no more input until the write completes, so a slow disk pushes back on the sources.
 *
 * Without checkpoints, each subtask writes one file, `${prefix}-${subtaskIndex}`, truncated if
 * present. A failed job leaves what it had written.
 *
 * With checkpoints the sink is exactly-once, by two-phase commit (Flink's FileSink): each subtask
 * writes hidden in-progress files (`.${prefix}-${subtaskIndex}-<token>-<n>.inprogress`), closes
 * the current one at each checkpoint barrier and renames it to `${prefix}-${subtaskIndex}-<token>-<n>`
 * when that checkpoint completes; what follows the last checkpoint is renamed when the whole job
 * has finished. The visible files of a finished job hold every record exactly once, across
 * failures and restores. While a job runs — or after it failed for good, until a run restored
 * from its checkpoint finishes — the directory also holds hidden in-progress files: readers must
 * skip names starting with '.'. At the end of a successful run, in-progress files of this prefix
 * that no checkpoint references (leftovers of failed attempts) are deleted, so a directory and
 * prefix must belong to one sink of one job.
 *
 * The sink owns its folder. A committed file's name ends in `-c<id>`, the checkpoint that
 * committed it (`-c<last>-end` for what was written after the last checkpoint and committed when
 * the run finished). On a restore, the
 * files committed by checkpoints newer than the one restored are removed before any input — that
 * output is produced again — so the folder stays exact even when a job is restored from an older
 * checkpoint (unlike Flink's FileSink, which leaves them). A fresh start (nothing restored)
 * removes nothing: files committed by earlier runs stay, as a restore of their checkpoints needs
 * them; give a fresh run an empty folder (or another prefix) for its output alone.
 * Files are not fsynced: exactly-once holds across crashes of the job and of its process, not of
 * the operating system.
 *
 * Relative directories are resolved against the working directory when the sink is created.
 *
 * @example
 * counts.sinkTo(fileSink('out/counts', { format: (c) => `${c.word}\t${c.count}` }));
 */
export function fileSink<T>(directory: string, options: FileSinkOptions<T> = {}): Sink<T> {
  if (typeof directory !== 'string' || directory.length === 0) {
    throw new ConfigError(
      `fileSink: option "directory" must be a non-empty string, got ${JSON.stringify(directory)}`,
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`fileSink: options must be an object, got ${String(options)}`);
  }
  const { format = defaultFormat, prefix = 'part' } = options;
  if (typeof format !== 'function') {
    throw new ConfigError('fileSink: option "format" must be a function (value) => string');
  }
  if (typeof prefix !== 'string' || prefix.length === 0 || /[/\\]/.test(prefix)) {
    throw new ConfigError(
      `fileSink: option "prefix" must be a non-empty file name without '/' or '\\', got ${JSON.stringify(prefix)}`,
    );
  }
  const resolvedDirectory = resolve(directory);
  return {
    name: 'file',
    createWriter: (context) =>
      context.checkpointing
        ? new TransactionalFileWriter(resolvedDirectory, prefix, format, context)
        : new FileSinkWriter(resolvedDirectory, prefix, format, context),
    commitAtEnd: (committables) => commitAtEnd(resolvedDirectory, prefix, committables),
  };
}

function defaultFormat(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

/** Without checkpoints: one file per subtask, written at each flush. */
class FileSinkWriter<T> implements SinkWriter<T> {
  readonly #directory: string;
  readonly #path: string;
  readonly #prefix: string;
  readonly #format: (value: T) => string;
  readonly #context: SinkWriterContext;
  #handle: FileHandle | undefined;
  /** Lines since the last flush; bounded by one batch of input. */
  #lines: string[] = [];
  /** The write in progress; the task waits for it before giving more input, `close` too. */
  #writing: Promise<void> | undefined;

  constructor(directory: string, prefix: string, format: (value: T) => string, context: SinkWriterContext) {
    this.#directory = directory;
    this.#path = join(directory, `${prefix}-${context.subtaskIndex}`);
    this.#prefix = prefix;
    this.#format = format;
    this.#context = context;
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.#directory, { recursive: true });
    } catch (error) {
      throw asWriteError(error, this.#path);
    }
    // Restored from a checkpoint taken with checkpoints on: its committables are committed all the
    // same, and what later checkpoints committed is taken back (this run writes it again).
    await commitRestored(this.#context.restoredState, this.#directory);
    const restoredId = this.#context.restoredCheckpointId;
    if (restoredId !== undefined) await removeCommittedAfter(this.#directory, this.#prefix, restoredId);
    try {
      this.#handle = await openFile(this.#path, 'w');
    } catch (error) {
      throw asWriteError(error, this.#path);
    }
  }

  write(value: T): void {
    this.#lines.push(this.#format(value));
  }

  flush(): Promise<void> | undefined {
    if (this.#lines.length === 0) return undefined;
    const handle = this.#handle;
    if (handle === undefined) throw new Error(`fileSink: flush before open of '${this.#path}'`);
    const text = `${this.#lines.join('\n')}\n`;
    this.#lines = [];
    const path = this.#path;
    const writing = handle.write(text).then(
      () => {
        this.#writing = undefined;
      },
      (error: unknown) => {
        this.#writing = undefined;
        throw asWriteError(error, path);
      },
    );
    this.#writing = writing;
    return writing;
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) return;
    // On cancellation a write may still be in progress; its failure was already reported.
    if (this.#writing !== undefined) await this.#writing.catch(() => {});
    try {
      await this.flush();
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    } finally {
      this.#handle = undefined;
    }
    try {
      await handle.close();
    } catch (error) {
      throw asWriteError(error, this.#path);
    }
    // After a restore the directory may hold in-progress files of the checkpointed run that no
    // checkpoint references: `Sink.commitAtEnd` deletes them once this run has finished.
    if (this.#context.restoredState !== undefined) this.#context.commitAtEnd([]);
  }
}
