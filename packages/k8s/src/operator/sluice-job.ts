/** The SluiceJob object as the operator reads and writes it. */
import type { SluiceJobSpec } from '../job-spec.ts';

export type SluiceJobPhase = 'Pending' | 'Deploying' | 'Running' | 'Suspending' | 'Suspended' | 'Failed';

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
