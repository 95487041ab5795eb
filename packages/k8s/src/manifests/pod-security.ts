/**
 * Security contexts that pass the "restricted" Pod Security Standard
 * (https://kubernetes.io/docs/concepts/security/pod-security-standards/): a fixed non-root user,
 * no privilege escalation, every capability dropped, the runtime's default seccomp profile, and
 * a read-only root filesystem (the pods write only to their mounted volumes).
 */
import type { V1PodSecurityContext, V1SecurityContext } from '@kubernetes/client-node';

/** The uid and gid the image's files belong to and the processes run as. */
export const SLUICE_UID = 10001;

export function podSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: SLUICE_UID,
    runAsGroup: SLUICE_UID,
    // Volumes (the checkpoint claim, the secret) are made readable and writable by this group.
    fsGroup: SLUICE_UID,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function containerSecurityContext(): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
