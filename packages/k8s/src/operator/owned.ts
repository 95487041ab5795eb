/**
 * What the operator keeps for a SluiceJob: the objects `render` would make (same builders, so the
 * two paths cannot drift), marked as the operator's, owned by the SluiceJob (deleting it lets the
 * garbage collector remove them), and stamped with a hash of what was desired, so a change of
 * spec is seen by comparing one annotation instead of diffing fields the API server defaulted.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject, V1OwnerReference } from '@kubernetes/client-node';
import type { ResolvedJob } from '../job-spec.ts';
import { serviceAccount } from '../manifests/access.ts';
import { configMap } from '../manifests/config.ts';
import { networkPolicies, taskManagerDisruptionBudget } from '../manifests/policies.ts';
import { jobManagerDeployment, jobManagerService, taskManagerPod } from '../manifests/workloads.ts';
import type { SluiceJob } from './sluice-job.ts';

export const MANAGED_BY = 'sluice-operator';
export const SPEC_HASH = 'sluice.dev/spec-hash';

export function ownerReference(job: SluiceJob): V1OwnerReference {
  return {
    apiVersion: job.apiVersion,
    kind: job.kind,
    name: job.metadata.name,
    uid: job.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function specHash(object: unknown): string {
  return createHash('sha256').update(JSON.stringify(object)).digest('hex').slice(0, 16);
}

/** Owner reference and hash annotation on `object` (the hash covers the object before both). */
export function owned<T extends KubernetesObject>(job: SluiceJob, object: T): T {
  const hash = specHash(object);
  const metadata = object.metadata ?? {};
  return {
    ...object,
    metadata: {
      ...metadata,
      annotations: { ...metadata.annotations, [SPEC_HASH]: hash },
      ownerReferences: [ownerReference(job)],
    },
  };
}

/** The objects kept as desired, created when missing and replaced when their hash changes. */
export function desiredObjects(job: SluiceJob, resolved: ResolvedJob): KubernetesObject[] {
  return [
    serviceAccount(resolved, MANAGED_BY),
    configMap(resolved, MANAGED_BY),
    jobManagerService(resolved, MANAGED_BY),
    jobManagerDeployment(resolved, MANAGED_BY),
    // Counted against the SluiceJob's scale subresource (its parallelism), like a Deployment's.
    taskManagerDisruptionBudget(resolved, MANAGED_BY),
    ...networkPolicies(resolved, MANAGED_BY),
  ].map((object) => owned(job, object));
}

export function desiredTaskManagerPod(job: SluiceJob, resolved: ResolvedJob, slot: number): KubernetesObject {
  return owned(job, taskManagerPod(resolved, slot, MANAGED_BY));
}
