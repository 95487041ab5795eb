/** The SluiceJob object as the operator reads and writes it. */
import type { SluiceJobSpec, UpgradeMode } from '../job-spec.ts';

export type SluiceJobPhase =
  | 'Pending'
  | 'Deploying'
  | 'Upgrading'
  | 'Running'
  | 'Suspending'
  | 'Suspended'
  /** The job ended on its own terms (finished, cancelled, stopped with a savepoint outside an upgrade). */
  | 'Finished'
  /** An invalid spec, or the job failed (its restarts used up). */
  | 'Failed';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface SluiceJobStatus {
  phase?: SluiceJobPhase;
  parallelism?: number;
  readyTaskManagers?: number;
  jobManagerReady?: boolean;
  taskManagerReplacements?: number;
  /** Hash of the task-manager pod template last rolled out to every slot. */
  taskManagerTemplate?: string;
  selector?: string;
  observedGeneration?: number;
  conditions?: Condition[];
  /**
   * The spec the running job was deployed with (the job's fields only: not `suspend`,
   * `upgradeMode` nor `savepointTriggerNonce`). A spec that differs is an upgrade to make.
   */
  deployedSpec?: DeployedSpec;
  /** Whether the deployed job is suspended (in savepoint mode, only once its savepoint is written). */
  deployedSuspended?: boolean;
  /** How the deployed job manager starts (the ConfigMap's SLUICE_RESTORE / SLUICE_FRESH). */
  start?: JobStart;
  /** An upgrade waiting for its savepoint, or one whose savepoint failed (savepoint mode). */
  upgrade?: UpgradeProgress;
  /** The savepoint asked for by the last `spec.savepointTriggerNonce` seen. */
  savepointRequest?: SavepointProgress;
  /** The newest savepoint the operator took (for an upgrade or on demand). */
  lastSavepoint?: SavepointInfo;
  /** The newest completed checkpoint, as the job manager's REST API last reported it. */
  lastCheckpoint?: CheckpointInfo;
  /** Restarts of the job since its job manager started (from its REST API). */
  restarts?: number;
}

export type DeployedSpec = Omit<SluiceJobSpec, 'suspend' | 'upgradeMode' | 'savepointTriggerNonce'>;

export interface JobStart {
  /** `initial`: the first deployment (resumes a checkpoint if the folder holds one). */
  mode: UpgradeMode | 'initial';
  /** The generation whose spec this start deployed. */
  generation: number;
  /** savepoint mode: the savepoint restored. */
  savepoint?: string;
  /**
   * False until the new run has completed a checkpoint: till then a restarted job manager
   * restores the savepoint again (or starts fresh again); after, it resumes its newest checkpoint.
   */
  settled: boolean;
  /** When the rollout began (RFC 3339). */
  rolledOutAt: string;
  /**
   * A job manager that started before this (ms since the epoch, the job manager's clock for a
   * savepoint: when it was asked for) is the old one: its checkpoints do not settle the start.
   */
  notBeforeMs: number;
}

export interface UpgradeProgress {
  /** The generation being deployed. */
  generation: number;
  /** `Savepointing`: the job manager is writing the savepoint; `Failed`: no rollout for this generation. */
  step: 'Savepointing' | 'Failed';
  /** The job manager's id of the savepoint request. */
  requestId?: number;
  /** When the operator asked for the savepoint (RFC 3339, its clock: the timeout counts from it). */
  requestedAt?: string;
  /** The job manager's time of the request (its clock): tells its request from a restarted one's. */
  requestedAtMs?: number;
  error?: string;
}

export interface SavepointProgress {
  nonce: number;
  state: 'InProgress' | 'Completed' | 'Failed';
  requestId?: number;
  requestedAt: string;
  requestedAtMs?: number;
  location?: string;
  error?: string;
}

export interface SavepointInfo {
  location: string;
  /** When it was asked for (RFC 3339, the job manager's clock). */
  time: string;
  /** Why: `upgrade` (savepoint mode) or `manual` (spec.savepointTriggerNonce). */
  trigger: 'upgrade' | 'manual';
  /** The nonce that asked for it (manual ones). */
  nonce?: number;
}

export interface CheckpointInfo {
  id: number;
  /** When it was triggered (RFC 3339, the job manager's clock). */
  triggeredAt: string;
  /** When it completed: triggered plus its duration (RFC 3339, the job manager's clock). */
  completedAt: string;
  durationMs: number;
  bytes?: number;
  /** Its folder on the checkpoint volume. */
  location: string;
}

export interface SluiceJob {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
  };
  spec: SluiceJobSpec;
  status?: SluiceJobStatus;
}
