import { type FileHandle, open as openFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  ConfigError,
  PollStatus,
  SluiceError,
  type Source,
  type SourceOutput,
  type SourceProgress,
  type SourceReader,
  type SourceReaderContext,
  splitRange,
} from '@sluice/core';

export interface TextFileSourceOptions {
  /** How the bytes of each line are decoded; only UTF-8 for now. */
  readonly encoding?: 'utf8';
  /** Bytes one `FileHandle.read` asks for, into a buffer reused for every read (default 64 KiB). */
  readonly readChunkBytes?: number;
}

/** Reading or writing a file failed; the message names the file, `path` holds it. */
export class FileConnectorError extends SluiceError {
  readonly path: string;

  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super('SLUICE_FILE_IO', message, options);
    this.path = path;
  }
}

const READ_CHUNK_BYTES_DEFAULT = 64 * 1024;
const READ_CHUNK_BYTES_MAX = 16 * 1024 * 1024;
/**
 * A read starts only while fewer decoded lines than this wait to be polled, so the reader stays
 * at most one chunk ahead of its consumer: at most this many lines plus one chunk's worth.
 */
const LINES_BUFFERED_MAX = 4096;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * A bounded source of the lines of one or more text files, without their '\n' or '\r\n'.
 *
 * Every file is cut into `parallelism` byte ranges, the way Hadoop's TextInputFormat splits
 * files; subtask i reads range i of every file. A range owns the lines that *start* inside it:
 * a range that does not begin at byte 0 skips up to and including the first '\n' at or after the
 * byte before it (that line belongs to the previous range), and the last line a range owns is
 * read to its end even past the range. So the union over the subtasks is every line exactly once,
 * and small files give some subtasks empty ranges. Lines are decoded only once complete, so a
 * multi-byte character cut by a read chunk is never split. The files must not change while the
 * job runs: every subtask splits by the size it sees when it opens the file.
 *
 * Relative paths are resolved against the working directory when the source is created.
 *
 * @example
 * env.fromSource(textFileSource(['logs/a.txt', 'logs/b.txt'])).filter((line) => line.length > 0);
 */
export function textFileSource(
  paths: string | readonly string[],
  options: TextFileSourceOptions = {},
): Source<string> {
  const list: readonly unknown[] = typeof paths === 'string' ? [paths] : paths;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError(
      `textFileSource: option "paths" must be a path or a non-empty array of paths, got ${String(paths)}`,
    );
  }
  for (const path of list) {
    if (typeof path !== 'string' || path.length === 0) {
      throw new ConfigError(
        `textFileSource: every entry of option "paths" must be a non-empty string, got ${JSON.stringify(path)}`,
      );
    }
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(`textFileSource: options must be an object, got ${String(options)}`);
  }
  if (options.encoding !== undefined && options.encoding !== 'utf8') {
    throw new ConfigError(
      `textFileSource: option "encoding" must be 'utf8', got ${JSON.stringify(options.encoding)}`,
    );
  }
  const { readChunkBytes = READ_CHUNK_BYTES_DEFAULT } = options;
  if (!Number.isInteger(readChunkBytes) || readChunkBytes < 1 || readChunkBytes > READ_CHUNK_BYTES_MAX) {
    throw new ConfigError(
      `textFileSource: option "readChunkBytes" must be an integer in [1, ${READ_CHUNK_BYTES_MAX}], got ${String(readChunkBytes)}`,
    );
  }
  const resolved = (list as readonly string[]).map((path) => resolve(path));
  return {
    name: 'textFile',
    boundedness: 'bounded',
    createReader: (context) => new TextFileReader(resolved, readChunkBytes, context),
  };
}

/** Where the reader is in its current file's range. */
interface OpenRange {
  readonly path: string;
  readonly handle: FileHandle;
  /** The file's size when opened; reads stop there. */
  readonly sizeBytes: number;
  /** The start of the range: its first line starts at or after it. */
  readonly startByte: number;
  /** The end of the range (exclusive): the last owned line starts before it. */
  readonly endByte: number;
  /** The next byte to read. */
  position: number;
  /** Still skipping the line that belongs to the previous range. */
  skipping: boolean;
  /** Where the line being assembled starts. */
  lineStart: number;
}

/**
 * Reads one subtask's ranges. `poll` only hands out lines already decoded; reading happens in
 * one background `#fill` at a time, started by `poll` when few lines are left, which stores its
 * failure for the next `poll` to throw and calls `notifyAvailable` when it settles.
 */
class TextFileReader implements SourceReader<string> {
  readonly #paths: readonly string[];
  readonly #context: SourceReaderContext;
  /** Reused by every read; lines are decoded (or carried bytes copied) before the next read. */
  readonly #buffer: Buffer;
  /** Decoded lines; `#head` is the next one to emit. */
  #lines: string[] = [];
  #head = 0;
  /** Lines decoded so far: a fill ends once it has decoded one (poll may drain `#lines` meanwhile). */
  #linesDecoded = 0;
  /** Pieces of a line that spans read chunks, copied out of the reused buffer. */
  #carry: Buffer[] = [];
  #nextFile = 0;
  #range: OpenRange | undefined;
  #fill: Promise<void> | undefined;
  #failure: Error | undefined;
  #exhausted = false;
  #closed = false;
  /** This subtask's bytes over all files, from their sizes at open; undefined if one could not be sized. */
  #totalBytes: number | undefined;
  /** The bytes of the ranges read to their end. */
  #bytesDone = 0;

  constructor(paths: readonly string[], readChunkBytes: number, context: SourceReaderContext) {
    this.#paths = paths;
    this.#buffer = Buffer.allocUnsafe(readChunkBytes);
    this.#context = context;
  }

  /** Sizes this subtask's share of every file, for `progress`; a file that cannot be sized fails later, when it is read. */
  async open(): Promise<void> {
    const { subtaskIndex, parallelism } = this.#context;
    try {
      let total = 0;
      for (const path of this.#paths) {
        const [startByte, endByte] = splitRange((await stat(path)).size, subtaskIndex, parallelism);
        total += Math.max(0, endByte - startByte);
      }
      this.#totalBytes = total;
    } catch {
      this.#totalBytes = undefined;
    }
  }

  /** Bytes of this subtask's ranges read so far (a range counts up to its end, not the line read past it). */
  progress(): SourceProgress {
    const range = this.#range;
    const current =
      range === undefined
        ? 0
        : Math.min(Math.max(0, range.position - range.startByte), range.endByte - range.startByte);
    return { read: this.#bytesDone + current, total: this.#totalBytes, unit: 'bytes' };
  }

  poll(output: SourceOutput<string>, maxRecords: number): PollStatus {
    if (this.#failure !== undefined) throw this.#failure;
    const lines = this.#lines;
    const stop = Math.min(lines.length, this.#head + maxRecords);
    let head = this.#head;
    for (; head < stop; head++) output.collect(lines[head]!);
    if (head === lines.length) {
      lines.length = 0;
      head = 0;
    }
    this.#head = head;
    const buffered = lines.length - head;
    if (buffered < LINES_BUFFERED_MAX && this.#fill === undefined && !this.#exhausted) this.#startFill();
    if (buffered > 0) return PollStatus.More;
    if (this.#fill !== undefined) return PollStatus.Pending;
    return PollStatus.End;
  }

  async close(): Promise<void> {
    this.#closed = true;
    // The fill never rejects (it stores its failure), and it checks `#closed` between reads.
    if (this.#fill !== undefined) await this.#fill;
    await this.#closeRange();
  }

  #startFill(): void {
    if (this.#head > 0) {
      this.#lines.splice(0, this.#head);
      this.#head = 0;
    }
    this.#fill = this.#fillLines().then(
      () => {
        this.#fill = undefined;
        this.#context.notifyAvailable();
      },
      (error: unknown) => {
        this.#fill = undefined;
        this.#failure = asFileError(error, this.#range?.path ?? this.#paths[this.#nextFile - 1] ?? '?');
        this.#context.notifyAvailable();
      },
    );
  }

  /** Reads until at least one more line is decoded or the subtask's ranges are done. */
  async #fillLines(): Promise<void> {
    const before = this.#linesDecoded;
    while (this.#linesDecoded === before && !this.#exhausted && !this.#closed) {
      const range = this.#range;
      if (range === undefined) await this.#openNextRange();
      else await this.#readChunk(range);
    }
  }

  async #openNextRange(): Promise<void> {
    if (this.#nextFile >= this.#paths.length) {
      this.#exhausted = true;
      return;
    }
    const path = this.#paths[this.#nextFile++]!;
    const handle = await openFile(path, 'r');
    let sizeBytes: number;
    try {
      sizeBytes = (await handle.stat()).size;
    } catch (error) {
      await handle.close().catch(() => {});
      throw asFileError(error, path);
    }
    const { subtaskIndex, parallelism } = this.#context;
    const [startByte, endByte] = splitRange(sizeBytes, subtaskIndex, parallelism);
    if (startByte >= endByte) {
      // An empty range owns no line (the line starting at `startByte`, if any, is the next range's).
      await handle.close();
      return;
    }
    this.#carry = [];
    this.#range = {
      path,
      handle,
      sizeBytes,
      startByte,
      endByte,
      // From the byte before the range, so that a line starting exactly at `startByte` is ours.
      position: startByte === 0 ? 0 : startByte - 1,
      skipping: startByte !== 0,
      lineStart: startByte,
    };
  }

  async #readChunk(range: OpenRange): Promise<void> {
    const buffer = this.#buffer;
    const chunkStart = range.position;
    const length = Math.min(buffer.length, range.sizeBytes - chunkStart);
    const bytesRead = length <= 0 ? 0 : (await range.handle.read(buffer, 0, length, chunkStart)).bytesRead;
    if (bytesRead === 0) {
      // End of file: a last line without '\n' is ours if we got past the skipped one.
      if (!range.skipping && range.lineStart < chunkStart) this.#pushLine(buffer, 0, 0);
      await this.#closeRange();
      return;
    }
    range.position = chunkStart + bytesRead;
    // A view of the bytes just read: the reused buffer holds stale bytes past them.
    const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    let offset = 0;
    if (range.skipping) {
      const newline = chunk.indexOf(NEWLINE, 0);
      if (newline < 0) return;
      range.skipping = false;
      offset = newline + 1;
      range.lineStart = chunkStart + offset;
      if (range.lineStart >= range.endByte) {
        await this.#closeRange();
        return;
      }
    }
    // Shaped for speed: one indexOf per line over the raw bytes, one decode per complete line.
    while (offset < bytesRead) {
      const newline = chunk.indexOf(NEWLINE, offset);
      if (newline < 0) {
        this.#carry.push(Buffer.from(chunk.subarray(offset)));
        return;
      }
      this.#pushLine(chunk, offset, newline);
      offset = newline + 1;
      range.lineStart = chunkStart + offset;
      if (range.lineStart >= range.endByte) {
        await this.#closeRange();
        return;
      }
    }
  }

  /** Decodes the carried pieces plus `buffer[from, to)` as one line, without a trailing '\r'. */
  #pushLine(buffer: Buffer, from: number, to: number): void {
    let line: string;
    if (this.#carry.length === 0) {
      line = buffer.toString('utf8', from, to);
    } else {
      this.#carry.push(buffer.subarray(from, to));
      line = Buffer.concat(this.#carry).toString('utf8');
      this.#carry = [];
    }
    if (line.charCodeAt(line.length - 1) === CARRIAGE_RETURN) line = line.slice(0, -1);
    this.#lines.push(line);
    this.#linesDecoded++;
  }

  async #closeRange(): Promise<void> {
    const range = this.#range;
    if (range === undefined) return;
    this.#range = undefined;
    this.#bytesDone += range.endByte - range.startByte;
    this.#carry = [];
    try {
      await range.handle.close();
    } catch (error) {
      throw asFileError(error, range.path);
    }
  }
}

function asFileError(error: unknown, path: string): Error {
  if (error instanceof FileConnectorError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new FileConnectorError(`textFileSource: cannot read '${path}': ${message}`, path, { cause: error });
}
