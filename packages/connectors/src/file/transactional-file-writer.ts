import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { type FileHandle, mkdir, open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SinkWriter, SinkWriterContext } from '@sluice/core';
import {
  AFTER_LAST_CHECKPOINT,
  commitFile,
  type FileCommittable,
  isFileCommittable,
  partFileNames,
  removeCommittedAfter,
} from './file-commit.ts';
import { FileConnectorError } from './text-file-source.ts';

/** The part file being written: created on the first flush after a checkpoint. */
interface InProgressFile {
  readonly inProgressPath: string;
  /** The final path once the checkpoint `checkpointId` commits it: the id is part of the name. */
  readonly finalPathFor: (checkpointId: number, afterIt?: boolean) => string;
  /** Undefined until the first write has opened it. */
  handle: FileHandle | undefined;
}

/** A file closed at checkpoint `checkpointId`, to be renamed once that checkpoint completes. */
interface PendingFile {
  readonly checkpointId: number;
  readonly inProgressPath: string;
  readonly finalPath: string;
  /** Settles when its handle is closed: with the error if closing failed. Never rejects. */
  readonly closed: Promise<Error | undefined>;
  /** A rename is queued or running; the file stays in the list (and in checkpoints) until it is done. */
  committing: boolean;
}

/**
 * The file sink's writer when the job takes checkpoints: exactly-once by two-phase commit, the
 * way Flink's FileSink does it.
 *
 * Lines go, at each flush, to a hidden in-progress file `.<prefix>-<subtask>-<token>-<n>.inprogress`
 * in the target directory. At a checkpoint barrier (`snapshotState`, phase one) the file is
 * finished and closed, and it joins the pending files, which are all stored in the checkpoint
 * with their in-progress and final paths. When the checkpoint completes
 * (`notifyCheckpointComplete`, phase two) the pending files up to it are renamed to
 * `<prefix>-<subtask>-<token>-<n>`. After a restore, `open` renames the restored ones again (a
 * no-op for those already renamed); what was written after the checkpoint is never renamed and is
 * deleted by `commitAtEnd` at the end of the successful run, which also renames what was written
 * after the last checkpoint.
 */
export class TransactionalFileWriter<T> implements SinkWriter<T> {
  readonly #directory: string;
  readonly #prefix: string;
  readonly #format: (value: T) => string;
  readonly #context: SinkWriterContext;
  /** Random per writer instance, so that files of different attempts never share a name. */
  readonly #token: string;
  #nextFileIndex = 0;
  #current: InProgressFile | undefined;
  /** Lines since the last flush; bounded by one batch of input. */
  #lines: string[] = [];
  /** The write in progress; the task waits for it before giving more input (or a barrier). */
  #writing: Promise<void> | undefined;
  /** Closed at a checkpoint and not yet renamed, oldest first. */
  #pending: PendingFile[] = [];
  /** The newest checkpoint this writer snapshotted, else the one restored (0: none). */
  #lastCheckpointId = 0;
  /** The renames, one after another; never rejects (each failure is reported by its own promise). */
  #commits: Promise<void> = Promise.resolve();
  #opened = false;
  #closed = false;

  constructor(
    directory: string,
    prefix: string,
    format: (value: T) => string,
    context: SinkWriterContext,
    token: string = randomBytes(6).toString('hex'),
  ) {
    this.#directory = directory;
    this.#prefix = prefix;
    this.#format = format;
    this.#context = context;
    this.#token = token;
  }

  async open(): Promise<void> {
    try {
      await mkdir(this.#directory, { recursive: true });
    } catch (error) {
      throw asWriteError(error, this.#directory);
    }
    // Restored committables belong to a completed checkpoint: commit them (again) before any input.
    await commitRestored(this.#context.restoredState, this.#directory);
    // What checkpoints after the restored one committed is about to be written again: take it back.
    const { restoredCheckpointId } = this.#context;
    this.#lastCheckpointId = restoredCheckpointId ?? 0;
    if (restoredCheckpointId !== undefined)
      await removeCommittedAfter(this.#directory, this.#prefix, restoredCheckpointId);
    this.#opened = true;
  }

  write(value: T): void {
    this.#lines.push(this.#format(value));
  }

  flush(): Promise<void> | undefined {
    if (this.#lines.length === 0) return undefined;
    if (!this.#opened) throw new Error(`bug: fileSink flushed before open in '${this.#directory}'`);
    const bytes = textOf(this.#lines)!;
    this.#lines = [];
    const file = this.#current ?? this.#startFile();
    const writing = append(file, bytes).then(
      () => {
        this.#writing = undefined;
      },
      (error: unknown) => {
        this.#writing = undefined;
        throw asWriteError(error, file.inProgressPath);
      },
    );
    this.#writing = writing;
    return writing;
  }

  /**
   * Phase one. Synchronous, like the barrier: the lines since the last flush are written with one
   * `writeSync` before the file is closed, so that what the checkpoint promises is in the file
   * (in the OS's hands) before the checkpoint can be acknowledged — a crash of the thread right
   * after cannot lose it. There is no fsync: an OS crash may still lose the last writes.
   */
  snapshotState(checkpointId: number): readonly unknown[] {
    if (this.#writing !== undefined) {
      // The task takes no input, barriers included, while a flush is in progress.
      throw new Error('bug: fileSink snapshotState called while a flush is still writing');
    }
    if (this.#current !== undefined || this.#lines.length > 0) {
      const file = this.#current ?? this.#startFile();
      const lines = this.#lines;
      this.#current = undefined;
      this.#lines = [];
      const closed = finishSync(file, lines);
      this.#pending.push({
        checkpointId,
        inProgressPath: file.inProgressPath,
        finalPath: file.finalPathFor(checkpointId),
        closed,
        committing: false,
      });
    }
    this.#lastCheckpointId = Math.max(this.#lastCheckpointId, checkpointId);
    return this.#pending.map((p): FileCommittable => [p.checkpointId, p.inProgressPath, p.finalPath]);
  }

  /** Phase two: renames the files prepared up to `checkpointId`, in order, after earlier renames. */
  notifyCheckpointComplete(checkpointId: number): Promise<void> | undefined {
    const ready = this.#pending.filter((p) => !p.committing && p.checkpointId <= checkpointId);
    if (ready.length === 0) return undefined;
    for (const file of ready) file.committing = true;
    const run = this.#commits.then(async () => {
      for (const file of ready) {
        try {
          const closeError = await file.closed;
          if (closeError !== undefined) throw asWriteError(closeError, file.inProgressPath);
          await commitFile(file.inProgressPath, file.finalPath);
        } catch (error) {
          for (const f of ready) f.committing = false;
          throw error;
        }
        // Only now out of the list: a checkpoint taken while the rename ran still holds the file.
        const index = this.#pending.indexOf(file);
        if (index >= 0) this.#pending.splice(index, 1);
      }
    });
    this.#commits = run.catch(() => {});
    return run;
  }

  /**
   * End of input (or cancellation): finishes the last file and hands it, with every pending file
   * whose checkpoint has not completed, to `Sink.commitAtEnd`, which renames them only if the
   * whole run finishes. After a failure they are dropped, and their data is replayed from the
   * last checkpoint.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#opened) return;
    // On cancellation a write may still be in progress; its failure was already reported.
    if (this.#writing !== undefined) await this.#writing.catch(() => {});
    const lines = this.#lines;
    this.#lines = [];
    const file = this.#current ?? (lines.length > 0 ? this.#startFile() : undefined);
    this.#current = undefined;
    if (file !== undefined) await finish(file, lines);
    // Renames running for completed checkpoints; one that failed leaves its file pending.
    await this.#commits;
    for (const pending of this.#pending) {
      const closeError = await pending.closed;
      if (closeError !== undefined) throw asWriteError(closeError, pending.inProgressPath);
    }
    const committables: FileCommittable[] = this.#pending.map((p) => [
      p.checkpointId,
      p.inProgressPath,
      p.finalPath,
    ]);
    // Named after the last checkpoint, marked as written after it: a restore of that checkpoint
    // (or an earlier one) takes it back, and no later checkpoint's id is taken.
    if (file !== undefined)
      committables.push([
        AFTER_LAST_CHECKPOINT,
        file.inProgressPath,
        file.finalPathFor(this.#lastCheckpointId, true),
      ]);
    this.#pending = [];
    this.#context.commitAtEnd(committables);
  }

  #startFile(): InProgressFile {
    const names = partFileNames(this.#prefix, this.#context.subtaskIndex, this.#token, this.#nextFileIndex++);
    const directory = this.#directory;
    const file: InProgressFile = {
      inProgressPath: join(directory, names.inProgress),
      finalPathFor: (checkpointId, afterIt) => join(directory, names.final(checkpointId, afterIt)),
      handle: undefined,
    };
    this.#current = file;
    return file;
  }
}

/** Commits committables restored from a checkpoint; used by both writers. */
export async function commitRestored(
  restored: readonly unknown[] | undefined,
  directory: string,
): Promise<void> {
  if (restored === undefined) return;
  for (const committable of restored) {
    if (!isFileCommittable(committable)) {
      throw new FileConnectorError(
        `fileSink into '${directory}': the checkpoint holds state that is not a file sink's (${JSON.stringify(committable)}); was the sink's uid given to another sink?`,
        directory,
      );
    }
    await commitFile(committable[1], committable[2]);
  }
}

async function append(file: InProgressFile, bytes: Buffer): Promise<void> {
  // 'wx': the name is new by construction; never truncate a file some other writer owns.
  file.handle ??= await openFile(file.inProgressPath, 'wx');
  await writeAll(file.handle, bytes);
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

function writeAllSync(fd: number, bytes: Buffer): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

function textOf(lines: readonly string[]): Buffer | undefined {
  return lines.length === 0 ? undefined : Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

/**
 * Writes the last lines of `file` synchronously and starts closing it; returns how the closing
 * went. Throws (failing the checkpoint, and the task) if the lines cannot be written.
 */
function finishSync(file: InProgressFile, lines: readonly string[]): Promise<Error | undefined> {
  const bytes = textOf(lines);
  const handle = file.handle;
  try {
    if (handle === undefined) {
      // Never flushed since the last checkpoint: create, write and close it in one go.
      const fd = openSync(file.inProgressPath, 'wx');
      try {
        if (bytes !== undefined) writeAllSync(fd, bytes);
      } finally {
        closeSync(fd);
      }
      return Promise.resolve(undefined);
    }
    // No write of the handle is in flight (the task waits for flushes), so the fd is ours here.
    if (bytes !== undefined) writeAllSync(handle.fd, bytes);
  } catch (error) {
    if (handle !== undefined) void handle.close().catch(() => {});
    throw asWriteError(error, file.inProgressPath);
  }
  file.handle = undefined;
  return handle.close().then(
    () => undefined,
    (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
  );
}

/** Writes the last lines of `file` and closes it. */
async function finish(file: InProgressFile, lines: readonly string[]): Promise<void> {
  const bytes = textOf(lines);
  try {
    if (bytes !== undefined) await append(file, bytes);
  } catch (error) {
    await file.handle?.close().catch(() => {});
    file.handle = undefined;
    throw asWriteError(error, file.inProgressPath);
  }
  const handle = file.handle;
  file.handle = undefined;
  try {
    await handle?.close();
  } catch (error) {
    throw asWriteError(error, file.inProgressPath);
  }
}

export function asWriteError(error: unknown, path: string): Error {
  if (error instanceof FileConnectorError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new FileConnectorError(`fileSink: cannot write '${path}': ${message}`, path, { cause: error });
}
