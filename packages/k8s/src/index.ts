/**
 * `@sluice/k8s`: a Sluice job on Kubernetes, one pod per task slot.
 *
 * - {@link render} and {@link toYaml}: every manifest a job needs (`sluice-k8s render`).
 * - {@link sluiceJobCrd}: the SluiceJob custom resource definition.
 * - {@link SluiceJobOperator}: the controller that reconciles SluiceJobs into pods.
 *
 * @packageDocumentation
 */

export { installSluiceJobCrd } from './crd/install.ts';
export { SLUICE_JOB, sluiceJobCrd } from './crd/sluice-job-crd.ts';
export {
  JobManagerApiError,
  K8sConfigError,
  K8sError,
  KubernetesApiError,
  SluiceJobSpecError,
} from './errors.ts';
export {
  type ContainerResources,
  DEFAULT_RESOURCES,
  PARALLELISM_MAX,
  PORTS,
  type ResolvedJob,
  resolveJob,
  type SluiceJobSpec,
  UPGRADE_MODES,
  type UpgradeMode,
} from './job-spec.ts';
export { KubeRest, type Query, type RestAnswer } from './kube/rest.ts';
export type { CheckpointStorage } from './manifests/config.ts';
export type { HostNetworkOptions } from './manifests/host-network.ts';
export { type Component, LABELS, type ManagedBy } from './manifests/names.ts';
export {
  OPERATOR_COMMAND,
  OPERATOR_NAME,
  type OperatorManifestOptions,
  operatorManifests,
  operatorRules,
} from './manifests/operator.ts';
export { SLUICE_UID } from './manifests/pod-security.ts';
export { SLUICE_COMMAND } from './manifests/pods.ts';
export {
  defaultJobManagerUrl,
  HttpJobManagerClient,
  type JobManagerCheckpoint,
  type JobManagerClient,
  type JobManagerJob,
  type JobManagerSavepoint,
} from './operator/jobmanager-client.ts';
export { LeaseElector, type LeaseElectorOptions } from './operator/leader-election.ts';
export { type OperatorLog, SluiceJobOperator, type SluiceJobOperatorOptions } from './operator/operator.ts';
export type {
  CheckpointInfo,
  Condition,
  DeployedSpec,
  JobStart,
  SavepointInfo,
  SavepointProgress,
  SluiceJob,
  SluiceJobPhase,
  SluiceJobStatus,
  UpgradeProgress,
} from './operator/sluice-job.ts';
export { CLUSTER_SECRET_BYTES_MIN, type RenderOptions, render, toYaml } from './render.ts';
