/**
 * Errors raised by checkpoint storage. Each has a stable `code`; match on it, not on the message.
 *
 * Bad arguments (a state file name with a path separator, `retain: 0`, malformed metadata handed to
 * `commit`) are {@link ConfigError}s from `../errors.ts`; the classes here are about what is (or is
 * not) on disk.
 */
import { SluiceError } from '../errors.ts';

/** One thing wrong with one file of a checkpoint: `file` is relative to the checkpoint folder. */
export interface CheckpointFileProblem {
  readonly file: string;
  /** What is wrong, e.g. `missing`, `truncated to 10 of 20 bytes`, `checksum mismatch (...)`. */
  readonly problem: string;
}

/** The verdict on one checkpoint (or savepoint) folder that was checked and found unusable. */
export interface CheckpointVerificationFailure {
  readonly folder: string;
  /** The id from the folder name (`chk-<n>`), or `undefined` for a savepoint or `--restore` path. */
  readonly checkpointId: number | undefined;
  readonly problems: readonly CheckpointFileProblem[];
}

/** Formats one failure as `<folder>: <file>: <problem>; <file>: <problem>`. */
export function describeVerificationFailure(failure: CheckpointVerificationFailure): string {
  const problems = failure.problems.map((p) => `${p.file}: ${p.problem}`).join('; ');
  return `${failure.folder}: ${problems}`;
}

/**
 * No usable checkpoint: a data file or `_metadata` is missing, truncated, fails its checksum or
 * does not parse. `checkpoints` lists every folder that was tried, with its files and problems
 * (the message says the same in words).
 */
export class CheckpointCorruptError extends SluiceError {
  readonly checkpoints: readonly CheckpointVerificationFailure[];

  /** `summary` is the first line; one line per tried checkpoint follows. */
  constructor(summary: string, checkpoints: readonly CheckpointVerificationFailure[]) {
    const lines = checkpoints.map((c) => `\n  - ${describeVerificationFailure(c)}`).join('');
    super('SLUICE_CHECKPOINT_CORRUPT', `${summary}${lines}`);
    this.checkpoints = checkpoints;
  }
}

/**
 * `commit` was asked to complete a checkpoint whose listed data files are not all there with
 * their listed sizes; `_metadata` was not written, so the folder is still not a checkpoint.
 */
export class CheckpointIncompleteError extends SluiceError {
  readonly folder: string;
  readonly problems: readonly CheckpointFileProblem[];

  constructor(folder: string, problems: readonly CheckpointFileProblem[]) {
    super(
      'SLUICE_CHECKPOINT_INCOMPLETE',
      `cannot complete ${folder}: ${problems.map((p) => `${p.file}: ${p.problem}`).join('; ')}`,
    );
    this.folder = folder;
    this.problems = problems;
  }
}

/** `commit` found a `_metadata` already in the folder: a complete checkpoint is never overwritten. */
export class CheckpointExistsError extends SluiceError {
  readonly folder: string;

  constructor(folder: string) {
    super('SLUICE_CHECKPOINT_EXISTS', `${folder} already holds a complete checkpoint (_metadata exists)`);
    this.folder = folder;
  }
}

/** The folder given to restore from does not exist, or holds no checkpoint (`reason` says which). */
export class CheckpointNotFoundError extends SluiceError {
  readonly folder: string;

  constructor(folder: string, reason = 'the folder does not exist') {
    super('SLUICE_CHECKPOINT_NOT_FOUND', `no checkpoint or savepoint at ${folder}: ${reason}`);
    this.folder = folder;
  }
}

/** A bound of checkpoint storage was exceeded (too many entries to scan, a state file too large). */
export class CheckpointLimitError extends SluiceError {
  constructor(message: string) {
    super('SLUICE_CHECKPOINT_LIMIT', message);
  }
}

/**
 * A file or folder inside a checkpoint is a symbolic link. Checkpoint storage never follows one:
 * a state file replaced by a link (to `/etc/passwd`, to another job's state) would otherwise be
 * read and decoded as this job's state.
 */
export class CheckpointSymlinkError extends SluiceError {
  /** The path of the link. */
  readonly file: string;

  constructor(file: string) {
    super(
      'SLUICE_CHECKPOINT_SYMLINK',
      `${file} is a symbolic link; checkpoint storage does not follow links inside a checkpoint (replace it with the file itself)`,
    );
    this.file = file;
  }
}

/**
 * The checkpoints found belong to another job: resuming would hand one job's state to another.
 * Names both jobs and the way out (another directory, or starting fresh).
 */
export class CheckpointJobMismatchError extends SluiceError {
  readonly folder: string;
  readonly checkpointJobName: string;
  readonly jobName: string;

  constructor(folder: string, checkpointJobName: string, jobName: string) {
    super(
      'SLUICE_CHECKPOINT_JOB_MISMATCH',
      `${folder} holds a checkpoint of job '${checkpointJobName}', not of job '${jobName}': use a checkpoint directory of this job, or start fresh (--fresh, or the option fresh: true) to ignore it`,
    );
    this.folder = folder;
    this.checkpointJobName = checkpointJobName;
    this.jobName = jobName;
  }
}
