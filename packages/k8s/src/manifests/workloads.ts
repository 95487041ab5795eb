/**
 * The job manager's Deployment and Service, and the task managers: a Deployment of one-slot
 * pods for rendered manifests, or single pods, one per slot, for the operator (which replaces
 * them itself and so knows each slot by name).
 */
import type { V1Deployment, V1ObjectMeta, V1Pod, V1Service } from '@kubernetes/client-node';
import { PORTS, type ResolvedJob } from '../job-spec.ts';
import { LABELS, type ManagedBy, names, objectLabels, selectorLabels } from './names.ts';
import { jobManagerPodSpec, taskManagerPodSpec } from './pods.ts';

function meta(job: ResolvedJob, name: string, labels: Record<string, string>): V1ObjectMeta {
  return { name, namespace: job.namespace, labels };
}

export function jobManagerDeployment(job: ResolvedJob, managedBy: ManagedBy): V1Deployment {
  const labels = objectLabels(job, managedBy, 'jobmanager');
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(job, names.jobManager(job), labels),
    spec: {
      // Suspended: zero replicas, so the job manager gets SIGTERM and takes its savepoint.
      replicas: job.suspended ? 0 : 1,
      // Never two job managers over one checkpoint directory: the old one stops (taking its
      // savepoint) before the new one starts.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selectorLabels(job, 'jobmanager') },
      template: { metadata: { labels }, spec: jobManagerPodSpec(job) },
    },
  };
}

export function jobManagerService(job: ResolvedJob, managedBy: ManagedBy): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(job, names.jobManager(job), objectLabels(job, managedBy, 'jobmanager')),
    spec: {
      type: 'ClusterIP',
      // The job manager turns ready only once a job attempt runs, which needs the task managers
      // to have reached it through this Service: route to it before it is ready.
      publishNotReadyAddresses: true,
      selector: selectorLabels(job, 'jobmanager'),
      ports: [{ name: 'control', port: PORTS.control, targetPort: 'control', protocol: 'TCP' }],
    },
  };
}

/** For rendered manifests: `parallelism` one-slot pods, replaced by their ReplicaSet when they go. */
export function taskManagerDeployment(job: ResolvedJob, managedBy: ManagedBy): V1Deployment {
  const labels = objectLabels(job, managedBy, 'taskmanager');
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(job, names.taskManagers(job), labels),
    spec: {
      replicas: job.parallelism,
      // A new task manager only joins a job attempt the job manager starts; replacing them all at
      // once restarts the job once, not once per pod.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selectorLabels(job, 'taskmanager') },
      template: { metadata: { labels }, spec: taskManagerPodSpec(job) },
    },
  };
}

/** For the operator: the task-manager pod of one slot. */
export function taskManagerPod(job: ResolvedJob, slot: number, managedBy: ManagedBy): V1Pod {
  const labels = { ...objectLabels(job, managedBy, 'taskmanager'), [LABELS.slot]: String(slot) };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta(job, names.taskManagerPod(job, slot), labels),
    spec: { ...taskManagerPodSpec(job), restartPolicy: 'Always' },
  };
}
