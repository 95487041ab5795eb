/**
 * What the operator keeps for a SluiceJob: the objects `render` would make (same builders, so the
 * two paths cannot drift), marked as the operator's, owned by the SluiceJob (deleting it lets the
 * garbage collector remove them), and stamped with a hash of what was desired, so a change of
 * spec is seen by comparing one annotation instead of diffing fields the API server defaulted.
 *
 * On top of what `render` makes, the operator's job manager serves its REST API on the `rest`
 * port (the operator takes savepoints, stops the job with one, and reads checkpoints through it;
 * only the operator's pods may reach it), and keeps serving it after its job has ended
 * (`--keep-serving-after-end`: the operator reads where the stop's savepoint went). It reads how
 * to start — restore a savepoint, start fresh, or resume its newest checkpoint — from the
 * ConfigMap (SLUICE_RESTORE, SLUICE_FRESH), which the operator changes once an upgraded run has
 * checkpointed without restarting the pod.
 */
import { createHash } from 'node:crypto';
import type {
  KubernetesObject,
  V1ConfigMap,
  V1Deployment,
  V1OwnerReference,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { PORTS, type ResolvedJob } from '../job-spec.ts';
import { serviceAccount } from '../manifests/access.ts';
import { configMap } from '../manifests/config.ts';
import { names, objectLabels } from '../manifests/names.ts';
import { OPERATOR_NAME } from '../manifests/operator.ts';
import { type NetworkPolicy, networkPolicies, taskManagerDisruptionBudget } from '../manifests/policies.ts';
import { jobManagerDeployment, jobManagerService, taskManagerPod } from '../manifests/workloads.ts';
import type { JobStart, SluiceJob } from './sluice-job.ts';

export const MANAGED_BY = 'sluice-operator';
export const SPEC_HASH = 'sluice.dev/spec-hash';
/** On the job manager's pod template: how it starts, for people (`savepoint <folder>`, ...). */
export const START_ANNOTATION = 'sluice.dev/start';
/** The ConfigMap keys the job manager's `sluice jobmanager` reads as --restore / --fresh. */
export const START_KEYS = { restore: 'SLUICE_RESTORE', fresh: 'SLUICE_FRESH' } as const;
export const REST_TOKEN_KEY = 'token';

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

/** What the ConfigMap tells a starting job manager, by the start in force. */
export function startSettings(start: JobStart): { restore: string; fresh: string } {
  if (start.settled) return { restore: '', fresh: '' };
  if (start.mode === 'savepoint' && start.savepoint !== undefined)
    return { restore: start.savepoint, fresh: '' };
  if (start.mode === 'stateless') return { restore: '', fresh: 'true' };
  // last-state and the first deployment: the newest checkpoint of the folder, if any.
  return { restore: '', fresh: '' };
}

function startDescription(start: JobStart): string {
  switch (start.mode) {
    case 'savepoint':
      return `savepoint ${start.savepoint ?? ''} (generation ${start.generation})`;
    case 'stateless':
      return `stateless (generation ${start.generation})`;
    case 'last-state':
      return `last-state (generation ${start.generation})`;
    default:
      return `initial (generation ${start.generation})`;
  }
}

function operatorConfigMap(resolved: ResolvedJob, start: JobStart): V1ConfigMap {
  const base = configMap(resolved, MANAGED_BY);
  const settings = startSettings(start);
  return {
    ...base,
    data: { ...base.data, [START_KEYS.restore]: settings.restore, [START_KEYS.fresh]: settings.fresh },
  };
}

/** The rendered job manager, plus its REST API, the start settings and the start annotation. */
export function operatorJobManagerDeployment(resolved: ResolvedJob, start: JobStart): V1Deployment {
  const base = jobManagerDeployment(resolved, MANAGED_BY);
  const template = base.spec!.template;
  const [main, ...others] = template.spec!.containers;
  const fromConfig = (key: string) => ({
    name: key,
    valueFrom: { configMapKeyRef: { name: names.configMap(resolved), key } },
  });
  const container = {
    ...main!,
    // On every interface, so the Service reaches it; a token is required there for every call.
    // Kept up after the job has ended (until the rollout's SIGTERM): an upgrade stops the job with
    // a savepoint, and reads where it went from the job manager whose job has just ended.
    args: [
      ...(main!.args ?? []),
      '--web',
      String(PORTS.rest),
      '--web-host',
      '0.0.0.0',
      '--keep-serving-after-end',
    ],
    env: [
      ...(main!.env ?? []),
      {
        name: 'SLUICE_WEB_TOKEN',
        valueFrom: { secretKeyRef: { name: names.restToken(resolved), key: REST_TOKEN_KEY } },
      },
      fromConfig(START_KEYS.restore),
      fromConfig(START_KEYS.fresh),
    ],
    ports: [...(main!.ports ?? []), { name: 'rest', containerPort: PORTS.rest, protocol: 'TCP' }],
  };
  return {
    ...base,
    spec: {
      ...base.spec!,
      template: {
        metadata: {
          ...template.metadata,
          // A new start (an upgrade) rolls the pod even when only the ConfigMap's arguments changed.
          annotations: { [START_ANNOTATION]: startDescription(start) },
        },
        spec: { ...template.spec!, containers: [container, ...others] },
      },
    },
  };
}

function operatorJobManagerService(resolved: ResolvedJob): V1Service {
  const base = jobManagerService(resolved, MANAGED_BY);
  return {
    ...base,
    spec: {
      ...base.spec,
      ports: [
        ...(base.spec?.ports ?? []),
        { name: 'rest', port: PORTS.rest, targetPort: 'rest', protocol: 'TCP' },
      ],
    },
  };
}

/** The rendered policies; the job manager's also lets the operator's pods in, on the REST port. */
function operatorNetworkPolicies(resolved: ResolvedJob): NetworkPolicy[] {
  return networkPolicies(resolved, MANAGED_BY).map((policy) =>
    policy.metadata?.name !== names.networkPolicy(resolved, 'jobmanager')
      ? policy
      : {
          ...policy,
          spec: {
            ...policy.spec,
            ingress: [
              ...policy.spec.ingress,
              {
                from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': OPERATOR_NAME } } }],
                ports: [{ protocol: 'TCP', port: PORTS.rest }],
              },
            ],
          },
        },
  );
}

/** The Secret holding the REST API's token (made once, never patched). */
export function restTokenSecret(resolved: ResolvedJob, token: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: names.restToken(resolved),
      namespace: resolved.namespace,
      labels: objectLabels(resolved, MANAGED_BY),
    },
    type: 'Opaque',
    data: { [REST_TOKEN_KEY]: Buffer.from(token, 'utf8').toString('base64') },
  };
}

/** The objects kept as desired, created when missing and replaced when their hash changes. */
export function desiredObjects(job: SluiceJob, resolved: ResolvedJob, start: JobStart): KubernetesObject[] {
  return [
    serviceAccount(resolved, MANAGED_BY),
    // Before the Deployment: a job manager the rollout starts reads the new start settings.
    operatorConfigMap(resolved, start),
    operatorJobManagerService(resolved),
    operatorJobManagerDeployment(resolved, start),
    // Counted against the SluiceJob's scale subresource (its parallelism), like a Deployment's.
    taskManagerDisruptionBudget(resolved, MANAGED_BY),
    ...operatorNetworkPolicies(resolved),
  ].map((object) => owned(job, object));
}

export function desiredTaskManagerPod(job: SluiceJob, resolved: ResolvedJob, slot: number): KubernetesObject {
  return owned(job, taskManagerPod(resolved, slot, MANAGED_BY));
}
