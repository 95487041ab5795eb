/**
 * The job's configuration and storage: the ConfigMap the containers read their environment
 * from, the Secret holding the cluster secret, and the ReadWriteMany claim for checkpoints.
 */
import type { V1ConfigMap, V1PersistentVolumeClaim, V1Secret } from '@kubernetes/client-node';
import type { ResolvedJob } from '../job-spec.ts';
import { type ManagedBy, names, objectLabels } from './names.ts';
import { CONFIG_KEYS, SECRET_KEY } from './pods.ts';

export function configMap(job: ResolvedJob, managedBy: ManagedBy): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: names.configMap(job), namespace: job.namespace, labels: objectLabels(job, managedBy) },
    data: {
      [CONFIG_KEYS.logLevel]: job.logLevel,
      // `--args` takes one JSON object; keys sorted so the same arguments render the same text.
      [CONFIG_KEYS.jobArgs]: JSON.stringify(
        Object.fromEntries(Object.entries(job.args).sort(([a], [b]) => (a < b ? -1 : 1))),
      ),
    },
  };
}

export function clusterSecret(job: ResolvedJob, secret: string, managedBy: ManagedBy): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: job.clusterSecret, namespace: job.namespace, labels: objectLabels(job, managedBy) },
    type: 'Opaque',
    data: { [SECRET_KEY]: Buffer.from(secret, 'utf8').toString('base64') },
  };
}

export interface CheckpointStorage {
  /** Requested size, a Kubernetes quantity (default `10Gi`). */
  readonly size?: string;
  /** A storage class able to provision ReadWriteMany volumes (NFS, CephFS, EFS...); the cluster default otherwise. */
  readonly storageClassName?: string;
}

export function checkpointClaim(
  job: ResolvedJob,
  storage: CheckpointStorage,
  managedBy: ManagedBy,
): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: job.checkpointClaim, namespace: job.namespace, labels: objectLabels(job, managedBy) },
    spec: {
      // Every pod writes its part of each checkpoint here, from whichever node it runs on.
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: storage.size ?? '10Gi' } },
      ...(storage.storageClassName === undefined ? {} : { storageClassName: storage.storageClassName }),
    },
  };
}
