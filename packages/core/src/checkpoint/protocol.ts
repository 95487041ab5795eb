import type { StateFileHandle } from './metadata.ts';

/*
 * The checkpoint protocol between the coordinator (`checkpoint-coordinator.ts`) and the tasks
 * (`runtime/checkpointing.ts`), whatever carries it. Today that is the attempt's `SlotControl`
 * (`runtime/slot-control.ts`: the requested checkpoint id in shared memory) and each slot's
 * MessagePort (`execution/attempt.ts`, `execution/control-plane.ts`, `execution/messages.ts`).
 *
 * 1. The coordinator triggers checkpoint n (`CheckpointTransport.trigger`): every source
 *    snapshots at its next turn and sends barrier n downstream.
 * 2. A task snapshots its chain once barrier n has arrived on all its inputs, writes one state
 *    file, and acknowledges it (`CheckpointAck`), or declines n (`CheckpointDecline`).
 * 3. With an ack from every task, the coordinator writes the metadata, last and atomically, then
 *    tells the tasks (`CheckpointTransport.notifyComplete`): two-phase-commit sinks commit.
 */

/** A task's part of checkpoint `checkpointId` is durable in `file`. */
export interface CheckpointAck {
  readonly type: 'ack';
  readonly checkpointId: number;
  readonly vertex: number;
  readonly subtaskIndex: number;
  readonly parallelism: number;
  readonly operatorIds: readonly string[];
  /** Those of `operatorIds` with list state (read by every subtask on restore). */
  readonly listStateOperatorIds: readonly string[];
  readonly keyGroupStart: number;
  readonly keyGroupEnd: number;
  readonly file: StateFileHandle;
  readonly alignmentMs: number;
}

/** A task could not take its part of checkpoint `checkpointId`; the checkpoint is abandoned. */
export interface CheckpointDecline {
  readonly type: 'decline';
  readonly checkpointId: number;
  readonly vertex: number;
  readonly subtaskIndex: number;
  readonly reason: string;
}

/** How the coordinator reaches the tasks. */
export interface CheckpointTransport {
  /** Asks every source to take checkpoint `checkpointId`. */
  trigger(checkpointId: number): void;
  /** Checkpoint `checkpointId` is durable: tasks may commit what they prepared for it. */
  notifyComplete(checkpointId: number): void;
}
