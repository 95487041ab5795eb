import { access, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FileConnectorError } from './text-file-source.ts';

/**
 * A part file written between two checkpoints and closed at the second one, waiting to be made
 * visible (Flink's FileSink "pending file"). Plain data, stored in checkpoints: the paths are
 * absolute, because after a restore at another parallelism any subtask may commit it.
 */
export type FileCommittable = readonly [checkpointId: number, inProgressPath: string, finalPath: string];

/** The checkpoint id of committables handed to `commitAtEnd`: written after the last checkpoint. */
export const AFTER_LAST_CHECKPOINT = Number.POSITIVE_INFINITY;

export function isFileCommittable(value: unknown): value is FileCommittable {
  return (
    Array.isArray(value) &&
    value.length === 3 &&
    typeof value[0] === 'number' &&
    typeof value[1] === 'string' &&
    typeof value[2] === 'string'
  );
}

/**
 * The names of one part file: hidden while in progress (readers that skip dot files, as Hadoop
 * and Spark do, never see it), visible once committed. `token` is random per writer, so that no
 * two attempts of a job — nor two runs restored from the same checkpoint, whose checkpoint ids
 * may start over in a new checkpoint directory — ever pick the same name.
 */
export function partFileNames(
  prefix: string,
  subtaskIndex: number,
  token: string,
  fileIndex: number,
): { inProgress: string; final: (checkpointId: number, afterIt?: boolean) => string } {
  const stem = `${prefix}-${subtaskIndex}-${token}-${fileIndex}`;
  return {
    inProgress: `.${stem}.inprogress`,
    final: (checkpointId, afterIt = false) => `${stem}-c${checkpointId}${afterIt ? '-end' : ''}`,
  };
}

/**
 * Matches the final names `partFileNames` gives for `prefix`: group 1 is the checkpoint id that
 * committed the file; group 2 (`-end`) marks what was committed at the end of a run, written
 * after that checkpoint and before any later one.
 */
function committedPattern(prefix: string): RegExp {
  return new RegExp(`^${escapeRegExp(prefix)}-\\d+-[0-9a-f]+-\\d+-c(\\d+)(-end)?$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The sink owns its folder: after a restore, output committed by checkpoints newer than the one
 * restored — output the restored run is about to produce again — is taken back, so that the
 * folder holds every record exactly once even when a job is restored from an older checkpoint
 * (explicitly, or falling back past a corrupt newest one). A fresh start takes nothing back:
 * files committed by earlier runs belong to their checkpoints, which may still be restored (a
 * savepoint, say), and that restore needs them.
 *
 * Safe to run in every subtask's `open`, concurrently: files committed by this attempt cannot
 * exist yet (its first commit follows a checkpoint, which follows every subtask's `open`), and
 * the restored files other subtasks commit meanwhile carry ids up to the restored one. Returns
 * the ids of the checkpoints whose files were removed.
 */
export async function removeCommittedAfter(
  directory: string,
  prefix: string,
  restoredCheckpointId: number,
): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw new FileConnectorError(`fileSink: cannot list '${directory}': ${errorMessage(error)}`, directory, {
      cause: error,
    });
  }
  const pattern = committedPattern(prefix);
  const removed = new Set<number>();
  for (const name of names) {
    const match = pattern.exec(name);
    if (match === null) continue;
    const checkpointId = Number(match[1]);
    // `-end` files of checkpoint n came after n: a restore of n itself takes them back.
    const after =
      match[2] === undefined ? checkpointId > restoredCheckpointId : checkpointId >= restoredCheckpointId;
    if (!after) continue;
    const path = join(directory, name);
    try {
      await rm(path, { force: true });
    } catch (error) {
      throw new FileConnectorError(
        `fileSink: cannot remove '${path}', committed after checkpoint ${restoredCheckpointId}: ${errorMessage(error)}`,
        path,
        { cause: error },
      );
    }
    removed.add(checkpointId);
  }
  return [...removed].sort((a, b) => a - b);
}

/** Matches the in-progress names `partFileNames` gives for `prefix`, and nothing else. */
function inProgressPattern(prefix: string): RegExp {
  return new RegExp(`^\\.${escapeRegExp(prefix)}-\\d+-[0-9a-f]+-\\d+\\.inprogress$`);
}

/**
 * Phase two for one file: renames it from its in-progress name to its final name. Idempotent,
 * as a commit repeated after a restore must be: when the in-progress file is gone and the final
 * one exists, an earlier attempt committed it (and crashed before the checkpoint recorded that).
 * When both are gone the data is lost — deleted from outside — and that is an error, not a skip.
 */
export async function commitFile(inProgressPath: string, finalPath: string): Promise<void> {
  try {
    await rename(inProgressPath, finalPath);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') {
      const committedBefore = await access(finalPath).then(
        () => true,
        () => false,
      );
      if (committedBefore) return;
      throw new FileConnectorError(
        `fileSink: cannot commit '${inProgressPath}': neither it nor its final name '${finalPath}' exists (was the directory changed from outside while the job ran?)`,
        inProgressPath,
        { cause: error },
      );
    }
    throw new FileConnectorError(
      `fileSink: cannot commit '${inProgressPath}' as '${finalPath}': ${errorMessage(error)}`,
      inProgressPath,
      { cause: error },
    );
  }
}

/**
 * `Sink.commitAtEnd`: runs once, in the process that runs the job, after every task of the
 * successful attempt has finished. Commits what the writers handed over (files written after the
 * last completed checkpoint, and prepared ones whose checkpoint did not complete in time), then
 * deletes every in-progress file of this sink in `directory` that it did not just commit.
 *
 * Why here and nowhere else: an in-progress file that no committable references is the leftover
 * of an aborted attempt (written after its last checkpoint, or prepared for a checkpoint that
 * never completed). Only here is it certain that nothing still needs such a file: no writer of
 * this job is running, so none is creating one, and every committable still alive is in
 * `committables` (restored ones were committed by `open`, completed ones at their checkpoint).
 * A writer cannot do it safely — not in `open` after a restore, where the other subtasks are
 * creating their first files at the same moment and still have to commit their own share of the
 * restored committables (dealt round-robin, so no subtask knows the others'), nor later, when
 * any file it does not know may belong to another subtask of the same attempt. So while a job
 * runs, and after it failed for good, the directory may hold hidden `.inprogress` files.
 */
export async function commitAtEnd(
  directory: string,
  prefix: string,
  committables: readonly unknown[],
): Promise<void> {
  const committed = new Set<string>();
  for (const committable of committables) {
    if (!isFileCommittable(committable)) {
      throw new Error(`bug: fileSink got a committable that is not one: ${JSON.stringify(committable)}`);
    }
    await commitFile(committable[1], committable[2]);
    committed.add(committable[1]);
  }
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return; // no writer ever opened: nothing was written
    throw new FileConnectorError(`fileSink: cannot list '${directory}': ${errorMessage(error)}`, directory, {
      cause: error,
    });
  }
  const pattern = inProgressPattern(prefix);
  for (const name of names) {
    const path = join(directory, name);
    if (!pattern.test(name) || committed.has(path)) continue;
    try {
      await rm(path, { force: true });
    } catch (error) {
      throw new FileConnectorError(
        `fileSink: cannot remove the leftover '${path}': ${errorMessage(error)}`,
        path,
        { cause: error },
      );
    }
  }
}

export function errorCode(error: unknown): unknown {
  return error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
