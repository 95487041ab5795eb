import type { MessagePort } from 'node:worker_threads';
import type { TlsClientFiles, TlsServerFiles } from '../channels/tcp/endpoint.ts';
import type { CheckpointAck, CheckpointDecline } from '../checkpoint/protocol.ts';
import type { LogLevel } from '../contracts/logger.ts';
import type { SerializedError } from '../errors.ts';
import type { DriverBindings, DriverInput } from './driver-bindings.ts';
import type { ExecutionConfig } from './execution-config.ts';
import type { LogMessage } from './logging/worker-logger.ts';
import type { ProgressMessage } from './progress.ts';

/** What a slot is given when it starts (all structured-cloneable; SharedArrayBuffers are shared). */
export interface SlotAssignment {
  readonly jobUrl: string;
  readonly args: unknown;
  readonly parallelism: number;
  readonly maxParallelism: number | undefined;
  readonly chaining: boolean;
  readonly localAggregation: boolean;
  readonly config: ExecutionConfig;
  readonly fingerprint: string;
  readonly slotIndex: number;
  readonly rings: readonly SharedArrayBuffer[];
  readonly doorbells: readonly SharedArrayBuffer[];
  readonly control: SharedArrayBuffer;
  /** The attempt's live counters (`metrics/metrics-layout.ts`): each slot writes its subtasks' blocks. */
  readonly metrics: Float64Array;
  readonly port: MessagePort;
  /** The checkpoint directory, when the job takes checkpoints. */
  readonly checkpointDirectory: string | undefined;
  /** A checkpoint or savepoint folder to resume from. */
  readonly restoreFrom: string | undefined;
  /** Where keyed state lives while the job runs. */
  readonly stateBackend: StateBackendAssignment;
  /** With the LevelDB backend: this slot's connection to the LevelDB host thread. */
  readonly levelStorePort: MessagePort | undefined;
  /** Under the test driver: the simulated clock's shared time (see `time/clock.ts`). */
  readonly simulatedClock: SharedArrayBuffer | undefined;
  /** Under the test driver: the sources it feeds and the sinks it reads. */
  readonly driverBindings: DriverBindings | undefined;
  /** The job logger's level: lines below it are dropped in the slot, never sent. */
  readonly logLevel: LogLevel;
  /** When the job spans processes (a task manager's slot): how this slot reaches the others. */
  readonly cluster?: SlotClusterAssignment | undefined;
}

/**
 * What a slot of a task manager needs to reach the slots of other task managers: in a task manager
 * of several slots, a stream to each one it shares a channel with, over its task manager's one
 * connection to theirs (`cluster/task-manager-data-plane.ts`); in a task manager of one slot, the
 * data port to serve itself (`cluster/direct-slot-data-plane.ts`).
 */
export interface SlotClusterAssignment {
  /** The task manager of each slot of the attempt, by slot index. */
  readonly processOfSlot: readonly string[];
  /** Each slot's data-plane id (unique per attempt), by slot index. */
  readonly peerOfSlot: readonly string[];
  /** One stream per slot of another task manager this slot shares a channel with (the ports are transferred); none when `direct`. */
  readonly streams: readonly SlotStreamAssignment[];
  /** The task manager has this one slot: the slot serves the data port itself, no relay. */
  readonly direct?: DirectDataPortAssignment | undefined;
}

/** The data port a one-slot task manager's slot listens on for its attempt, and how it proves itself. */
export interface DirectDataPortAssignment {
  /** The task manager's id, as registered (the slot's data connections speak for it). */
  readonly taskManagerId: string;
  readonly attempt: number;
  readonly secret: Uint8Array;
  /** The listen address. */
  readonly bindHost: string;
  /** The address peers dial (the pod's address when listening on 0.0.0.0). */
  readonly advertiseHost: string;
  /** The task manager's data port (0: any free port). */
  readonly port: number;
  /** TLS on the data connections (both ends: every task manager has a certificate). */
  readonly tls?: { readonly server: TlsServerFiles; readonly client: TlsClientFiles } | undefined;
}

/** A slot's stream to one peer slot: the port to its task manager's main thread (`channels/tcp/port-stream.ts`). */
export interface SlotStreamAssignment {
  readonly peerSlot: number;
  readonly port: MessagePort;
}

export type StateBackendAssignment =
  | { readonly kind: 'heap' }
  /** `directory` belongs to this attempt; each keyed subtask opens its own database below it. */
  | { readonly kind: 'leveldb'; readonly directory: string; readonly cacheMaxKeys: number | undefined };

/** Messages the coordinator sends to a slot. */
export type CoordinatorMessage =
  | { readonly type: 'checkpoint-complete'; readonly checkpointId: number }
  | DriverInput
  /** The test driver's step `epoch` has been sent: idle reports after it carry it. */
  | { readonly type: 'driver-epoch'; readonly epoch: number }
  /** Across processes, to the slot of a one-slot task manager: every slot's data address, once all have reported theirs. */
  | { readonly type: 'peers'; readonly addresses: readonly DataAddress[] };

/** Where a slot of a task manager takes data connections: its task manager's one data port. */
export interface DataAddress {
  readonly slotIndex: number;
  readonly host: string;
  readonly port: number;
}

/** Messages a slot sends to the coordinator over its port (batched, never per record). */
export type SlotMessage =
  /** Sink data for the coordinator; a `commitKey` seen before is dropped (idempotent commits). */
  | {
      readonly type: 'data';
      readonly channel: string;
      /** The sink's records, encoded by the record codec (`encodeRecords`), so that they arrive exactly. */
      readonly payload: Uint8Array;
      readonly commitKey: string | undefined;
      /** Taken only if the attempt finishes (end-of-input leftovers of exactly-once sinks). */
      readonly onSuccess: boolean;
    }
  | CheckpointAck
  | CheckpointDecline
  /** Across processes: where the slot's task manager takes data connections (sent by the task manager for each of its slots; the job manager tells every task manager). */
  | ({ readonly type: 'data-address' } & DataAddress)
  /** A line a user function or the runtime logged in the slot (see `logging/worker-logger.ts`). */
  | LogMessage
  /** The sources' progress in this slot, sampled periodically (see `progress.ts`). */
  | ProgressMessage
  | { readonly type: 'task-finished'; readonly vertex: number; readonly subtaskIndex: number }
  /**
   * Under the test driver: the slot has nothing to do at the current simulated time, as of
   * driver step `epoch`, with its doorbell at `doorbellSequence` (any ring since means new work).
   */
  | {
      readonly type: 'idle';
      readonly slotIndex: number;
      readonly epoch: number;
      readonly doorbellSequence: number;
    }
  | {
      readonly type: 'failed';
      readonly error: SerializedError;
      readonly operatorId: string | undefined;
      readonly operatorName: string | undefined;
      readonly subtaskIndex: number | undefined;
      readonly parallelism: number | undefined;
      readonly record: string | undefined;
      /** See `FailureLocation` (errors.ts). */
      readonly userFunction?: string | undefined;
      readonly ranIn?: string | undefined;
    };

export interface SlotResult {
  readonly slotIndex: number;
  readonly status: 'finished' | 'cancelled' | 'failed';
}
