/**
 * Names and labels of a job's objects, in one place: the renderer, the operator, the
 * NetworkPolicies' selectors and the tests all find pods by these, so they cannot drift apart.
 */
import type { ResolvedJob } from '../job-spec.ts';

export type Component = 'jobmanager' | 'taskmanager';

/** Who manages the objects: `sluice-k8s render` output applied by hand, or the operator. */
export type ManagedBy = 'sluice-k8s' | 'sluice-operator';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  /** The slot a task-manager pod runs, `0` to `parallelism - 1` (operator-made pods). */
  slot: 'sluice.dev/slot',
} as const;

export const names = {
  serviceAccount: (job: ResolvedJob) => job.name,
  role: (job: ResolvedJob) => `${job.name}-pods`,
  configMap: (job: ResolvedJob) => `${job.name}-config`,
  jobManager: (job: ResolvedJob) => `${job.name}-jobmanager`,
  taskManagers: (job: ResolvedJob) => `${job.name}-taskmanager`,
  taskManagerPod: (job: ResolvedJob, slot: number) => `${job.name}-taskmanager-${slot}`,
  disruptionBudget: (job: ResolvedJob) => `${job.name}-taskmanager`,
  networkPolicy: (job: ResolvedJob, component: Component) => `${job.name}-${component}`,
  /** The operator's Secret holding the bearer token of the job manager's REST API. */
  restToken: (job: ResolvedJob) => `${job.name}-rest-token`,
} as const;

/** The labels that select a job's pods of one component (selectors must never change). */
export function selectorLabels(job: ResolvedJob, component: Component): Record<string, string> {
  return { [LABELS.name]: 'sluice', [LABELS.instance]: job.name, [LABELS.component]: component };
}

/** Every object's labels: the selector labels plus who manages it. */
export function objectLabels(
  job: ResolvedJob,
  managedBy: ManagedBy,
  component?: Component,
): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.name]: 'sluice',
    [LABELS.instance]: job.name,
    [LABELS.managedBy]: managedBy,
  };
  if (component !== undefined) labels[LABELS.component] = component;
  return labels;
}
