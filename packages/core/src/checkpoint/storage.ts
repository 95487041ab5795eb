/**
 * Checkpoint storage on a (local or shared) file system.
 *
 * Layout: checkpoint `n` of a job lives in `<dir>/chk-<n>/`; a savepoint lives in a folder the
 * caller names. Both have the same format:
 *
 * ```text
 * chk-7/
 *   <state files>   written by the subtasks, each its own, possibly from many threads/processes
 *   _metadata       written by the coordinator LAST: lists every state file with size and CRC-32
 * ```
 *
 * A folder is a checkpoint only once `_metadata` exists, and `_metadata` appears atomically:
 * written to `_metadata.tmp`, fsynced, renamed, and the folder fsynced (Flink's
 * `FsCheckpointMetadataOutputStream` does the same). A crash at any point leaves either a complete
 * checkpoint or a folder that is ignored. Every file is verified (size, then CRC-32) before a
 * restore uses it, and a bad newest checkpoint falls back to the previous one, saying why.
 *
 * Concurrency: any number of writers may call {@link writeStateFile} at once, into the same or
 * different folders (each writes a uniquely named temp file and renames it). Committing, pruning
 * and discarding belong to one coordinator per checkpoint directory.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { ConfigError } from '../errors.ts';
import { crc32, crc32Hex } from './crc32.ts';
import {
  CheckpointCorruptError,
  CheckpointExistsError,
  type CheckpointFileProblem,
  CheckpointIncompleteError,
  CheckpointLimitError,
  CheckpointNotFoundError,
  CheckpointSymlinkError,
  type CheckpointVerificationFailure,
  describeVerificationFailure,
} from './errors.ts';
import {
  type CheckpointMetadata,
  conflictingListings,
  decodeMetadata,
  encodeMetadata,
  listedFiles,
  METADATA_FILE_NAME,
  METADATA_MAX_BYTES,
  METADATA_TEMP_FILE_NAME,
  STATE_FILE_MAX_BYTES,
  type StateFileHandle,
  validateStateFileName,
} from './metadata.ts';

export type {
  CheckpointMetadata,
  OperatorStateMetadata,
  StateFileHandle,
  SubtaskStateMetadata,
} from './metadata.ts';

/** Complete checkpoints kept by default (Flink keeps 1; a few more survive a corrupt newest one). */
export const DEFAULT_RETAIN = 3;
/** Upper bound of the `retain` option. */
export const RETAIN_MAX = 1000;
/** Most entries read from the checkpoint directory in one scan; pruning keeps it far below. */
export const CHECKPOINT_DIR_ENTRIES_MAX = 100_000;
/** Most complete checkpoints `latestValid` verifies before giving up. */
export const CHECKPOINTS_TRIED_MAX = 64;
/** Most problems recorded per checkpoint; the rest are counted. */
const PROBLEMS_LISTED_MAX = 20;
/** Verification reads state files in chunks of this size, so memory stays flat for large files. */
const VERIFY_CHUNK_BYTES = 1024 * 1024;
/** Files checked at once while verifying (helps on network storage, bounded for local disks). */
const VERIFY_CONCURRENCY = 4;

const CHECKPOINT_FOLDER = /^chk-(0|[1-9][0-9]{0,15})$/;

/**
 * The pointer to the latest completed checkpoint, in the checkpoint directory (Flink's
 * high-availability services keep the same pointer in ZooKeeper or a ConfigMap): a starting job
 * reads it first, and scans the `chk-<n>` folders only when it is missing or does not verify.
 */
export const LATEST_POINTER_FILE_NAME = '_latest';
/** The pointer is a few dozen bytes; anything larger is not one. */
const LATEST_POINTER_MAX_BYTES = 64 * 1024;

/**
 * Opening flags that refuse a symbolic link as the last path component (ELOOP). Where the
 * platform has no O_NOFOLLOW (Windows), {@link openNoFollow} checks with lstat first.
 */
const READ_NO_FOLLOW = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0);

/** What the pointer file says: the newest completed checkpoint of which job, and whether that run finished. */
export interface LatestCheckpointPointer {
  readonly jobName: string;
  readonly checkpointId: number;
  /**
   * The run that wrote the pointer finished (bounded input, every task done): there is nothing to
   * resume, and the next start begins fresh, as Flink discards a finished job's recovery data.
   */
  readonly finished: boolean;
}

/** A checkpoint or savepoint whose metadata and every data file verified. */
export interface LoadedCheckpoint {
  /** Absolute path of the checkpoint folder. */
  readonly folder: string;
  readonly metadata: CheckpointMetadata;
  /** Reads one of the listed files, checking size and CRC-32 again (it may have changed since). */
  readFile(handle: StateFileHandle): Promise<Uint8Array>;
}

export interface CheckpointStorageOptions {
  /** Complete checkpoints kept; older ones are deleted after each commit. Default {@link DEFAULT_RETAIN}. */
  readonly retain?: number;
  /** Where to report problems that do not fail the operation (a folder that could not be pruned). */
  readonly log?: (message: string) => void;
}

/**
 * Writes one state file into `checkpointFolder` (created if needed) durably and returns its
 * handle for the metadata. Safe to call concurrently from many threads or processes: the bytes go
 * to a temp file unique to this call, which is fsynced and then renamed to `name` (replacing an
 * older file of that name, e.g. from a retried attempt), and the folder is fsynced.
 *
 * `name` must be a plain file name: 1 to 200 letters, digits, '.', '_' or '-', starting with a
 * letter or digit, without '..' (e.g. `op-3a1f.sub-0.kg-0-63.state`).
 *
 * @example
 * const handle = await writeStateFile(storage.folderFor(7), `${operatorId}-${subtaskIndex}.state`, bytes);
 */
export async function writeStateFile(
  checkpointFolder: string,
  name: string,
  data: Uint8Array,
): Promise<StateFileHandle> {
  validateFolderArgument(checkpointFolder, 'checkpointFolder');
  validateStateFileName(name);
  if (!(data instanceof Uint8Array)) throw new ConfigError('state file data must be a Uint8Array');
  if (data.byteLength > STATE_FILE_MAX_BYTES)
    throw new CheckpointLimitError(
      `state file ${name} is ${data.byteLength} bytes, more than the ${STATE_FILE_MAX_BYTES} allowed: split the state over more files`,
    );
  const checksum = crc32(data);
  await fs.mkdir(checkpointFolder, { recursive: true });
  // Unique per process, thread and call, so concurrent writers never share a temp file; the
  // leading '.' keeps it out of the state file namespace (names start with a letter or digit).
  const temp = path.join(
    checkpointFolder,
    `.${name}.${process.pid}-${threadId}-${randomBytes(6).toString('hex')}.tmp`,
  );
  await writeDurably(temp, data, 'wx');
  try {
    await fs.rename(temp, path.join(checkpointFolder, name));
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await fsyncDirectory(checkpointFolder);
  return { file: name, bytes: data.byteLength, crc32: checksum };
}

/**
 * Verifies and opens a checkpoint or savepoint folder (for `--restore <path>`). Throws
 * {@link CheckpointNotFoundError} when the folder does not exist, and {@link CheckpointCorruptError}
 * naming every bad file when `_metadata` or any data file is missing, truncated or fails its checksum.
 */
export async function loadCheckpoint(folder: string): Promise<LoadedCheckpoint> {
  validateFolderArgument(folder, 'folder');
  const resolved = path.resolve(folder);
  let stats: Awaited<ReturnType<typeof fs.stat>>;
  try {
    stats = await fs.stat(resolved);
  } catch (error) {
    if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) throw new CheckpointNotFoundError(resolved);
    throw error;
  }
  if (!stats.isDirectory()) throw new CheckpointNotFoundError(resolved);
  const result = await verifyFolder(resolved, undefined);
  if (result.metadata === undefined || result.problems.length > 0)
    throw new CheckpointCorruptError(`cannot restore from ${resolved}:`, [
      { folder: resolved, checkpointId: undefined, problems: result.problems },
    ]);
  return openLoaded(resolved, result.metadata);
}

/**
 * The checkpoints of one job in one directory: where to write them, how to complete them, which
 * to keep, and which is the newest one that is safe to restore.
 */
export class CheckpointStorage {
  /** Absolute path of the checkpoint directory. */
  readonly dir: string;
  readonly retain: number;
  readonly #log: ((message: string) => void) | undefined;

  constructor(dir: string, options: CheckpointStorageOptions = {}) {
    validateFolderArgument(dir, 'dir');
    const retain = options.retain ?? DEFAULT_RETAIN;
    if (!Number.isInteger(retain) || retain < 1 || retain > RETAIN_MAX)
      throw new ConfigError(`options.retain must be an integer in [1, ${RETAIN_MAX}], got ${String(retain)}`);
    if (options.log !== undefined && typeof options.log !== 'function')
      throw new ConfigError('options.log must be a function when given');
    this.dir = path.resolve(dir);
    this.retain = retain;
    this.#log = options.log;
  }

  /** The folder of checkpoint `checkpointId`: `<dir>/chk-<checkpointId>`. Subtasks write their files here. */
  folderFor(checkpointId: number): string {
    if (!Number.isSafeInteger(checkpointId) || checkpointId < 0)
      throw new ConfigError(`checkpointId must be a non-negative safe integer, got ${String(checkpointId)}`);
    return path.join(this.dir, `chk-${checkpointId}`);
  }

  /**
   * Completes checkpoint `metadata.checkpointId`: checks that every listed file exists with its
   * listed size, writes `_metadata` atomically, then deletes complete checkpoints older than the
   * newest `retain` and leftover incomplete folders older than the newest complete one (an
   * incomplete folder newer than that may still be in progress and is left alone).
   * Returns the folder. Pruning failures are logged, not thrown: the checkpoint is complete.
   */
  async commit(metadata: CheckpointMetadata): Promise<string> {
    if (metadata?.kind !== 'checkpoint')
      throw new ConfigError(
        `metadata.kind must be 'checkpoint' to commit into the checkpoint directory, got ${JSON.stringify(metadata?.kind)}; use CheckpointStorage.commitTo for savepoints`,
      );
    const folder = this.folderFor(metadata.checkpointId);
    await commitMetadata(folder, metadata);
    await this.writeLatestPointer({
      jobName: metadata.jobName,
      checkpointId: metadata.checkpointId,
      finished: false,
    });
    await this.#prune();
    return folder;
  }

  /**
   * Completes a checkpoint or savepoint in any folder (e.g. `sluice savepoint --target <folder>`):
   * the same checks and atomic `_metadata` as {@link CheckpointStorage.commit}, without pruning.
   * Subtasks write their files into the folder with {@link writeStateFile} first. Returns the
   * absolute folder, which {@link loadCheckpoint} accepts.
   */
  static async commitTo(folder: string, metadata: CheckpointMetadata): Promise<string> {
    validateFolderArgument(folder, 'folder');
    const resolved = path.resolve(folder);
    await commitMetadata(resolved, metadata);
    return resolved;
  }

  /** Deletes checkpoint `checkpointId` (complete or not); `_metadata` goes first. No-op if absent. */
  async discard(checkpointId: number): Promise<void> {
    await removeCheckpointFolder(this.folderFor(checkpointId));
  }

  /** Ids of the folders that have a `_metadata` (not yet verified), newest first. */
  async listComplete(): Promise<number[]> {
    return (await this.#scan()).filter((entry) => entry.complete).map((entry) => entry.id);
  }

  /**
   * The newest complete checkpoint whose metadata and every data file verify, or `undefined` when
   * the directory holds no complete checkpoint at all. A bad newest checkpoint is reported to `log`
   * (naming each file and what is wrong with it) and the previous one is tried; newer incomplete
   * folders are reported and skipped. Throws {@link CheckpointCorruptError} listing every
   * checkpoint tried when complete checkpoints exist but none verifies.
   */
  async latestValid(
    log?: (message: string) => void,
    options: { readonly newerThan?: number; readonly olderThan?: number } = {},
  ): Promise<LoadedCheckpoint | undefined> {
    const { newerThan = -1, olderThan = Number.POSITIVE_INFINITY } = options;
    const scanned = (await this.#scan()).filter((entry) => entry.id > newerThan && entry.id < olderThan);
    const failures: CheckpointVerificationFailure[] = [];
    let completeCount = 0;
    for (const entry of scanned) {
      if (!entry.complete) {
        log?.(
          `ignoring ${entry.folder}: ${METADATA_FILE_NAME}: missing (checkpoint ${entry.id} never completed, or is still in progress)`,
        );
        continue;
      }
      completeCount++;
      if (failures.length === CHECKPOINTS_TRIED_MAX) continue;
      const result = await verifyFolder(entry.folder, entry.id);
      if (result.metadata !== undefined && result.problems.length === 0) {
        if (failures.length > 0) log?.(`restoring from checkpoint ${entry.id} at ${entry.folder}`);
        return openLoaded(entry.folder, result.metadata);
      }
      const failure = { folder: entry.folder, checkpointId: entry.id, problems: result.problems };
      failures.push(failure);
      log?.(
        `checkpoint ${entry.id} is not usable: ${describeVerificationFailure(failure)}; falling back to the previous checkpoint`,
      );
    }
    if (completeCount === 0) return undefined;
    const untried = completeCount - failures.length;
    throw new CheckpointCorruptError(
      `no valid checkpoint in ${this.dir}: ${failures.length === 1 ? 'the only complete checkpoint is' : `all ${failures.length} complete checkpoints tried are`} corrupt${untried > 0 ? ` (${untried} older ones not tried: at most ${CHECKPOINTS_TRIED_MAX} are)` : ''}:`,
      failures,
    );
  }

  /** `chk-<n>` folders of the directory, newest first, with whether each has a `_metadata`. */
  async #scan(): Promise<ScannedFolder[]> {
    let directory: Awaited<ReturnType<typeof fs.opendir>>;
    try {
      directory = await fs.opendir(this.dir);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return [];
      throw error;
    }
    const ids: number[] = [];
    let entries = 0;
    try {
      for await (const entry of directory) {
        if (++entries > CHECKPOINT_DIR_ENTRIES_MAX)
          throw new CheckpointLimitError(
            `checkpoint directory ${this.dir} has more than ${CHECKPOINT_DIR_ENTRIES_MAX} entries; is it shared with something else?`,
          );
        const match = CHECKPOINT_FOLDER.exec(entry.name);
        if (match === null) continue;
        const id = Number(match[1]);
        if (!Number.isSafeInteger(id)) continue;
        if (entry.isSymbolicLink()) {
          this.#log?.(
            `ignoring ${path.join(this.dir, entry.name)}: a symbolic link is never taken for a checkpoint`,
          );
          continue;
        }
        ids.push(id);
      }
    } finally {
      // Breaking out of `for await` closes the directory; closing it again throws ERR_DIR_CLOSED.
      await directory.close().catch(() => {});
    }
    ids.sort((a, b) => b - a);
    const scanned: ScannedFolder[] = [];
    for (const id of ids) {
      const folder = path.join(this.dir, `chk-${id}`);
      try {
        await fs.stat(path.join(folder, METADATA_FILE_NAME));
        scanned.push({ id, folder, complete: true });
      } catch (error) {
        // ENOTDIR: `chk-<n>` is a file, not a checkpoint folder; skip it.
        if (isCode(error, 'ENOENT')) scanned.push({ id, folder, complete: false });
        else if (!isCode(error, 'ENOTDIR')) throw error;
      }
    }
    return scanned;
  }

  /**
   * Checkpoints to delete at the next commit, whatever `retain` says: those of a branch the job
   * left (newer than the one it was restored from) or of a run started fresh. Deleting them only
   * once the new run has completed a checkpoint of its own means a crash before that still finds
   * them.
   */
  discardAtNextCommit(checkpointIds: readonly number[]): void {
    for (const id of checkpointIds) this.#superseded.add(id);
  }

  readonly #superseded = new Set<number>();

  /**
   * Records `pointer` as the latest completed checkpoint: written to a temp file, fsynced,
   * renamed over {@link LATEST_POINTER_FILE_NAME} and the directory fsynced, so that a crash
   * leaves the old pointer or the new one, never a torn one.
   */
  async writeLatestPointer(pointer: LatestCheckpointPointer): Promise<void> {
    const body = Buffer.from(`${JSON.stringify({ version: 1, ...pointer })}\n`, 'utf8');
    const temp = path.join(
      this.dir,
      `.${LATEST_POINTER_FILE_NAME}.${process.pid}-${threadId}-${randomBytes(6).toString('hex')}.tmp`,
    );
    await fs.mkdir(this.dir, { recursive: true });
    await writeDurably(temp, body, 'wx');
    try {
      await fs.rename(temp, path.join(this.dir, LATEST_POINTER_FILE_NAME));
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
    await fsyncDirectory(this.dir);
  }

  /**
   * The pointer, or `undefined` when there is none. A pointer that cannot be read or parsed is
   * reported to `log` and treated as absent: the folders are scanned instead.
   */
  async readLatestPointer(log?: (message: string) => void): Promise<LatestCheckpointPointer | undefined> {
    const file = path.join(this.dir, LATEST_POINTER_FILE_NAME);
    let data: Buffer;
    try {
      data = await readNoFollow(file, LATEST_POINTER_MAX_BYTES);
    } catch (error) {
      if (isCode(error, 'ENOENT')) return undefined;
      log?.(`ignoring the checkpoint pointer ${file}: ${(error as Error).message}`);
      return undefined;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const p = parsed as Partial<LatestCheckpointPointer> | undefined;
    if (
      typeof p?.jobName !== 'string' ||
      !Number.isSafeInteger(p.checkpointId) ||
      (p.checkpointId as number) < 0 ||
      typeof p.finished !== 'boolean'
    ) {
      log?.(
        `ignoring the checkpoint pointer ${file}: it does not parse; scanning the chk-<n> folders instead`,
      );
      return undefined;
    }
    return { jobName: p.jobName, checkpointId: p.checkpointId as number, finished: p.finished };
  }

  /**
   * Where a starting job resumes: the checkpoint the pointer names when it verifies, else the
   * newest valid `chk-<n>` folder (each bad one reported to `log`). `undefined` when there is
   * nothing to resume: no complete checkpoint, or the pointer says the last run finished (unless
   * `evenAfterFinishedRun`: an explicit `--restore DIR` takes the newest all the same).
   */
  async latestForResume(
    log?: (message: string) => void,
    options: { readonly evenAfterFinishedRun?: boolean } = {},
  ): Promise<{ checkpoint: LoadedCheckpoint | undefined; finishedRun: LatestCheckpointPointer | undefined }> {
    const pointer = await this.readLatestPointer(log);
    if (pointer?.finished === true && options.evenAfterFinishedRun !== true)
      return { checkpoint: undefined, finishedRun: pointer };
    if (pointer !== undefined) {
      const folder = this.folderFor(pointer.checkpointId);
      const lstat = await fs.lstat(folder).catch(() => undefined);
      if (lstat?.isDirectory() === true) {
        const result = await verifyFolder(folder, pointer.checkpointId);
        if (result.metadata !== undefined && result.problems.length === 0)
          return { checkpoint: openLoaded(folder, result.metadata), finishedRun: undefined };
        log?.(
          `checkpoint ${pointer.checkpointId} named by ${path.join(this.dir, LATEST_POINTER_FILE_NAME)} is not usable: ${describeVerificationFailure({ folder, checkpointId: pointer.checkpointId, problems: result.problems })}; scanning for the newest valid checkpoint`,
        );
      } else {
        log?.(
          `checkpoint ${pointer.checkpointId} named by ${path.join(this.dir, LATEST_POINTER_FILE_NAME)} is gone${lstat === undefined ? '' : ' (not a folder)'}; scanning for the newest valid checkpoint`,
        );
      }
    }
    return { checkpoint: await this.latestValid(log), finishedRun: undefined };
  }

  async #prune(): Promise<void> {
    let scanned: ScannedFolder[];
    try {
      scanned = await this.#scan();
    } catch (error) {
      this.#log?.(`could not scan ${this.dir} to prune old checkpoints: ${(error as Error).message}`);
      return;
    }
    const complete = scanned.filter((entry) => entry.complete);
    const newest = complete[0];
    if (newest === undefined) return;
    const superseded = complete.filter((entry) => this.#superseded.has(entry.id) && entry.id !== newest.id);
    const kept = complete.filter((entry) => !superseded.includes(entry));
    const doomed = [
      ...superseded,
      ...kept.slice(this.retain),
      ...scanned.filter((entry) => !entry.complete && entry.id < newest.id),
    ];
    for (const entry of superseded) this.#superseded.delete(entry.id);
    for (const entry of doomed) {
      try {
        await removeCheckpointFolder(entry.folder);
      } catch (error) {
        this.#log?.(`could not delete old checkpoint folder ${entry.folder}: ${(error as Error).message}`);
      }
    }
  }
}

interface ScannedFolder {
  readonly id: number;
  readonly folder: string;
  readonly complete: boolean;
}

/** Checks the listed files and writes `_metadata` atomically into `folder` (absolute). */
async function commitMetadata(folder: string, metadata: CheckpointMetadata): Promise<void> {
  const encoded = encodeMetadata(metadata); // validates; throws ConfigError naming the bad field
  const conflicts = conflictingListings(metadata);
  if (conflicts.length > 0)
    throw new ConfigError(
      `checkpoint metadata is invalid: ${conflicts.map((c) => `${c.file}: ${c.problem}`).join('; ')}`,
    );
  // A stateless job writes no files, so the folder may not exist yet.
  await fs.mkdir(folder, { recursive: true });
  const metadataPath = path.join(folder, METADATA_FILE_NAME);
  if (await exists(metadataPath)) throw new CheckpointExistsError(folder);

  const problems = await checkAll(listedFiles(metadata), async (handle) => {
    let size: number;
    try {
      const stats = await fs.lstat(path.join(folder, handle.file));
      if (stats.isSymbolicLink()) return 'is a symbolic link (not followed)';
      if (!stats.isFile()) return 'is not a regular file';
      size = stats.size;
    } catch (error) {
      if (isCode(error, 'ENOENT')) return 'missing';
      throw error;
    }
    return sizeProblem(size, handle.bytes);
  });
  if (problems.length > 0) throw new CheckpointIncompleteError(folder, problems);

  // A stale `_metadata.tmp` from a crashed commit is simply overwritten ('w').
  const temp = path.join(folder, METADATA_TEMP_FILE_NAME);
  await writeDurably(temp, encoded, 'w');
  await fs.rename(temp, metadataPath);
  await fsyncDirectory(folder);
  // The folder's own entry in its parent must survive a crash too (it may have been created just now).
  await fsyncDirectory(path.dirname(folder));
}

/** Verifies a folder: metadata (format, checksum, id) and every listed file (size, checksum). */
async function verifyFolder(
  folder: string,
  expectedId: number | undefined,
): Promise<{ metadata: CheckpointMetadata | undefined; problems: CheckpointFileProblem[] }> {
  const read = await readMetadataFile(folder);
  if (!read.ok)
    return { metadata: undefined, problems: [{ file: METADATA_FILE_NAME, problem: read.problem }] };
  const metadata = read.metadata;
  const problems: CheckpointFileProblem[] = [];
  if (expectedId !== undefined && metadata.checkpointId !== expectedId)
    problems.push({
      file: METADATA_FILE_NAME,
      problem: `metadata corrupt: it is for checkpoint ${metadata.checkpointId}, but the folder is chk-${expectedId}`,
    });
  problems.push(...conflictingListings(metadata));
  problems.push(...(await checkAll(listedFiles(metadata), (handle) => dataFileProblem(folder, handle))));
  return { metadata, problems: boundProblems(problems) };
}

async function readMetadataFile(
  folder: string,
): Promise<{ ok: true; metadata: CheckpointMetadata } | { ok: false; problem: string }> {
  let handle: FileHandle;
  try {
    handle = await openNoFollow(path.join(folder, METADATA_FILE_NAME));
  } catch (error) {
    if (isCode(error, 'ENOENT')) return { ok: false, problem: 'missing' };
    if (error instanceof CheckpointSymlinkError) return { ok: false, problem: SYMLINK_PROBLEM };
    if (isCode(error, 'EISDIR')) return { ok: false, problem: 'is not a regular file' };
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return { ok: false, problem: 'is not a regular file' };
    if (stats.size > METADATA_MAX_BYTES)
      return {
        ok: false,
        problem: `metadata corrupt: ${stats.size} bytes, more than the ${METADATA_MAX_BYTES} a metadata file may have`,
      };
    const data = await readExactly(handle, stats.size);
    return decodeMetadata(data);
  } catch (error) {
    if (isCode(error, 'EIO')) return { ok: false, problem: `unreadable (${(error as Error).message})` };
    throw error;
  } finally {
    await handle.close();
  }
}

/** What is wrong with one data file, or `undefined` when its size and CRC-32 are as listed. */
async function dataFileProblem(folder: string, expected: StateFileHandle): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await openNoFollow(path.join(folder, expected.file));
  } catch (error) {
    if (isCode(error, 'ENOENT')) return 'missing';
    if (error instanceof CheckpointSymlinkError) return SYMLINK_PROBLEM;
    if (isCode(error, 'EISDIR')) return 'is not a regular file';
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return 'is not a regular file';
    const wrongSize = sizeProblem(stats.size, expected.bytes);
    if (wrongSize !== undefined) return wrongSize;
    const chunk = Buffer.allocUnsafe(Math.min(VERIFY_CHUNK_BYTES, Math.max(expected.bytes, 1)));
    let value = 0;
    let position = 0;
    while (position < expected.bytes) {
      const want = Math.min(chunk.length, expected.bytes - position);
      const { bytesRead } = await handle.read(chunk, 0, want, position);
      if (bytesRead === 0) return `truncated to ${position} of ${expected.bytes} bytes (while reading)`;
      value = crc32(chunk.subarray(0, bytesRead), value);
      position += bytesRead;
    }
    return checksumProblem(value, expected.crc32);
  } catch (error) {
    if (isCode(error, 'EIO')) return `unreadable (${(error as Error).message})`;
    throw error;
  } finally {
    await handle.close();
  }
}

function openLoaded(folder: string, metadata: CheckpointMetadata): LoadedCheckpoint {
  const listed = new Map(listedFiles(metadata).map((handle) => [handle.file, handle]));
  return {
    folder,
    metadata,
    async readFile(handle: StateFileHandle): Promise<Uint8Array> {
      const known = listed.get(handle?.file);
      if (known === undefined || known.bytes !== handle.bytes || known.crc32 !== handle.crc32)
        throw new ConfigError(
          `state file handle ${JSON.stringify(handle)} is not one listed in the metadata of ${folder}`,
        );
      const corrupt = (problem: string): CheckpointCorruptError =>
        new CheckpointCorruptError(`cannot read state file of ${folder}:`, [
          { folder, checkpointId: metadata.checkpointId, problems: [{ file: known.file, problem }] },
        ]);
      let file: FileHandle;
      try {
        // A link put in place after verification is refused here too: CheckpointSymlinkError.
        file = await openNoFollow(path.join(folder, known.file));
      } catch (error) {
        if (isCode(error, 'ENOENT')) throw corrupt('missing');
        throw error;
      }
      let data: Uint8Array;
      try {
        const stats = await file.stat();
        const wrongSize = stats.isFile() ? sizeProblem(stats.size, known.bytes) : 'is not a regular file';
        if (wrongSize !== undefined) throw corrupt(wrongSize);
        data = await readExactly(file, known.bytes);
      } finally {
        await file.close();
      }
      if (data.length !== known.bytes) throw corrupt(`truncated to ${data.length} of ${known.bytes} bytes`);
      const wrongChecksum = checksumProblem(crc32(data), known.crc32);
      if (wrongChecksum !== undefined) throw corrupt(wrongChecksum);
      return data;
    },
  };
}

const SYMLINK_PROBLEM = 'is a symbolic link (checkpoint storage does not follow links)';

/**
 * Opens a file of a checkpoint for reading without following a symbolic link, so that a state
 * file replaced by a link is refused rather than read: {@link CheckpointSymlinkError}.
 */
async function openNoFollow(file: string): Promise<FileHandle> {
  if (fsConstants.O_NOFOLLOW === undefined) {
    const stats = await fs.lstat(file);
    if (stats.isSymbolicLink()) throw new CheckpointSymlinkError(file);
  }
  try {
    return await fs.open(file, READ_NO_FOLLOW);
  } catch (error) {
    // Linux and macOS answer O_NOFOLLOW on a link with ELOOP (some BSDs with EMLINK).
    if (isCode(error, 'ELOOP') || isCode(error, 'EMLINK')) throw new CheckpointSymlinkError(file);
    throw error;
  }
}

/** Reads a small file without following a link; refuses one larger than `maxBytes`. */
async function readNoFollow(file: string, maxBytes: number): Promise<Buffer> {
  const handle = await openNoFollow(file);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error('is not a regular file');
    if (stats.size > maxBytes) throw new Error(`${stats.size} bytes, more than the ${maxBytes} allowed`);
    return await readExactly(handle, stats.size);
  } finally {
    await handle.close();
  }
}

function sizeProblem(actual: number, expected: number): string | undefined {
  if (actual < expected) return `truncated to ${actual} of ${expected} bytes`;
  if (actual > expected) return `has ${actual} bytes, expected ${expected}`;
  return undefined;
}

function checksumProblem(actual: number, expected: number): string | undefined {
  return actual === expected
    ? undefined
    : `checksum mismatch (crc32 ${crc32Hex(actual)}, expected ${crc32Hex(expected)})`;
}

/** Runs `check` over `handles` with bounded concurrency; returns the problems in listing order. */
async function checkAll(
  handles: readonly StateFileHandle[],
  check: (handle: StateFileHandle) => Promise<string | undefined>,
): Promise<CheckpointFileProblem[]> {
  const found: Array<CheckpointFileProblem | undefined> = new Array(handles.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < handles.length) {
      const index = next++;
      const handle = handles[index]!;
      const problem = await check(handle);
      if (problem !== undefined) found[index] = { file: handle.file, problem };
    }
  };
  await Promise.all(Array.from({ length: Math.min(VERIFY_CONCURRENCY, handles.length) }, lane));
  return found.filter((p): p is CheckpointFileProblem => p !== undefined);
}

function boundProblems(problems: CheckpointFileProblem[]): CheckpointFileProblem[] {
  if (problems.length <= PROBLEMS_LISTED_MAX) return problems;
  return [
    ...problems.slice(0, PROBLEMS_LISTED_MAX),
    { file: '…', problem: `and ${problems.length - PROBLEMS_LISTED_MAX} more files with problems` },
  ];
}

async function readExactly(handle: FileHandle, bytes: number): Promise<Buffer> {
  const data = Buffer.allocUnsafe(bytes);
  let position = 0;
  while (position < bytes) {
    const { bytesRead } = await handle.read(data, position, bytes - position, position);
    if (bytesRead === 0) break; // shrank since fstat; the caller sees the short length
    position += bytesRead;
  }
  return position === bytes ? data : data.subarray(0, position);
}

/** Writes `data` to a new file at `file` and fsyncs it; removes the file if anything fails. */
async function writeDurably(file: string, data: Uint8Array, flags: 'w' | 'wx'): Promise<void> {
  const handle = await fs.open(file, flags);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await fs.rm(file, { force: true });
    throw error;
  }
  await handle.close();
}

/**
 * Makes the entries of `dir` (a rename, a new file) durable. Platforms that cannot fsync a
 * directory (Windows) refuse to open or sync it; there the rename is as durable as it gets.
 */
async function fsyncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (
      !(
        isCode(error, 'EISDIR') ||
        isCode(error, 'EPERM') ||
        isCode(error, 'EINVAL') ||
        isCode(error, 'ENOTSUP')
      )
    )
      throw error;
  } finally {
    await handle?.close();
  }
}

/** Deletes a checkpoint folder: `_metadata` first, so a crash midway leaves an incomplete folder, never a gutted "complete" one. */
async function removeCheckpointFolder(folder: string): Promise<void> {
  await fs.rm(path.join(folder, METADATA_FILE_NAME), { force: true });
  await fs.rm(folder, { recursive: true, force: true, maxRetries: 3 });
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return false;
    throw error;
  }
}

function validateFolderArgument(value: unknown, argument: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.includes('\0'))
    throw new ConfigError(`${argument} must be a non-empty path, got ${JSON.stringify(value)}`);
}

function isCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | null)?.code === code;
}
