/**
 * `render`: every object a job needs in a namespace, ready for `kubectl apply -f -`.
 *
 * The objects, in the order they are applied: ServiceAccount, Role, RoleBinding, ConfigMap,
 * Secret (unless an existing one is named), the checkpoint claim, the job manager's Service and
 * Deployment, the task managers' Deployment (`parallelism` pods of one slot each), their
 * PodDisruptionBudget and the two NetworkPolicies.
 */
import { randomBytes } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { K8sConfigError } from './errors.ts';
import { type ContainerResources, resolveJob, type SluiceJobSpec } from './job-spec.ts';
import { role, roleBinding, serviceAccount } from './manifests/access.ts';
import { type CheckpointStorage, checkpointClaim, clusterSecret, configMap } from './manifests/config.ts';
import { type HostNetworkOptions, onHostNetwork } from './manifests/host-network.ts';
import { networkPolicies, taskManagerDisruptionBudget } from './manifests/policies.ts';
import { jobManagerDeployment, jobManagerService, taskManagerDeployment } from './manifests/workloads.ts';

/** The shortest cluster secret the processes accept (`loadClusterSecret` in `@sluice/core`). */
export const CLUSTER_SECRET_BYTES_MIN = 16;

export interface RenderOptions {
  /** The job's name: a lower-case RFC 1123 label; every object's name starts with it. */
  readonly name: string;
  readonly namespace?: string;
  readonly image: string;
  readonly imagePullPolicy?: SluiceJobSpec['imagePullPolicy'];
  /** The job module's absolute path inside the image. */
  readonly job: string;
  readonly parallelism: number;
  readonly maxParallelism?: number;
  readonly args?: Readonly<Record<string, string>>;
  readonly checkpointIntervalMs?: number;
  readonly savepointTimeoutMs?: number;
  readonly logLevel?: SluiceJobSpec['logLevel'];
  readonly jobManagerResources?: ContainerResources;
  readonly taskManagerResources?: ContainerResources;
  readonly checkpointStorage?: CheckpointStorage;
  /**
   * The cluster secret to put in the rendered Secret (at least 16 bytes). Default: 32 random
   * bytes, hex-encoded, new on every render. Ignored with `existingSecret`.
   */
  readonly secret?: string;
  /** Name an existing Secret (key `secret`) instead of rendering one: keeps the secret out of the YAML. */
  readonly existingSecret?: string;
  /**
   * For a node without a pod network: pods on the host's network, on 127.0.0.1, one port each,
   * checkpoints in a folder of the node (manifests/host-network.ts). Needs a namespace that
   * allows privileged pods.
   */
  readonly hostNetwork?: HostNetworkOptions;
}

export function render(options: RenderOptions): KubernetesObject[] {
  const namespace = options.namespace ?? 'default';
  const job = resolveJob(
    options.name,
    namespace,
    {
      image: options.image,
      job: options.job,
      parallelism: options.parallelism,
      ...(options.existingSecret === undefined ? {} : { clusterSecret: options.existingSecret }),
      ...(options.imagePullPolicy === undefined ? {} : { imagePullPolicy: options.imagePullPolicy }),
      ...(options.maxParallelism === undefined ? {} : { maxParallelism: options.maxParallelism }),
      ...(options.args === undefined ? {} : { args: options.args }),
      ...(options.checkpointIntervalMs === undefined
        ? {}
        : { checkpointIntervalMs: options.checkpointIntervalMs }),
      ...(options.savepointTimeoutMs === undefined ? {} : { savepointTimeoutMs: options.savepointTimeoutMs }),
      ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
      ...(options.jobManagerResources === undefined
        ? {}
        : { jobManager: { resources: options.jobManagerResources } }),
      ...(options.taskManagerResources === undefined
        ? {}
        : { taskManager: { resources: options.taskManagerResources } }),
    },
    'render options',
  );
  const by = 'sluice-k8s';
  const objects: KubernetesObject[] = [
    serviceAccount(job, by),
    role(job, by),
    roleBinding(job, by),
    configMap(job, by),
  ];
  if (options.existingSecret === undefined) objects.push(clusterSecret(job, secretValue(options.secret), by));
  objects.push(
    checkpointClaim(job, options.checkpointStorage ?? {}, by),
    jobManagerService(job, by),
    jobManagerDeployment(job, by),
    taskManagerDeployment(job, by),
    taskManagerDisruptionBudget(job, by),
    ...networkPolicies(job, by),
  );
  return options.hostNetwork === undefined ? objects : onHostNetwork(objects, job, options.hostNetwork);
}

function secretValue(given: string | undefined): string {
  if (given === undefined) return randomBytes(32).toString('hex');
  if (Buffer.byteLength(given, 'utf8') < CLUSTER_SECRET_BYTES_MIN) {
    throw new K8sConfigError(
      `render options: secret is ${Buffer.byteLength(given, 'utf8')} bytes; the cluster secret needs at least ${CLUSTER_SECRET_BYTES_MIN} (make one with: openssl rand -hex 32)`,
    );
  }
  return given;
}

/** The objects as one YAML stream, `---` between documents. */
export function toYaml(objects: readonly object[]): string {
  return objects.map((object) => stringify(object, { lineWidth: 0 })).join('---\n');
}
