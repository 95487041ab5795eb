/**
 * What it takes to run the operator in a namespace: a ServiceAccount, a Role granting exactly the
 * calls the operator makes (reconcile.ts, operator.ts, leader-election.ts) and nothing more, a
 * RoleBinding, and a Deployment of replicas that elect a leader among themselves. The CRD is
 * cluster-wide and installed separately (`sluice-k8s crd`), by someone allowed to.
 */
import type {
  KubernetesObject,
  V1Deployment,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { K8sConfigError } from '../errors.ts';
import { containerSecurityContext, podSecurityContext } from './pod-security.ts';

export const OPERATOR_NAME = 'sluice-operator';

/** How the image starts the operator: the built CLI of `@sluice/k8s` under /app. */
export const OPERATOR_COMMAND = [
  'node',
  '/app/node_modules/@sluice/k8s/dist/cli/bin.js',
  'operator',
] as const;

export interface OperatorManifestOptions {
  readonly namespace: string;
  /** An image holding Node and `@sluice/k8s` (the job's image does, if its project depends on it). */
  readonly image: string;
  /** Replicas; one leads, the others wait to take over (default 2). */
  readonly replicas?: number;
}

/** Every verb the operator uses, per resource. */
export function operatorRules(): V1PolicyRule[] {
  return [
    { apiGroups: ['sluice.dev'], resources: ['sluicejobs'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['sluice.dev'], resources: ['sluicejobs/status'], verbs: ['update'] },
    // Owner references with blockOwnerDeletion need this where the OwnerReferencesPermissionEnforcement
    // admission plugin is on.
    { apiGroups: ['sluice.dev'], resources: ['sluicejobs/finalizers'], verbs: ['update'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'delete'] },
    {
      apiGroups: [''],
      resources: ['services', 'configmaps', 'serviceaccounts'],
      verbs: ['get', 'create', 'patch'],
    },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create'] },
    { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
    { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['get', 'create', 'patch'] },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'create', 'patch'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  ];
}

export function operatorManifests(options: OperatorManifestOptions): KubernetesObject[] {
  const { namespace, image } = options;
  const replicas = options.replicas ?? 2;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 10) {
    throw new K8sConfigError(`operator manifests: replicas must be an integer from 1 to 10, got ${replicas}`);
  }
  if (image.trim() === '') throw new K8sConfigError('operator manifests: image must be a non-empty string');
  const labels = { 'app.kubernetes.io/name': OPERATOR_NAME, 'app.kubernetes.io/component': 'operator' };
  const metadata = { name: OPERATOR_NAME, namespace, labels };
  const account: V1ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata };
  const role: V1Role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata,
    rules: operatorRules(),
  };
  const binding: V1RoleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OPERATOR_NAME },
    subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace }],
  };
  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: OPERATOR_NAME,
          securityContext: podSecurityContext(),
          // The operator releases its Lease on SIGTERM; a few seconds are plenty.
          terminationGracePeriodSeconds: 15,
          containers: [
            {
              name: 'operator',
              image,
              command: [...OPERATOR_COMMAND],
              args: ['--namespace', '$(POD_NAMESPACE)', '--identity', '$(POD_NAME)'],
              env: [
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              ],
              resources: {
                requests: { cpu: '50m', memory: '128Mi' },
                limits: { cpu: '500m', memory: '256Mi' },
              },
              securityContext: containerSecurityContext(),
            },
          ],
        },
      },
    },
  };
  return [account, role, binding, deployment];
}
