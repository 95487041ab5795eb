/**
 * The job's identity: a ServiceAccount whose token is never mounted (neither process calls the
 * Kubernetes API), and a Role that grants it no more than reading the job's own ConfigMap, by
 * name — the least a namespace's tooling may rely on, and nothing that touches pods or secrets.
 */
import type { V1Role, V1RoleBinding, V1ServiceAccount } from '@kubernetes/client-node';
import type { ResolvedJob } from '../job-spec.ts';
import { type ManagedBy, names, objectLabels } from './names.ts';

function metadata(job: ResolvedJob, name: string, managedBy: ManagedBy) {
  return { name, namespace: job.namespace, labels: objectLabels(job, managedBy) };
}

export function serviceAccount(job: ResolvedJob, managedBy: ManagedBy): V1ServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: metadata(job, names.serviceAccount(job), managedBy),
    automountServiceAccountToken: false,
  };
}

export function role(job: ResolvedJob, managedBy: ManagedBy): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: metadata(job, names.role(job), managedBy),
    rules: [
      { apiGroups: [''], resources: ['configmaps'], resourceNames: [names.configMap(job)], verbs: ['get'] },
    ],
  };
}

export function roleBinding(job: ResolvedJob, managedBy: ManagedBy): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: metadata(job, names.role(job), managedBy),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.role(job) },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount(job), namespace: job.namespace }],
  };
}
