/**
 * A ReadWriteMany volume bound to a checkpoint claim, as an NFS or CephFS provisioner would make
 * it: the testbed has no provisioner, and a pod mounting an unbound claim is never scheduled.
 * The PersistentVolume (cluster-wide) is named after the namespace, so tests do not collide.
 */
import type { KubeRest } from '../kube/rest.ts';

/**
 * Makes the volume, and the claim too unless `makeClaim` is false (when the claim comes from
 * rendered manifests: storage class `sluice-test`, at most 1Gi).
 */
export async function createCheckpointVolume(
  rest: KubeRest,
  namespace: string,
  claim: string,
  makeClaim = true,
): Promise<() => Promise<void>> {
  const volume = `${namespace}-${claim}`;
  await rest.call('POST', '/api/v1/persistentvolumes', {
    body: {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: volume },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteMany'],
        storageClassName: 'sluice-test',
        hostPath: { path: `/tmp/${volume}` },
        claimRef: { namespace, name: claim },
      },
    },
  });
  if (makeClaim)
    await rest.call('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
      body: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: claim },
        spec: {
          accessModes: ['ReadWriteMany'],
          storageClassName: 'sluice-test',
          volumeName: volume,
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
  return async () => {
    await rest.send('DELETE', `/api/v1/persistentvolumes/${volume}`);
  };
}
