/**
 * What `--restore PATH` (`restoreFrom`) names, resolved to one verified checkpoint. Three forms
 * are accepted, told apart by what the folder holds:
 *
 * - a checkpoint or savepoint folder (it has `_metadata`): that one. When it is a `chk-<n>` folder
 *   of a checkpoint directory and does not verify, the previous valid checkpoint of that
 *   directory is taken instead, and `log` says so — as a restart does;
 * - a checkpoint directory (it has `chk-<n>` folders or the `_latest` pointer): its newest valid
 *   checkpoint, the pointer first;
 * - anything else is refused, saying which of the three it is not.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { CheckpointCorruptError, CheckpointNotFoundError } from './errors.ts';
import { METADATA_FILE_NAME } from './metadata.ts';
import {
  CheckpointStorage,
  LATEST_POINTER_FILE_NAME,
  type LoadedCheckpoint,
  loadCheckpoint,
} from './storage.ts';

const CHECKPOINT_FOLDER = /^chk-(0|[1-9][0-9]{0,15})$/;

export async function resolveRestoreTarget(
  target: string,
  log: (message: string) => void,
): Promise<LoadedCheckpoint> {
  const folder = path.resolve(target);
  const stats = await fs.stat(folder).catch(() => undefined);
  if (stats?.isDirectory() !== true) throw new CheckpointNotFoundError(folder);
  if (await present(path.join(folder, METADATA_FILE_NAME))) {
    try {
      return await loadCheckpoint(folder);
    } catch (error) {
      const id = CHECKPOINT_FOLDER.exec(path.basename(folder))?.[1];
      if (!(error instanceof CheckpointCorruptError) || id === undefined) throw error;
      log(`cannot restore from ${folder}: ${error.message}`);
      const previous = await new CheckpointStorage(path.dirname(folder)).latestValid(log, {
        olderThan: Number(id),
      });
      if (previous === undefined) {
        throw new CheckpointCorruptError(
          `cannot restore from ${folder}, and ${path.dirname(folder)} holds no older complete checkpoint to fall back to:`,
          error.checkpoints,
        );
      }
      log(`falling back to the previous valid checkpoint, ${previous.folder}`);
      return previous;
    }
  }
  if (await holdsCheckpoints(folder)) {
    // Asked for by name: a run that finished does not make its checkpoints unusable here.
    const { checkpoint } = await new CheckpointStorage(folder).latestForResume(log, {
      evenAfterFinishedRun: true,
    });
    if (checkpoint === undefined) {
      throw new CheckpointNotFoundError(
        folder,
        'it is a checkpoint directory without a complete checkpoint (no chk-<n> folder has a _metadata)',
      );
    }
    log(`restoring from ${checkpoint.folder}, the newest valid checkpoint in ${folder}`);
    return checkpoint;
  }
  throw new CheckpointNotFoundError(
    folder,
    `it is neither a checkpoint or savepoint (no ${METADATA_FILE_NAME}) nor a checkpoint directory (no chk-<n> folders, no ${LATEST_POINTER_FILE_NAME})`,
  );
}

async function present(file: string): Promise<boolean> {
  return (await fs.lstat(file).catch(() => undefined)) !== undefined;
}

async function holdsCheckpoints(folder: string): Promise<boolean> {
  if (await present(path.join(folder, LATEST_POINTER_FILE_NAME))) return true;
  const names = await fs.readdir(folder);
  return names.some((name) => CHECKPOINT_FOLDER.test(name));
}
