/**
 * The SluiceJob custom resource: `sluice.dev/v1alpha1`, namespaced. Its schema checks what the
 * API server can check on its own (types, ranges, enums, the parallelism within
 * maxParallelism), so a bad object is refused at `kubectl apply`, before the operator sees it;
 * the operator checks the same again ({@link resolveJob}) for objects written by older schemas.
 *
 * The status is a subresource (the operator alone writes it; a user's edit of the spec cannot
 * overwrite it), and so is scale (`kubectl scale sluicejob/x --replicas 8` changes the
 * parallelism; a PodDisruptionBudget can count the task-manager pods against it).
 */
import { PARALLELISM_MAX, UPGRADE_MODES } from '../job-spec.ts';

export const SLUICE_JOB = {
  group: 'sluice.dev',
  version: 'v1alpha1',
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'SluiceJob',
  plural: 'sluicejobs',
  singular: 'sluicejob',
} as const;

const TIMER_MS_MAX = 2_147_483_647;
const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const QUANTITY = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$' };

function resources(): object {
  const cpuAndMemory = {
    type: 'object',
    properties: { cpu: QUANTITY, memory: QUANTITY },
  };
  return {
    type: 'object',
    properties: {
      resources: { type: 'object', properties: { requests: cpuAndMemory, limits: cpuAndMemory } },
    },
  };
}

/** The CustomResourceDefinition, as the API server reads it (wire JSON). */
export function sluiceJobCrd(): Record<string, unknown> {
  const spec = {
    type: 'object',
    required: ['image', 'job', 'parallelism'],
    properties: {
      image: { type: 'string', minLength: 1, description: 'Image holding Node, @sluice/core and the job.' },
      imagePullPolicy: { type: 'string', enum: ['Always', 'IfNotPresent', 'Never'] },
      job: { type: 'string', pattern: '^/', description: "The job module's absolute path inside the image." },
      parallelism: {
        type: 'integer',
        minimum: 1,
        maximum: PARALLELISM_MAX,
        description: 'Task slots, hence task-manager pods (one slot each).',
      },
      maxParallelism: {
        type: 'integer',
        minimum: 1,
        maximum: 32768,
        description: 'Key groups; keep it across restores.',
      },
      args: {
        type: 'object',
        additionalProperties: { type: 'string' },
        description: 'Job arguments (--arg key=value).',
      },
      checkpointClaim: {
        type: 'string',
        pattern: NAME_PATTERN,
        description: 'ReadWriteMany PersistentVolumeClaim for checkpoints (default <name>-checkpoints).',
      },
      checkpointIntervalMs: { type: 'integer', minimum: 1, maximum: TIMER_MS_MAX },
      savepointTimeoutMs: { type: 'integer', minimum: 1, maximum: TIMER_MS_MAX },
      clusterSecret: {
        type: 'string',
        pattern: NAME_PATTERN,
        description:
          'Secret with the cluster secret under key "secret" (default <name>-cluster-secret, made when missing).',
      },
      logLevel: { type: 'string', enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
      suspend: {
        type: 'boolean',
        description: 'Stop the job (savepoint) and keep it stopped; false resumes it.',
      },
      jobManager: resources(),
      taskManager: resources(),
      upgradeMode: {
        type: 'string',
        enum: [...UPGRADE_MODES],
        default: 'savepoint',
        description:
          'How a change of the job is applied: savepoint (take one, then restore it; none, no rollout), last-state (resume the newest checkpoint) or stateless (start without state).',
      },
      savepointTriggerNonce: {
        type: 'integer',
        format: 'int64',
        description: 'Change it to take a savepoint now (status.lastSavepoint reports it).',
      },
    },
    'x-kubernetes-validations': [
      {
        rule: '!has(self.maxParallelism) || self.parallelism <= self.maxParallelism',
        message: 'parallelism must not exceed maxParallelism',
        fieldPath: '.parallelism',
      },
    ],
  };
  const condition = {
    type: 'object',
    required: ['type', 'status'],
    properties: {
      type: { type: 'string' },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      reason: { type: 'string' },
      message: { type: 'string' },
      lastTransitionTime: { type: 'string', format: 'date-time' },
      observedGeneration: { type: 'integer' },
    },
  };
  const status = {
    type: 'object',
    properties: {
      phase: {
        type: 'string',
        enum: [
          'Pending',
          'Deploying',
          'Upgrading',
          'Running',
          'Suspending',
          'Suspended',
          'Finished',
          'Failed',
        ],
      },
      parallelism: {
        type: 'integer',
        description: 'Task-manager pods the operator keeps (the spec it last acted on).',
      },
      readyTaskManagers: { type: 'integer' },
      jobManagerReady: { type: 'boolean' },
      taskManagerTemplate: {
        type: 'string',
        description:
          'Hash of the task-manager pod template rolled out to every slot (how the operator tells a lost pod from one it replaced on purpose).',
      },
      taskManagerReplacements: {
        type: 'integer',
        description: 'Task-manager pods replaced after they were lost or failed.',
      },
      selector: {
        type: 'string',
        description: 'Label selector of the task-manager pods (for the scale subresource).',
      },
      observedGeneration: { type: 'integer' },
      deployedSpec: {
        type: 'object',
        'x-kubernetes-preserve-unknown-fields': true,
        description: 'The job fields of the spec deployed by the last upgrade.',
      },
      deployedSuspended: {
        type: 'boolean',
        description: 'Whether the deployed job is suspended (savepoint mode: once its savepoint is written).',
      },
      start: {
        type: 'object',
        description: 'How the deployed job manager starts (the ConfigMap says so to a restarted one).',
        properties: {
          mode: { type: 'string', enum: ['initial', ...UPGRADE_MODES] },
          generation: { type: 'integer' },
          savepoint: { type: 'string' },
          settled: { type: 'boolean' },
          rolledOutAt: { type: 'string', format: 'date-time' },
          notBeforeMs: { type: 'integer', format: 'int64' },
        },
      },
      upgrade: {
        type: 'object',
        description: 'An upgrade waiting for its savepoint, or whose savepoint failed.',
        properties: {
          generation: { type: 'integer' },
          step: { type: 'string', enum: ['Savepointing', 'Failed'] },
          requestId: { type: 'integer' },
          requestedAt: { type: 'string', format: 'date-time' },
          requestedAtMs: { type: 'integer', format: 'int64' },
          error: { type: 'string' },
        },
      },
      savepointRequest: {
        type: 'object',
        description: 'The savepoint asked for by the last spec.savepointTriggerNonce.',
        properties: {
          nonce: { type: 'integer', format: 'int64' },
          state: { type: 'string', enum: ['InProgress', 'Completed', 'Failed'] },
          requestId: { type: 'integer' },
          requestedAt: { type: 'string', format: 'date-time' },
          requestedAtMs: { type: 'integer', format: 'int64' },
          location: { type: 'string' },
          error: { type: 'string' },
        },
      },
      lastSavepoint: {
        type: 'object',
        description: 'The newest savepoint the operator took.',
        properties: {
          location: { type: 'string' },
          time: { type: 'string', format: 'date-time' },
          trigger: { type: 'string', enum: ['upgrade', 'manual'] },
          nonce: { type: 'integer', format: 'int64' },
        },
      },
      lastCheckpoint: {
        type: 'object',
        description: "The newest completed checkpoint, from the job manager's REST API.",
        properties: {
          id: { type: 'integer' },
          triggeredAt: { type: 'string', format: 'date-time' },
          completedAt: { type: 'string', format: 'date-time' },
          durationMs: { type: 'integer' },
          bytes: { type: 'integer' },
          location: { type: 'string' },
        },
      },
      restarts: { type: 'integer', description: 'Restarts of the job since its job manager started.' },
      conditions: {
        type: 'array',
        items: condition,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      },
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${SLUICE_JOB.plural}.${SLUICE_JOB.group}` },
    spec: {
      group: SLUICE_JOB.group,
      scope: 'Namespaced',
      names: {
        kind: SLUICE_JOB.kind,
        listKind: `${SLUICE_JOB.kind}List`,
        plural: SLUICE_JOB.plural,
        singular: SLUICE_JOB.singular,
        shortNames: ['sj'],
        categories: ['sluice'],
      },
      versions: [
        {
          name: SLUICE_JOB.version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.parallelism',
              statusReplicasPath: '.status.parallelism',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: [
            { name: 'Parallelism', type: 'integer', jsonPath: '.spec.parallelism' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.readyTaskManagers' },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Checkpoint', type: 'integer', jsonPath: '.status.lastCheckpoint.id', priority: 1 },
            { name: 'Image', type: 'string', jsonPath: '.spec.image', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}
