import type { StateFileHandle } from '../checkpoint/metadata.ts';
import type { CheckpointAck, CheckpointDecline } from '../checkpoint/protocol.ts';
import { loadCheckpoint, writeStateFile } from '../checkpoint/storage.ts';
import { SluiceError } from '../errors.ts';
import {
  admitRecord,
  decodeValue,
  encodeValue,
  RecordNotSerializableError,
} from '../records/record-codec.ts';
import { describeKey } from '../state/errors.ts';
import type { KeyGroupRange } from '../state/key-groups.ts';
import type { KeyGroupState, OperatorStateSnapshot, RestoredOperatorState } from './operator.ts';
import type { SlotControl } from './slot-control.ts';
import type { CheckpointHooks, Task, TaskSnapshot } from './task.ts';

/*
 * The slot's side of checkpoints (Flink's SubtaskCheckpointCoordinator): writing each task's
 * snapshot and acknowledging it, and reading a checkpoint back for a restore. Both ends of the
 * state file format (msgpack of a TaskSnapshot) are in this file.
 */

/**
 * A task's snapshot as its state file holds it (what a restore decodes with {@link decodeTaskSnapshot}):
 * one self-contained message (a file must read back on its own) under the record contract, so
 * state restores with the types it was put in with (`docs/records.md`).
 * @throws {CheckpointStateError} for state that holds what no record may (a function...), naming
 *   the operator, the state, the key and the field.
 */
export function encodeTaskSnapshot(snapshot: TaskSnapshot): Uint8Array {
  try {
    return encodeValue(snapshot, 'checkpoint state');
  } catch (error) {
    if (error instanceof RecordNotSerializableError) refuseStateEntry(snapshot);
    throw error;
  }
}

/** Names the operator, state and key of the entry a refused snapshot holds, then the field. */
function refuseStateEntry(snapshot: TaskSnapshot): void {
  for (const [operatorId, state] of Object.entries(snapshot)) {
    try {
      for (const group of state.keyGroups ?? []) {
        for (const [stateName, key, namespace, value] of group.entries) {
          const where = namespace === '' ? '' : ` in namespace ${JSON.stringify(namespace)}`;
          admitRecord(value, `state '${stateName}' of key ${describeKey(key)}${where}: value`);
        }
      }
      state.operatorState?.forEach((item, i) => {
        admitRecord(item, `operator state item ${i}: value`);
      });
    } catch (cause) {
      if (!(cause instanceof RecordNotSerializableError)) throw cause;
      throw new CheckpointStateError(operatorId, cause);
    }
  }
}

/** An operator's state holds what no record may, so it cannot be checkpointed (`docs/records.md`). */
export class CheckpointStateError extends SluiceError {
  /** The operator whose state it is. */
  readonly operatorId: string;

  constructor(operatorId: string, cause: RecordNotSerializableError) {
    super(
      'SLUICE_STATE_NOT_SERIALIZABLE',
      `cannot checkpoint the state of operator '${operatorId}': ${cause.message}`,
      {
        cause,
      },
    );
    this.operatorId = operatorId;
  }
}

/** @throws {CheckpointFormatError} for a file written by 0.1.0, before the record contract. */
export function decodeTaskSnapshot(bytes: Uint8Array, file = 'a state file'): TaskSnapshot {
  const snapshot = decodeValue(bytes);
  // 0.1.0 wrote plain msgpack maps, which this codec reads as Maps: its state would be lost.
  if (snapshot instanceof Map) throw new CheckpointFormatError(file);
  return snapshot as TaskSnapshot;
}

/** A state file this version cannot read: restoring it would lose its state, so it is refused. */
export class CheckpointFormatError extends SluiceError {
  constructor(file: string) {
    super(
      'SLUICE_CHECKPOINT_FORMAT',
      `${file} was written by @sluice/core 0.1.0, whose state files this version cannot read ` +
        `(state is now kept under the record contract, docs/records.md): start the job without ` +
        `restoring, or restore with 0.1.0`,
    );
  }
}

export function checkpointFolder(directory: string, checkpointId: number): string {
  return `${directory}/chk-${checkpointId}`;
}

/** Finds an operator's restored state for a subtask: its key groups and its share of list state. */
export type StateLookup = ((
  operatorId: string,
  subtaskIndex: number,
  parallelism: number,
  keyGroups: KeyGroupRange,
) => RestoredOperatorState | undefined) & {
  /** The id of the checkpoint (or of the checkpoint a savepoint was taken as) being restored. */
  readonly checkpointId: number;
};

/**
 * A slot's checkpoint hooks: sources read the requested checkpoint id from the slot control;
 * every task encodes its snapshot at once (so later processing cannot change it), writes it to
 * the checkpoint folder while processing goes on, then acknowledges it to the coordinator.
 */
export function slotCheckpointHooks(options: {
  readonly directory: string;
  readonly control: SlotControl;
  readonly post: (message: CheckpointAck | CheckpointDecline) => void;
  readonly describe: (task: Task) => {
    fileStem: string;
    keyGroups: KeyGroupRange | undefined;
  };
}): CheckpointHooks {
  return {
    requested: () => options.control.requestedCheckpoint,
    persist(task: Task, checkpointId: number, snapshot: TaskSnapshot, alignmentMs: number) {
      const bytes = encodeTaskSnapshot(snapshot);
      const { fileStem, keyGroups } = options.describe(task);
      // Only operators that hold state are listed: a restore can then tell state nobody claims.
      const operatorIds = Object.keys(snapshot);
      const listStateOperatorIds = operatorIds.filter((id) => snapshot[id]!.operatorState !== undefined);
      const subtaskIndex = task.options.subtaskIndex;
      writeStateFile(
        checkpointFolder(options.directory, checkpointId),
        `${fileStem}-${subtaskIndex}.state`,
        bytes,
      ).then(
        (file: StateFileHandle) =>
          options.post({
            type: 'ack',
            checkpointId,
            vertex: task.options.vertex,
            subtaskIndex,
            parallelism: task.options.parallelism,
            operatorIds,
            listStateOperatorIds,
            keyGroupStart: keyGroups?.start ?? 0,
            keyGroupEnd: keyGroups?.end ?? -1,
            file,
            alignmentMs,
          }),
        (error: unknown) =>
          options.post({
            type: 'decline',
            checkpointId,
            vertex: task.options.vertex,
            subtaskIndex,
            reason: (error as Error)?.message ?? String(error),
          }),
      );
    },
  };
}

/** One old subtask's part of an operator's state, as a checkpoint stored it. */
export interface StoredSubtask {
  readonly subtaskIndex: number;
  readonly state: OperatorStateSnapshot;
}

/**
 * The state one new subtask gets of an operator's stored subtasks (in old subtask order): the
 * key groups of its range, whoever held them before, and its round-robin share of list state.
 */
export function restoredStateFor(
  stored: readonly StoredSubtask[],
  subtaskIndex: number,
  parallelism: number,
  keyGroups: KeyGroupRange,
): RestoredOperatorState {
  const groups: KeyGroupState[] = [];
  const list: unknown[] = [];
  for (const { state } of stored) {
    for (const group of state.keyGroups ?? []) if (keyGroups.contains(group.keyGroup)) groups.push(group);
    if (state.operatorState !== undefined) list.push(...state.operatorState);
  }
  return {
    keyGroups: groups,
    operatorState: list.filter((_, index) => index % parallelism === subtaskIndex),
    operatorStateOfAll: list,
  };
}

/**
 * Reads a checkpoint (or savepoint) folder, verifying every file, and answers which state each
 * new subtask gets: the key groups of its range, whoever held them before, and its round-robin
 * share of list state (a source's splits). This is how a job restored at another parallelism
 * moves whole key groups and never splits a key.
 */
export async function loadStateLookup(
  folder: string,
  wanted?: (operatorId: string, keyGroupStart: number, keyGroupEnd: number) => boolean,
): Promise<StateLookup> {
  const checkpoint = await loadCheckpoint(folder);
  const byOperator = new Map<string, StoredSubtask[]>();
  const decoded = new Map<string, TaskSnapshot>();
  const listState = new Set((checkpoint.metadata.extra?.listStateOperators as string[] | undefined) ?? []);
  for (const [operatorId, operator] of Object.entries(checkpoint.metadata.operators)) {
    const subtasks: StoredSubtask[] = [];
    for (const subtask of operator.subtasks) {
      // Keyed state only: a slot decodes just the files whose key groups it will own. List state
      // is dealt round-robin over all of an operator's items, so those files are always read.
      const needed =
        listState.has(operatorId) ||
        wanted === undefined ||
        wanted(operatorId, subtask.keyGroupStart, subtask.keyGroupEnd);
      if (!needed) continue;
      for (const file of subtask.files) {
        let snapshot = decoded.get(file.file);
        if (snapshot === undefined) {
          snapshot = decodeTaskSnapshot(await checkpoint.readFile(file), `${folder}/${file.file}`);
          decoded.set(file.file, snapshot);
        }
        const state = snapshot[operatorId];
        if (state !== undefined) subtasks.push({ subtaskIndex: subtask.subtaskIndex, state });
      }
    }
    subtasks.sort((a, b) => a.subtaskIndex - b.subtaskIndex);
    byOperator.set(operatorId, subtasks);
  }
  const lookup = (
    operatorId: string,
    subtaskIndex: number,
    parallelism: number,
    keyGroups: KeyGroupRange,
  ): RestoredOperatorState | undefined => {
    const stored = byOperator.get(operatorId);
    return stored === undefined ? undefined : restoredStateFor(stored, subtaskIndex, parallelism, keyGroups);
  };
  return Object.assign(lookup, { checkpointId: checkpoint.metadata.checkpointId });
}
