import { type FileHandle, mkdir, open as openFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, type Sink, type SinkWriter, type SinkWriterContext } from '@sluice/core';
import { FileConnectorError } from './text-file-source.ts';

export interface FileSinkOptions<T> {
  /** Turns a record into its line (default: strings as they are, other values as JSON). */
  readonly format?: (value: T) => string;
  /** Each subtask writes `${prefix}-${subtaskIndex}` (default prefix `part`). */
  readonly prefix?: string;
}

/**
 * Writes records as lines of text, one file per subtask: `${prefix}-${subtaskIndex}` in
 * `directory`, created if missing and truncated if present. Lines are kept in memory until the
 * task flushes (after each batch of input) and then written in one `FileHandle.write`; the task
 * takes no more input until the write completes, so a slow disk pushes back on the sources.
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
    createWriter: (context) => new FileSinkWriter(resolvedDirectory, prefix, format, context),
  };
}

function defaultFormat(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

class FileSinkWriter<T> implements SinkWriter<T> {
  readonly #directory: string;
  readonly #path: string;
  readonly #format: (value: T) => string;
  #handle: FileHandle | undefined;
  /** Lines since the last flush; bounded by one batch of input. */
  #lines: string[] = [];
  /** The write in progress; the task waits for it before giving more input, `close` too. */
  #writing: Promise<void> | undefined;

  constructor(directory: string, prefix: string, format: (value: T) => string, context: SinkWriterContext) {
    this.#directory = directory;
    this.#path = join(directory, `${prefix}-${context.subtaskIndex}`);
    this.#format = format;
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.#directory, { recursive: true });
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
  }
}

function asWriteError(error: unknown, path: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new FileConnectorError(`fileSink: cannot write '${path}': ${message}`, path, { cause: error });
}
