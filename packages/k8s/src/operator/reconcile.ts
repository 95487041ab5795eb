/**
 * One reconciliation of one SluiceJob: read what is, compare with what the spec asks for, make
 * the smallest changes, report status. Level-based, like every Kubernetes controller: it is
 * safe to run at any time, any number of times, and after a crash it simply runs again.
 *
 * Task-manager pods are kept one per slot, by name (`<job>-taskmanager-<slot>`): a pod that is
 * missing is created, one that failed or carries an outdated spec is deleted (and created again on
 * the next pass, once it is gone), one beyond the parallelism is deleted. The job manager is a
 * Deployment, so Kubernetes itself replaces its pod.
 *
 * What is deployed is the spec of the last upgrade (upgrade.ts): while an upgrade waits for its
 * savepoint, or after its savepoint failed, the objects of the running job are kept.
 */
import { randomBytes } from 'node:crypto';
import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { SLUICE_JOB } from '../crd/sluice-job-crd.ts';
import { K8sConfigError } from '../errors.ts';
import { type ResolvedJob, resolveJob, type SluiceJobSpec } from '../job-spec.ts';
import { collectionPath, objectPath } from '../kube/kinds.ts';
import { apiError, type KubeRest } from '../kube/rest.ts';
import { clusterSecret } from '../manifests/config.ts';
import { LABELS, names, selectorLabels } from '../manifests/names.ts';
import { taskManagerPodSpec } from '../manifests/pods.ts';
import { HttpJobManagerClient, type JobManagerClient } from './jobmanager-client.ts';
import {
  desiredObjects,
  desiredTaskManagerPod,
  MANAGED_BY,
  owned,
  REST_TOKEN_KEY,
  restTokenSecret,
  SPEC_HASH,
  specHash,
} from './owned.ts';
import type { Condition, SluiceJob, SluiceJobPhase, SluiceJobStatus } from './sluice-job.ts';
import { observeJobManager, rfc3339, savepointOnDemand, type UpgradeInputs, upgradeStep } from './upgrade.ts';

export interface ReconcileContext {
  readonly rest: KubeRest;
  readonly now: () => number;
  readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Base URL of a job's job manager REST API (its Service's DNS name, unless a test says otherwise). */
  readonly jobManagerUrl: (namespace: string, name: string) => string;
}

/** What a pass asks of the operator: to look again this soon (a savepoint in flight). */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

export function sluiceJobPath(namespace: string, name?: string): string {
  const base = `/apis/${SLUICE_JOB.apiVersion}/namespaces/${namespace}/${SLUICE_JOB.plural}`;
  return name === undefined ? base : `${base}/${name}`;
}

export async function reconcileSluiceJob(
  context: ReconcileContext,
  namespace: string,
  name: string,
): Promise<ReconcileResult> {
  const { rest } = context;
  let job = await rest.get<SluiceJob>(sluiceJobPath(namespace, name));
  // Gone or going: the garbage collector removes what it owned.
  if (job === undefined || job.metadata.deletionTimestamp !== undefined) return {};

  let resolved: ResolvedJob;
  try {
    resolved = resolveJob(name, namespace, job.spec, `SluiceJob ${namespace}/${name}`);
  } catch (error) {
    if (!(error instanceof K8sConfigError)) throw error;
    await writeStatus(context, job, {
      phase: 'Failed',
      conditions: [condition(context, job, 'Ready', 'False', 'InvalidSpec', error.message)],
    });
    return {};
  }

  const client = await jobManagerClient(context, job, resolved);
  const inputs: UpgradeInputs = { job, resolved, client, now: context.now, log: context.log };
  const upgrade = await upgradeStep(inputs);
  const onDemand = await savepointOnDemand(
    inputs,
    upgrade.status.lastSavepoint,
    upgrade.status.upgrade?.step === 'Savepointing',
  );
  // A rollout decided is recorded before any object changes: an operator that stops in between
  // finds it in the status, instead of polling a savepoint request the new job manager never had.
  if (upgrade.status.start !== job.status?.start) {
    job = await writeStatus(context, job, upgrade.status);
  }
  // What runs: the spec of the last upgrade, suspended or not as it was deployed.
  const deployed = resolveJob(
    name,
    namespace,
    { ...(upgrade.deploySpec as SluiceJobSpec), suspend: upgrade.deploySuspended },
    `SluiceJob ${namespace}/${name} (status.deployedSpec)`,
  );

  // The token first: the job manager's container cannot start without it.
  await ensureRestToken(context, job, deployed);
  for (const desired of desiredObjects(job, deployed, upgrade.start)) await ensure(rest, desired);
  const secretProblem = await ensureClusterSecret(context, job, deployed);

  const wanted = deployed.suspended ? 0 : deployed.parallelism;
  const slots = await reconcileTaskManagers(context, job, deployed, wanted);
  const deployment = await rest.get<V1Deployment>(
    objectPath({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: names.jobManager(deployed), namespace },
    }),
  );
  const jobManagerReady = (deployment?.status?.readyReplicas ?? 0) >= 1 && deploymentCurrent(deployment);
  // The job manager's own report, when it has one to give: the deployed one runs, and is ready —
  // or is not ready because its job has ended (it serves on, --keep-serving-after-end, reporting how).
  const observed =
    deploymentCurrent(deployment) && !deployed.suspended
      ? await observeJobManager(inputs, upgrade.start, deployed)
      : { lastCheckpoint: job.status?.lastCheckpoint, restarts: job.status?.restarts, start: upgrade.start };
  const ended = observed.ended;
  const savepointing = upgrade.status.upgrade?.step === 'Savepointing';
  // What is deployed decides: a suspension in savepoint mode waits for its savepoint (Suspending),
  // and one whose savepoint failed leaves the job running (Running, the Upgraded condition says why).
  const running =
    !deployed.suspended && jobManagerReady && slots.ready === deployed.parallelism && ended === undefined;
  // Suspended once no pod of the job is left, terminating ones included.
  const stopped =
    deployed.suspended &&
    slots.present === 0 &&
    (await podCount(rest, namespace, selectorLabels(resolved, 'jobmanager'))) === 0;
  const phase: SluiceJobPhase = deployed.suspended
    ? stopped
      ? 'Suspended'
      : 'Suspending'
    : savepointing
      ? resolved.suspended
        ? 'Suspending'
        : 'Upgrading'
      : ended !== undefined
        ? ended.status === 'failed'
          ? 'Failed'
          : 'Finished'
        : running
          ? 'Running'
          : 'Deploying';
  const taskManagersMessage = `${slots.ready} of ${wanted} task managers ready`;
  const readyReason = deployed.suspended
    ? 'Suspended'
    : ended !== undefined
      ? 'JobEnded'
      : running
        ? 'Running'
        : 'Deploying';
  const readyMessage = deployed.suspended
    ? `spec.suspend is true: ${stopped ? 'every pod is gone' : 'stopping the pods'}`
    : ended !== undefined
      ? `the job has ended (${ended.status}${ended.finalSavepoint === undefined ? '' : `, with savepoint ${ended.finalSavepoint}`}); its job manager reports it and runs nothing until the spec changes or its pod is deleted (a new pod resumes the newest checkpoint)`
      : running
        ? 'the job manager and every task manager are ready'
        : (secretProblem ?? taskManagersMessage);
  await writeStatus(context, job, {
    phase,
    parallelism: wanted,
    readyTaskManagers: slots.ready,
    jobManagerReady,
    taskManagerReplacements: (job.status?.taskManagerReplacements ?? 0) + slots.replaced,
    ...(slots.template === undefined ? {} : { taskManagerTemplate: slots.template }),
    selector: Object.entries(selectorLabels(resolved, 'taskmanager'))
      .map(([key, value]) => `${key}=${value}`)
      .join(','),
    observedGeneration: job.metadata.generation,
    deployedSpec: upgrade.status.deployedSpec,
    start: observed.start,
    upgrade: upgrade.status.upgrade,
    savepointRequest: onDemand.savepointRequest,
    lastSavepoint: onDemand.lastSavepoint,
    lastCheckpoint: observed.lastCheckpoint,
    restarts: observed.restarts,
    conditions: [
      condition(context, job, 'Ready', running ? 'True' : 'False', readyReason, readyMessage),
      condition(
        context,
        job,
        'JobManagerReady',
        jobManagerReady ? 'True' : 'False',
        jobManagerReady ? 'Ready' : 'NotReady',
        jobManagerReady ? 'the job manager is ready' : 'the job manager is not ready',
      ),
      condition(
        context,
        job,
        'TaskManagersReady',
        slots.ready === wanted ? 'True' : 'False',
        slots.ready === wanted ? 'Ready' : 'NotReady',
        taskManagersMessage,
      ),
      ...(upgrade.upgraded === undefined
        ? []
        : [
            condition(
              context,
              job,
              'Upgraded',
              upgrade.upgraded[0],
              upgrade.upgraded[1],
              upgrade.upgraded[2],
            ),
          ]),
      ...savepointCondition(context, job, onDemand.savepointRequest),
    ],
  });
  const requeue = [upgrade.requeueAfterMs, onDemand.requeueAfterMs].filter((ms) => ms !== undefined);
  return requeue.length === 0 ? {} : { requeueAfterMs: Math.min(...requeue) };
}

/** The `Savepoint` condition: the outcome of the last savepoint asked for by nonce. */
function savepointCondition(
  context: ReconcileContext,
  job: SluiceJob,
  request: SluiceJobStatus['savepointRequest'],
): Condition[] {
  if (request === undefined) return [];
  const [status, message]: [Condition['status'], string] =
    request.state === 'Completed'
      ? ['True', `savepoint for nonce ${request.nonce} written to ${request.location ?? ''}`]
      : request.state === 'Failed'
        ? ['False', `savepoint for nonce ${request.nonce} failed: ${request.error ?? ''}`]
        : ['Unknown', `savepoint for nonce ${request.nonce} in progress`];
  return [condition(context, job, 'Savepoint', status, request.state, message)];
}

/** The REST client of the job's job manager, with the token from its Secret (none yet: undefined). */
async function jobManagerClient(
  context: ReconcileContext,
  job: SluiceJob,
  resolved: ResolvedJob,
): Promise<JobManagerClient | undefined> {
  const secret = await context.rest.get<{ data?: Record<string, string> }>(
    objectPath(restTokenSecret(resolved, '')),
  );
  const token = secret?.data?.[REST_TOKEN_KEY];
  if (token === undefined) return undefined;
  return new HttpJobManagerClient(
    context.jobManagerUrl(job.metadata.namespace, job.metadata.name),
    Buffer.from(token, 'base64').toString('utf8'),
  );
}

/** Makes the REST API's token Secret when it is missing (never changes it: pods read it at start). */
async function ensureRestToken(
  context: ReconcileContext,
  job: SluiceJob,
  resolved: ResolvedJob,
): Promise<void> {
  const made = owned(job, restTokenSecret(resolved, randomBytes(32).toString('hex')));
  if ((await context.rest.get(objectPath(made))) !== undefined) return;
  const answer = await context.rest.send('POST', collectionPath(made), { body: made });
  if (answer.status !== 201 && answer.status !== 409) throw apiError('POST', collectionPath(made), answer);
}

async function podCount(rest: KubeRest, namespace: string, labels: Record<string, string>): Promise<number> {
  const labelSelector = Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  const list = await rest.call<{ items: unknown[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
    query: { labelSelector },
  });
  return list.items.length;
}

/** A Deployment whose controller has seen its latest spec and rolled it out. */
function deploymentCurrent(deployment: V1Deployment | undefined): boolean {
  const status = deployment?.status;
  if (deployment === undefined || status === undefined) return false;
  return (
    (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0) &&
    (status.updatedReplicas ?? 0) >= 1 &&
    (status.replicas ?? 0) === (status.updatedReplicas ?? 0)
  );
}

/** Creates `desired` when missing; merge-patches it when its spec hash differs. */
async function ensure(rest: KubeRest, desired: KubernetesObject): Promise<void> {
  const path = objectPath(desired);
  const current = await rest.get<KubernetesObject>(path);
  if (current === undefined) {
    const created = await rest.send('POST', collectionPath(desired), { body: desired });
    // 409: another pass (or a restarted operator) made it in between; the next pass compares it.
    if (created.status !== 201 && created.status !== 409)
      throw apiError('POST', collectionPath(desired), created);
    return;
  }
  if (current.metadata?.annotations?.[SPEC_HASH] === desired.metadata?.annotations?.[SPEC_HASH]) return;
  // A merge patch replaces lists (containers, ports) whole and keeps what the server assigned
  // (a Service's cluster IP).
  await rest.call('PATCH', path, { body: desired, contentType: 'application/merge-patch+json' });
}

/** Makes the default Secret when it is missing; names a missing user Secret for the status. */
async function ensureClusterSecret(
  context: ReconcileContext,
  job: SluiceJob,
  resolved: ResolvedJob,
): Promise<string | undefined> {
  const secret = clusterSecret(resolved, '', MANAGED_BY);
  if ((await context.rest.get(objectPath(secret))) !== undefined) return undefined;
  if (job.spec.clusterSecret !== undefined) {
    return `Secret ${resolved.namespace}/${resolved.clusterSecret} (spec.clusterSecret) does not exist`;
  }
  const made = owned(job, clusterSecret(resolved, randomBytes(32).toString('hex'), MANAGED_BY));
  const answer = await context.rest.send('POST', collectionPath(made), { body: made });
  if (answer.status !== 201 && answer.status !== 409) throw apiError('POST', collectionPath(made), answer);
  if (answer.status === 201) {
    context.log(
      'info',
      `SluiceJob ${resolved.namespace}/${resolved.name}: made Secret ${resolved.clusterSecret}`,
    );
  }
  return undefined;
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

async function reconcileTaskManagers(
  context: ReconcileContext,
  job: SluiceJob,
  resolved: ResolvedJob,
  wanted: number,
): Promise<{ ready: number; replaced: number; present: number; template: string | undefined }> {
  const { rest } = context;
  const where = `SluiceJob ${resolved.namespace}/${resolved.name}`;
  const selector = Object.entries({
    ...selectorLabels(resolved, 'taskmanager'),
    [LABELS.managedBy]: MANAGED_BY,
  })
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  const podsPath = `/api/v1/namespaces/${resolved.namespace}/pods`;
  const list = await rest.call<{ items: V1Pod[] }>('GET', podsPath, { query: { labelSelector: selector } });
  const bySlot = new Map<number, V1Pod>();
  const remove = async (pod: V1Pod, why: string): Promise<void> => {
    context.log('info', `${where}: deleting pod ${pod.metadata?.name} (${why})`);
    const answer = await rest.send('DELETE', `${podsPath}/${pod.metadata?.name}`, {
      body: { preconditions: { uid: pod.metadata?.uid } },
    });
    // 404: gone already; 409: the uid precondition failed, a new pod holds the name.
    if (answer.status !== 200 && answer.status !== 404 && answer.status !== 409) {
      throw apiError('DELETE', `${podsPath}/${pod.metadata?.name}`, answer);
    }
  };

  // A pod made again for a slot that had a pod of the current template is a replacement (the pod
  // was lost or failed); slots new to the parallelism, and pods the operator itself removed to
  // roll a new template out, are not. The status records the template once it is rolled out.
  const template = taskManagerTemplateHash(resolved);
  const previous = job.status?.taskManagerTemplate === template ? (job.status.parallelism ?? 0) : 0;
  let replaced = 0;
  let rolledOut = true;

  let ready = 0;
  for (const pod of list.items) {
    const slot = Number(pod.metadata?.labels?.[LABELS.slot]);
    if (!Number.isInteger(slot) || slot < 0 || slot >= wanted) {
      if (pod.metadata?.deletionTimestamp === undefined) {
        await remove(pod, resolved.suspended ? 'the job is suspended' : 'slot beyond the parallelism');
      }
      continue;
    }
    bySlot.set(slot, pod);
    if (pod.metadata?.deletionTimestamp !== undefined) {
      // Going away: whether it is ours or a lost pod, the slot is not settled on the template.
      if (
        pod.metadata.annotations?.[SPEC_HASH] !==
        desiredTaskManagerPod(job, resolved, slot).metadata?.annotations?.[SPEC_HASH]
      ) {
        rolledOut = false;
      }
      continue;
    }
    const phase = pod.status?.phase;
    if (phase === 'Failed' || phase === 'Succeeded') {
      await remove(pod, `its phase is ${phase}`);
      continue;
    }
    const desired = desiredTaskManagerPod(job, resolved, slot);
    if (pod.metadata?.annotations?.[SPEC_HASH] !== desired.metadata?.annotations?.[SPEC_HASH]) {
      await remove(pod, 'its spec is outdated');
      rolledOut = false;
      continue;
    }
    if (isReady(pod)) ready++;
  }

  for (let slot = 0; slot < wanted; slot++) {
    if (bySlot.has(slot)) continue;
    const desired = desiredTaskManagerPod(job, resolved, slot);
    const answer = await rest.send('POST', podsPath, { body: desired });
    if (answer.status === 201) {
      if (slot < previous) replaced++;
      context.log('info', `${where}: created pod ${desired.metadata?.name}`);
    } else if (answer.status !== 409) {
      throw apiError('POST', podsPath, answer);
    }
  }
  return {
    ready,
    replaced,
    present: list.items.length,
    template: rolledOut ? template : job.status?.taskManagerTemplate,
  };
}

/** The task-manager pods' template, the same for every slot. */
function taskManagerTemplateHash(resolved: ResolvedJob): string {
  return specHash(taskManagerPodSpec(resolved));
}

/** A condition, keeping its transition time when its status has not changed. */
function condition(
  context: ReconcileContext,
  job: SluiceJob,
  type: string,
  status: Condition['status'],
  reason: string,
  message: string,
): Condition {
  const previous = job.status?.conditions?.find((c) => c.type === type);
  const lastTransitionTime =
    previous !== undefined && previous.status === status
      ? previous.lastTransitionTime
      : rfc3339(context.now());
  const result: Condition = { type, status, reason, message, lastTransitionTime };
  if (job.metadata.generation !== undefined) result.observedGeneration = job.metadata.generation;
  return result;
}

/** Writes the status subresource, only when it changed (a write would wake the watch again). */
async function writeStatus(
  context: ReconcileContext,
  job: SluiceJob,
  status: SluiceJobStatus,
): Promise<SluiceJob> {
  const merged: SluiceJobStatus = { ...job.status, ...status };
  if (canonical(merged) === canonical(job.status ?? {})) return job;
  return context.rest.call<SluiceJob>(
    'PUT',
    `${sluiceJobPath(job.metadata.namespace, job.metadata.name)}/status`,
    {
      // The resourceVersion makes this a compare-and-swap: a concurrent spec change wins, and the
      // next pass reports on it.
      body: { ...job, status: merged },
    },
  );
}

/** JSON with object keys sorted: the server hands a custom resource back with its keys sorted. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
