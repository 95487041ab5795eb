/**
 * What a Sluice job on Kubernetes is made of — the `spec` of a SluiceJob, and the input of
 * `sluice-k8s render` — and its validation. Both the renderer and the operator build their
 * objects from a {@link ResolvedJob}: the spec checked once, defaults filled in, so the two can
 * never disagree on what a field means.
 */
import { K8sConfigError } from './errors.ts';

/** Requests and limits of one container, as Kubernetes quantities (`"500m"`, `"1Gi"`). */
export interface ContainerResources {
  readonly requests?: { readonly cpu?: string; readonly memory?: string };
  readonly limits?: { readonly cpu?: string; readonly memory?: string };
}

/** The spec of a SluiceJob (and what `render` takes), as a user writes it. */
export interface SluiceJobSpec {
  /** The container image holding Node, `@sluice/core` and the job. */
  readonly image: string;
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** The job module's path inside the image, e.g. `/app/job.js`. */
  readonly job: string;
  /** Task slots, hence task-manager pods (one slot each). */
  readonly parallelism: number;
  /** Key groups (`--max-parallelism`); must stay the same across restores. */
  readonly maxParallelism?: number;
  /** Job arguments (`--arg key=value`), carried by the ConfigMap. */
  readonly args?: Readonly<Record<string, string>>;
  /**
   * The ReadWriteMany PersistentVolumeClaim every pod mounts for checkpoints and savepoints
   * (default `<name>-checkpoints`, the claim `render` makes).
   */
  readonly checkpointClaim?: string;
  /** Time between checkpoints, ms (default 10000). */
  readonly checkpointIntervalMs?: number;
  /** How long SIGTERM waits for a savepoint before the job manager stops without one, ms (default 30000). */
  readonly savepointTimeoutMs?: number;
  /**
   * The Secret holding the cluster secret under the key `secret` (default
   * `<name>-cluster-secret`: rendered by `render`, made by the operator when missing).
   */
  readonly clusterSecret?: string;
  readonly logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /**
   * Stop the job and keep it stopped (the operator scales the job manager to zero and removes the
   * task managers). In `savepoint` upgrade mode it first takes a savepoint through the REST API,
   * which the job restores when this goes back to false; otherwise it resumes from the newest
   * checkpoint.
   */
  readonly suspend?: boolean;
  readonly jobManager?: { readonly resources?: ContainerResources };
  readonly taskManager?: { readonly resources?: ContainerResources };
  /**
   * How the operator applies a change of the job (image, job, parallelism, arguments, ...), as
   * the Flink Kubernetes Operator's `upgradeMode` (default `savepoint`):
   * - `savepoint`: take a savepoint through the job manager's REST API, then start the new job
   *   manager restoring it; no savepoint, no rollout (the old job runs on, a condition says why);
   * - `last-state`: start the new job manager from the newest checkpoint (no savepoint first);
   * - `stateless`: start the new job manager without state.
   */
  readonly upgradeMode?: UpgradeMode;
  /**
   * Change it (to any other integer) to take a savepoint now, as Flink's `savepointTriggerNonce`
   * (`sluice k8s savepoint` does); the result is reported in `status.lastSavepoint`.
   */
  readonly savepointTriggerNonce?: number;
}

export const UPGRADE_MODES = ['savepoint', 'last-state', 'stateless'] as const;
export type UpgradeMode = (typeof UPGRADE_MODES)[number];

/** A spec that passed validation, every default filled in. */
export interface ResolvedJob {
  readonly name: string;
  readonly namespace: string;
  readonly image: string;
  readonly imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  readonly job: string;
  readonly parallelism: number;
  readonly maxParallelism: number | undefined;
  readonly args: Readonly<Record<string, string>>;
  readonly checkpointClaim: string;
  readonly checkpointIntervalMs: number;
  readonly savepointTimeoutMs: number;
  readonly clusterSecret: string;
  readonly logLevel: string;
  readonly suspended: boolean;
  readonly upgradeMode: UpgradeMode;
  readonly savepointTriggerNonce: number | undefined;
  readonly jobManagerResources: Required<ContainerResources>;
  readonly taskManagerResources: Required<ContainerResources>;
}

/** Ports every pod of a job uses; fixed, so NetworkPolicies and probes can name them. */
export const PORTS = { control: 6123, data: 6124, health: 8080, rest: 8081 } as const;

export const DEFAULT_RESOURCES = {
  jobManager: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '512Mi' } },
  taskManager: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } },
} as const;

/** The same bounds as `sluice run` (1 to 32768), and a pod count a namespace can hold. */
export const PARALLELISM_MAX = 1024;
const MAX_PARALLELISM_MAX = 32768;
const TIMER_MS_MAX = 2_147_483_647;
/** JSON integers a CRD's int64 and JavaScript agree on. */
const NONCE_MAX = Number.MAX_SAFE_INTEGER;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
/** RFC 1123 label, and short enough that `<name>-taskmanager-<index>` stays within 63 characters. */
const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const NAME_LENGTH_MAX = 40;
const QUANTITY_PATTERN = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const ARG_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Checks `spec` and fills in defaults. `where` names the object in messages
 * (`SluiceJob shop/clicks`, `render options`), so an error says which input was wrong.
 */
export function resolveJob(name: string, namespace: string, spec: SluiceJobSpec, where: string): ResolvedJob {
  const fail = (field: string, problem: string): never => {
    throw new K8sConfigError(`${where}: ${field} ${problem}`);
  };
  if (!NAME_PATTERN.test(name) || name.length > NAME_LENGTH_MAX) {
    fail('name', `'${name}' must be a lower-case RFC 1123 label of at most ${NAME_LENGTH_MAX} characters`);
  }
  if (!NAME_PATTERN.test(namespace) || namespace.length > 63) {
    fail('namespace', `'${namespace}' is not a valid namespace name`);
  }
  const text = (field: string, value: unknown): string => {
    if (typeof value !== 'string' || value.trim() === '')
      fail(field, `must be a non-empty string, got ${JSON.stringify(value)}`);
    return value as string;
  };
  const int = (field: string, value: unknown, min: number, max: number): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      fail(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return value as number;
  };
  const bool = (field: string, value: unknown): boolean => {
    if (typeof value !== 'boolean') fail(field, `must be true or false, got ${JSON.stringify(value)}`);
    return value as boolean;
  };
  const oneOf = <T extends string>(field: string, value: unknown, allowed: readonly T[], fallback: T): T => {
    if (value === undefined) return fallback;
    if (!allowed.includes(value as T))
      fail(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    return value as T;
  };
  const resources = (
    field: string,
    given: ContainerResources | undefined,
    fallback: Required<ContainerResources>,
  ) => {
    const merged = {
      requests: { ...fallback.requests, ...given?.requests },
      limits: { ...fallback.limits, ...given?.limits },
    };
    for (const [kind, values] of Object.entries(merged)) {
      for (const [resource, quantity] of Object.entries(values)) {
        if (typeof quantity !== 'string' || !QUANTITY_PATTERN.test(quantity)) {
          fail(
            `${field}.${kind}.${resource}`,
            `must be a Kubernetes quantity such as "500m" or "1Gi", got ${JSON.stringify(quantity)}`,
          );
        }
      }
    }
    return merged;
  };

  const image = text('image', spec.image);
  const job = text('job', spec.job);
  if (!job.startsWith('/')) fail('job', `must be an absolute path inside the image, got '${job}'`);
  const parallelism = int('parallelism', spec.parallelism, 1, PARALLELISM_MAX);
  const maxParallelism =
    spec.maxParallelism === undefined
      ? undefined
      : int('maxParallelism', spec.maxParallelism, 1, MAX_PARALLELISM_MAX);
  if (maxParallelism !== undefined && parallelism > maxParallelism) {
    fail('parallelism', `${parallelism} exceeds maxParallelism ${maxParallelism}`);
  }
  const args = spec.args ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    fail('args', 'must be an object of strings');
  for (const [key, value] of Object.entries(args)) {
    if (!ARG_KEY_PATTERN.test(key)) fail(`args.${key}`, 'is not a valid argument name');
    if (typeof value !== 'string') fail(`args.${key}`, `must be a string, got ${JSON.stringify(value)}`);
  }
  const checkpointClaim =
    spec.checkpointClaim === undefined
      ? `${name}-checkpoints`
      : text('checkpointClaim', spec.checkpointClaim);
  const clusterSecret =
    spec.clusterSecret === undefined ? `${name}-cluster-secret` : text('clusterSecret', spec.clusterSecret);
  return {
    name,
    namespace,
    image,
    imagePullPolicy: oneOf('imagePullPolicy', spec.imagePullPolicy, PULL_POLICIES, 'IfNotPresent'),
    job,
    parallelism,
    maxParallelism,
    args,
    checkpointClaim,
    checkpointIntervalMs:
      spec.checkpointIntervalMs === undefined
        ? 10_000
        : int('checkpointIntervalMs', spec.checkpointIntervalMs, 1, TIMER_MS_MAX),
    savepointTimeoutMs:
      spec.savepointTimeoutMs === undefined
        ? 30_000
        : int('savepointTimeoutMs', spec.savepointTimeoutMs, 1, TIMER_MS_MAX),
    clusterSecret,
    logLevel: oneOf('logLevel', spec.logLevel, LOG_LEVELS, 'info'),
    suspended: spec.suspend === undefined ? false : bool('suspend', spec.suspend),
    upgradeMode: oneOf('upgradeMode', spec.upgradeMode, UPGRADE_MODES, 'savepoint'),
    savepointTriggerNonce:
      spec.savepointTriggerNonce === undefined
        ? undefined
        : int('savepointTriggerNonce', spec.savepointTriggerNonce, -NONCE_MAX, NONCE_MAX),
    jobManagerResources: resources(
      'jobManager.resources',
      spec.jobManager?.resources,
      DEFAULT_RESOURCES.jobManager,
    ),
    taskManagerResources: resources(
      'taskManager.resources',
      spec.taskManager?.resources,
      DEFAULT_RESOURCES.taskManager,
    ),
  };
}
