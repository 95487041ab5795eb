import { ConfigError } from '../errors.ts';
import {
  decodeTaskSnapshot,
  encodeTaskSnapshot,
  restoredStateFor,
  type StoredSubtask,
} from '../runtime/checkpointing.ts';
import type { OperatorStateSnapshot, RestoredOperatorState } from '../runtime/operator.ts';
import type { KeyGroupRange } from '../state/key-groups.ts';

/**
 * An operator's state as a harness snapshotted it: the bytes a checkpoint's state file would
 * hold for this subtask, and where they came from. Restore it with the `restore` option of
 * {@link createOperatorHarness}.
 */
export interface OperatorHarnessSnapshot {
  /** The operator whose state this is; a restore finds state by operator id, as a job does. */
  readonly operatorId: string;
  readonly maxParallelism: number;
  readonly parallelism: number;
  readonly subtaskIndex: number;
  /** The snapshot in the encoding of checkpoint state files. */
  readonly bytes: Uint8Array;
}

/** Who is being restored: one subtask of an operator, at a parallelism. */
export interface RestoreTarget {
  readonly operatorId: string;
  readonly maxParallelism: number;
  readonly parallelism: number;
  readonly subtaskIndex: number;
  readonly keyGroups: KeyGroupRange;
}

export function encodeHarnessSnapshot(
  source: Omit<OperatorHarnessSnapshot, 'bytes'>,
  state: OperatorStateSnapshot | undefined,
): OperatorHarnessSnapshot {
  // Encoded at once, as a task encodes its snapshot: later processing cannot change it, and
  // state that a checkpoint could not store fails here.
  const bytes = encodeTaskSnapshot(state === undefined ? {} : { [source.operatorId]: state });
  return { ...source, bytes };
}

/**
 * What `target` gets of the snapshots of an operator's old subtasks, dealt as a restore from a
 * checkpoint deals them (`restoredStateFor`): the key groups of its range, its round-robin share
 * of list state. Undefined when none of them holds state (the runtime then restores nothing).
 */
export function restoreFromSnapshots(
  snapshots: readonly OperatorHarnessSnapshot[],
  target: RestoreTarget,
): RestoredOperatorState | undefined {
  const stored: StoredSubtask[] = [];
  const seen = new Set<number>();
  for (const snapshot of snapshots) {
    if (snapshot === null || typeof snapshot !== 'object' || !(snapshot.bytes instanceof Uint8Array)) {
      throw new ConfigError('restore: expected snapshots taken with harness.snapshot()');
    }
    if (snapshot.operatorId !== target.operatorId) {
      throw new ConfigError(
        `restore: a snapshot of operator '${snapshot.operatorId}' cannot restore operator '${target.operatorId}'; state is found by operator id, so give both the same uid(...)`,
      );
    }
    if (snapshot.maxParallelism !== target.maxParallelism) {
      throw new ConfigError(
        `restore: the snapshot was taken with maxParallelism ${snapshot.maxParallelism} and this harness has ${target.maxParallelism}; a restore needs the same number of key groups`,
      );
    }
    if (seen.has(snapshot.subtaskIndex)) {
      throw new ConfigError(
        `restore: two snapshots of subtask ${snapshot.subtaskIndex}; pass one snapshot per old subtask`,
      );
    }
    seen.add(snapshot.subtaskIndex);
    const state = decodeTaskSnapshot(snapshot.bytes)[target.operatorId];
    if (state !== undefined) stored.push({ subtaskIndex: snapshot.subtaskIndex, state });
  }
  if (stored.length === 0) return undefined;
  stored.sort((a, b) => a.subtaskIndex - b.subtaskIndex);
  return restoredStateFor(stored, target.subtaskIndex, target.parallelism, target.keyGroups);
}
