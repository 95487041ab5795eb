/**
 * The control messages between the job manager and its task managers, over one authenticated
 * control connection per task manager (`channels/tcp/control-connection.ts`: length-prefixed
 * msgpack, heartbeats). Never per record: a slot's own messages (sink batches, checkpoint acks,
 * log lines) travel inside `slot-message`, batched as they are between threads.
 *
 * Every message about an attempt names it: a task manager may still be tearing down attempt n
 * when the job manager deploys n+1, and late messages of an old attempt are ignored.
 */

import type { LogLevel } from '../../contracts/logger.ts';
import type { SerializedError } from '../../errors.ts';
import type { ExecutionConfig } from '../execution-config.ts';
import type {
  CoordinatorMessage,
  DataAddress,
  SlotMessage,
  SlotResult,
  StateBackendAssignment,
} from '../messages.ts';

/** The first message of a task manager on its control connection (a request: the answer is `RegisterReply`). */
export interface RegisterRequest {
  readonly slots: number;
  /** The host other task managers dial for its data ports. */
  readonly dataHost: string;
  readonly pid: number;
}

export interface RegisterReply {
  readonly jobName: string;
}

/** Job manager → task manager: run these slots of attempt `attempt`. */
export interface DeployMessage {
  readonly attempt: number;
  readonly jobUrl: string;
  readonly args: unknown;
  readonly parallelism: number;
  readonly maxParallelism: number | undefined;
  readonly chaining: boolean;
  readonly localAggregation: boolean;
  readonly config: ExecutionConfig;
  readonly fingerprint: string;
  /** The slots this task manager runs. */
  readonly slots: readonly number[];
  /** The task manager of every slot of the attempt. */
  readonly processOfSlot: readonly string[];
  readonly checkpointDirectory: string | undefined;
  readonly restoreFrom: string | undefined;
  readonly stateBackend: StateBackendAssignment;
  readonly logLevel: LogLevel;
  readonly taskHeartbeatTimeoutMs: number;
}

export interface PeersMessage {
  readonly attempt: number;
  readonly addresses: readonly DataAddress[];
}

export interface TriggerCheckpointMessage {
  readonly attempt: number;
  readonly checkpointId: number;
}

export interface ToSlotMessage {
  readonly attempt: number;
  readonly slotIndex: number;
  readonly message: CoordinatorMessage;
}

export interface AttemptMessage {
  readonly attempt: number;
}

export interface TerminateSlotMessage {
  readonly attempt: number;
  readonly slotIndex: number;
}

export interface JobEndedMessage {
  readonly status: 'finished' | 'failed' | 'cancelled';
}

/** Task manager → job manager: what one of its slots sent. */
export interface SlotEnvelope {
  readonly attempt: number;
  readonly slotIndex: number;
  readonly message: SlotMessage;
}

/** Task manager → job manager: a slot's thread has returned (`result`), or died (`error`). */
export interface SlotEndedMessage {
  readonly attempt: number;
  readonly slotIndex: number;
  readonly result: SlotResult | undefined;
  readonly error: SerializedError | undefined;
}

/** Task manager → job manager: the task manager's copy of the attempt's counters (its slots' blocks are current). */
export interface MetricsMessage {
  readonly attempt: number;
  readonly cells: Uint8Array;
}

/** The message types, by direction. */
export const TO_TASK_MANAGER = {
  deploy: 'deploy',
  peers: 'peers',
  trigger: 'trigger-checkpoint',
  toSlot: 'to-slot',
  cancel: 'cancel',
  terminateSlot: 'terminate-slot',
  jobEnded: 'job-ended',
} as const;

export const TO_JOB_MANAGER = {
  register: 'register',
  slotMessage: 'slot-message',
  slotEnded: 'slot-ended',
  metrics: 'metrics',
} as const;
