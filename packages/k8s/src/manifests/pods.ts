/**
 * The pod specs of the job manager and the task managers, written against the `sluice
 * jobmanager` / `sluice taskmanager` command line (docs/kubernetes.md lists the flags used).
 *
 * Both run the built CLI of `@sluice/core` from the image (`/app`, see {@link SLUICE_COMMAND}),
 * read the cluster secret from the mounted Secret, share the checkpoint volume, and answer
 * `/healthz` (liveness) and `/readyz` (readiness) on the health port.
 */
import type {
  V1Container,
  V1EnvVar,
  V1PodSpec,
  V1Probe,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { PORTS, type ResolvedJob } from '../job-spec.ts';
import { names } from './names.ts';
import { containerSecurityContext, podSecurityContext } from './pod-security.ts';

/** How the image starts Sluice: Node and the built CLI of `@sluice/core` installed under /app. */
export const SLUICE_COMMAND = ['node', '/app/node_modules/@sluice/core/dist/cli/bin.js'] as const;

export const MOUNTS = {
  checkpoints: '/sluice/checkpoints',
  secretDir: '/etc/sluice/secret',
  tmp: '/tmp',
} as const;
export const SECRET_KEY = 'secret';
export const SECRET_FILE = `${MOUNTS.secretDir}/${SECRET_KEY}`;

/** Keys of the job's ConfigMap, handed to the containers as environment variables. */
export const CONFIG_KEYS = { logLevel: 'SLUICE_LOG_LEVEL', jobArgs: 'SLUICE_JOB_ARGS' } as const;

/** Where this job's checkpoints and savepoints live on the shared volume. */
export function checkpointDir(job: ResolvedJob): string {
  return `${MOUNTS.checkpoints}/${job.name}/checkpoints`;
}
export function savepointDir(job: ResolvedJob): string {
  return `${MOUNTS.checkpoints}/${job.name}/savepoints`;
}

/** Seconds Kubernetes waits after SIGTERM: the savepoint's timeout plus time to write and exit. */
export function jobManagerGracePeriodSeconds(job: ResolvedJob): number {
  return Math.ceil(job.savepointTimeoutMs / 1000) + 30;
}

export function jobManagerArgs(job: ResolvedJob): string[] {
  const args = ['jobmanager', job.job, '-p', String(job.parallelism)];
  if (job.maxParallelism !== undefined) args.push('--max-parallelism', String(job.maxParallelism));
  args.push(
    '--checkpoint-dir',
    checkpointDir(job),
    '--checkpoint-interval',
    String(job.checkpointIntervalMs),
    '--savepoint-dir',
    savepointDir(job),
    '--savepoint-timeout',
    String(job.savepointTimeoutMs),
    // Kubernetes substitutes $(VAR) from the container's environment (the ConfigMap's key).
    '--args',
    `$(${CONFIG_KEYS.jobArgs})`,
    '--log-format',
    'json',
    '--bind-host',
    '0.0.0.0',
    '--port',
    String(PORTS.control),
    '--secret-file',
    SECRET_FILE,
    '--health-port',
    String(PORTS.health),
  );
  return args;
}

export function taskManagerArgs(job: ResolvedJob): string[] {
  return [
    'taskmanager',
    '--jobmanager',
    `${names.jobManager(job)}:${PORTS.control}`,
    '--slots',
    '1',
    '--bind-host',
    '0.0.0.0',
    // Peers dial the pod's own address; the downward API puts it in POD_IP.
    '--advertise-host',
    '$(POD_IP)',
    '--data-port',
    String(PORTS.data),
    '--secret-file',
    SECRET_FILE,
    '--health-port',
    String(PORTS.health),
  ];
}

function env(job: ResolvedJob): V1EnvVar[] {
  const fromConfig = (key: string): V1EnvVar => ({
    name: key,
    valueFrom: { configMapKeyRef: { name: names.configMap(job), key } },
  });
  return [
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    fromConfig(CONFIG_KEYS.logLevel),
    fromConfig(CONFIG_KEYS.jobArgs),
  ];
}

function probe(path: string, failureThreshold: number): V1Probe {
  return {
    httpGet: { path, port: 'health' },
    periodSeconds: 5,
    timeoutSeconds: 3,
    failureThreshold,
  };
}

function volumes(job: ResolvedJob): V1Volume[] {
  return [
    { name: 'checkpoints', persistentVolumeClaim: { claimName: job.checkpointClaim } },
    {
      name: 'cluster-secret',
      // Readable by the group only: the pod's fsGroup, which the processes run in.
      secret: {
        secretName: job.clusterSecret,
        defaultMode: 0o440,
        items: [{ key: SECRET_KEY, path: SECRET_KEY }],
      },
    },
    // The root filesystem is read-only; Node, the LevelDB state backend and temp files write here.
    { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
  ];
}

function volumeMounts(): V1VolumeMount[] {
  return [
    { name: 'checkpoints', mountPath: MOUNTS.checkpoints },
    { name: 'cluster-secret', mountPath: MOUNTS.secretDir, readOnly: true },
    { name: 'tmp', mountPath: MOUNTS.tmp },
  ];
}

function container(job: ResolvedJob, name: string, args: string[], ports: V1Container['ports']): V1Container {
  const resources = name === 'jobmanager' ? job.jobManagerResources : job.taskManagerResources;
  return {
    name,
    image: job.image,
    imagePullPolicy: job.imagePullPolicy,
    command: [...SLUICE_COMMAND],
    args,
    env: env(job),
    ports,
    resources: { requests: { ...resources.requests }, limits: { ...resources.limits } },
    // Loading the job module can take a while on a busy node: liveness starts counting only once
    // the startup probe has passed (up to 2 minutes), then tolerates a long GC pause.
    startupProbe: probe('/healthz', 24),
    livenessProbe: probe('/healthz', 6),
    readinessProbe: probe('/readyz', 1),
    securityContext: containerSecurityContext(),
    volumeMounts: volumeMounts(),
  };
}

function podSpec(job: ResolvedJob, main: V1Container, gracePeriodSeconds: number): V1PodSpec {
  return {
    serviceAccountName: names.serviceAccount(job),
    // Neither process calls the Kubernetes API: no token in the pod.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: podSecurityContext(),
    terminationGracePeriodSeconds: gracePeriodSeconds,
    containers: [main],
    volumes: volumes(job),
  };
}

export function jobManagerPodSpec(job: ResolvedJob): V1PodSpec {
  const main = container(job, 'jobmanager', jobManagerArgs(job), [
    { name: 'control', containerPort: PORTS.control, protocol: 'TCP' },
    { name: 'health', containerPort: PORTS.health, protocol: 'TCP' },
  ]);
  return podSpec(job, main, jobManagerGracePeriodSeconds(job));
}

export function taskManagerPodSpec(job: ResolvedJob): V1PodSpec {
  const main = container(job, 'taskmanager', taskManagerArgs(job), [
    { name: 'data', containerPort: PORTS.data, protocol: 'TCP' },
    { name: 'health', containerPort: PORTS.health, protocol: 'TCP' },
  ]);
  return podSpec(job, main, 30);
}
