/**
 * Upgrades and savepoints, the Flink Kubernetes Operator's way, as one step of a reconciliation.
 *
 * The status remembers the spec the running job was deployed with (`deployedSpec`). When the
 * SluiceJob's spec differs in a field of the job (image, job, parallelism, arguments, ...), that
 * is an upgrade, made by `spec.upgradeMode`:
 *
 * - `savepoint`: stop the running job with a savepoint (`POST /api/stop`, Flink's
 *   stop-with-savepoint), poll the request (`GET /api/savepoints/:id`, bounded by
 *   `savepointTimeoutMs`), and only once it has completed — the savepoint written, the job
 *   ended right after it, no checkpoint completed after it — deploy the new spec, its job manager
 *   restoring that savepoint. The job manager runs with `--keep-serving-after-end`, so it still
 *   answers once its job has ended, until the rollout's SIGTERM. Until then the old objects are
 *   kept; a savepoint that fails (the job then runs on) or times out rolls nothing out and says
 *   why in the `Upgraded` condition (a new generation tries again; `upgradeMode: last-state`
 *   gets past a job manager that cannot take one). A job manager whose job has already ended
 *   stopped with a savepoint (a stop this operator asked for before it crashed, one that
 *   completed after the timeout, or anyone's) is rolled out from that savepoint: nothing ran
 *   after it.
 * - `last-state`: deploy at once; the new job manager resumes from the newest checkpoint.
 * - `stateless`: deploy at once; the new job manager starts without state.
 *
 * A rescale is an upgrade like any other (the parallelism is a field of the job): savepoint, new
 * pod count, restore — the core restores a savepoint at any parallelism, keyed state moving by
 * key group.
 *
 * How the new job manager starts lives in `status.start` (and from there in the ConfigMap): a
 * job manager restarted before the new run has completed a checkpoint must restore the savepoint
 * again (or start fresh again); once it has (seen through `/api/checkpoints`), the start is
 * `settled` and a restart resumes from the newest checkpoint, as without an upgrade.
 *
 * Every step is written to the status before the next is taken, and each pass starts from what
 * the status says, so an operator that crashes between steps resumes where it was: a savepoint
 * in flight is polled again, never asked for twice.
 *
 * `spec.savepointTriggerNonce`: a nonce not seen before asks for a savepoint on demand; the result
 * goes to `status.savepointRequest` and `status.lastSavepoint`.
 */
import type { ResolvedJob, SluiceJobSpec } from '../job-spec.ts';
import { checkpointDir } from '../manifests/pods.ts';
import {
  type JobManagerClient,
  type JobManagerSavepoint,
  TERMINAL_JOB_STATUSES,
} from './jobmanager-client.ts';
import { specHash } from './owned.ts';
import type {
  CheckpointInfo,
  DeployedSpec,
  JobStart,
  SavepointInfo,
  SavepointProgress,
  SluiceJob,
  SluiceJobStatus,
  UpgradeProgress,
} from './sluice-job.ts';

/** How often a savepoint in flight is polled. */
export const SAVEPOINT_POLL_MS = 500;

/** The fields of the spec that make the job; a change of any of them is an upgrade. */
export function deployedSpecOf(spec: SluiceJobSpec): DeployedSpec {
  const { suspend: _suspend, upgradeMode: _mode, savepointTriggerNonce: _nonce, ...job } = spec;
  return job;
}

export interface UpgradeStep {
  /** The spec to keep deployed now: the old one while a savepoint is awaited or failed. */
  readonly deploySpec: DeployedSpec;
  /** Whether the deployed job is suspended (a suspension in savepoint mode waits for its savepoint). */
  readonly deploySuspended: boolean;
  readonly start: JobStart;
  readonly status: Pick<
    SluiceJobStatus,
    'deployedSpec' | 'deployedSuspended' | 'start' | 'upgrade' | 'lastSavepoint'
  >;
  /** The `Upgraded` condition, once there was an upgrade: [status, reason, message]. */
  readonly upgraded: readonly ['True' | 'False' | 'Unknown', string, string] | undefined;
  /** Poll again this soon (a savepoint in flight). */
  readonly requeueAfterMs: number | undefined;
}

export interface UpgradeInputs {
  readonly job: SluiceJob;
  readonly resolved: ResolvedJob;
  /** The job manager's REST client; undefined when its token Secret does not exist yet. */
  readonly client: JobManagerClient | undefined;
  readonly now: () => number;
  readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export function rfc3339(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Decides what to deploy, taking or polling the upgrade's savepoint on the way. */
export async function upgradeStep(inputs: UpgradeInputs): Promise<UpgradeStep> {
  const { job, resolved, client, now, log } = inputs;
  const where = `SluiceJob ${resolved.namespace}/${resolved.name}`;
  const status = job.status ?? {};
  const generation = job.metadata.generation ?? 0;
  const wanted = deployedSpecOf(job.spec);
  const deployedSuspended = status.deployedSuspended ?? false;
  const keep = (extra: Partial<UpgradeStep> = {}): UpgradeStep => ({
    deploySpec: status.deployedSpec as DeployedSpec,
    deploySuspended: deployedSuspended,
    start: status.start as JobStart,
    status: {
      deployedSpec: status.deployedSpec,
      deployedSuspended,
      start: status.start,
      upgrade: status.upgrade,
      lastSavepoint: status.lastSavepoint,
    },
    upgraded: previousUpgraded(job),
    requeueAfterMs: undefined,
    ...extra,
  });
  // Deploys the spec as it is now, suspended or not as it says.
  const rollOut = (start: JobStart, lastSavepoint = status.lastSavepoint, why = ''): UpgradeStep => {
    const suspended = resolved.suspended ? ', suspended' : '';
    log('info', `${where}: deploying generation ${generation} (${start.mode}${why}${suspended})`);
    return {
      deploySpec: wanted,
      deploySuspended: resolved.suspended,
      start,
      status: {
        deployedSpec: wanted,
        deployedSuspended: resolved.suspended,
        start,
        upgrade: undefined,
        lastSavepoint,
      },
      upgraded:
        status.deployedSpec === undefined
          ? undefined
          : ['True', 'RolledOut', `generation ${generation} deployed (${start.mode}${why}${suspended})`],
      requeueAfterMs: undefined,
    };
  };
  const newStart = (mode: JobStart['mode'], notBeforeMs: number, savepoint?: string): JobStart => ({
    mode,
    generation,
    ...(savepoint === undefined ? {} : { savepoint }),
    settled: mode === 'initial' || mode === 'last-state',
    rolledOutAt: rfc3339(now()),
    notBeforeMs,
  });

  // The first pass over this job: deploy it as it is.
  if (status.deployedSpec === undefined || status.start === undefined) {
    return rollOut(newStart('initial', now()));
  }
  const changed = specHash(status.deployedSpec) !== specHash(wanted);
  const suspending = resolved.suspended && !deployedSuspended;
  if (!changed && resolved.suspended === deployedSuspended) {
    // Nothing to do. The spec back to what runs ends an upgrade that failed or was waiting (a
    // savepoint in flight is written all the same, but not used).
    if (status.upgrade === undefined) return keep();
    return keep({
      status: { ...keep().status, upgrade: undefined },
      upgraded: [
        'True',
        'UpToDate',
        `the spec is back to the deployed one (generation ${status.start.generation}); upgrade abandoned`,
      ],
    });
  }

  const mode = resolved.upgradeMode;
  const start = status.start;
  if (!suspending && (resolved.suspended || deployedSuspended)) {
    // Suspended, or resuming: no job manager runs to take a savepoint. A resume without a change
    // starts as the suspension left it (restoring its savepoint, in savepoint mode).
    if (!changed) {
      return keep({
        deploySuspended: resolved.suspended,
        status: { ...keep().status, deployedSuspended: resolved.suspended, upgrade: undefined },
      });
    }
    // A change made while suspended: from the suspension's savepoint if it has not been
    // superseded by a checkpoint, else from the newest checkpoint (or without state).
    if (mode === 'stateless') return rollOut(newStart('stateless', now()));
    if (start.mode === 'savepoint' && !start.settled && start.savepoint !== undefined) {
      return rollOut(
        newStart('savepoint', start.notBeforeMs, start.savepoint),
        status.lastSavepoint,
        `, restoring ${start.savepoint}`,
      );
    }
    return rollOut(newStart('last-state', now()));
  }
  if (mode !== 'savepoint') {
    // A suspension alone keeps the start: the job manager's own SIGTERM savepoint goes unused,
    // the resumed one restores the newest checkpoint.
    if (!changed) {
      return keep({
        deploySuspended: true,
        status: { ...keep().status, deployedSuspended: true, upgrade: undefined },
      });
    }
    return rollOut(newStart(mode === 'stateless' ? 'stateless' : 'last-state', now()));
  }

  // Savepoint mode.
  const upgrade = status.upgrade;
  const failed = (error: string, requestedAt?: string): UpgradeStep => {
    log('warn', `${where}: no savepoint for generation ${generation}, nothing rolled out: ${error}`);
    const record: UpgradeProgress = {
      generation,
      step: 'Failed',
      ...(requestedAt === undefined ? {} : { requestedAt }),
      error,
    };
    return keep({
      status: { ...keep().status, upgrade: record },
      upgraded: [
        'False',
        'SavepointFailed',
        `generation ${generation} not ${suspending ? 'suspended' : 'deployed'}, the running job is kept: the savepoint failed: ${error}`,
      ],
    });
  };
  // A job that has ended: stopped with a savepoint, it is deployed restoring that one; ended
  // otherwise, it has no savepoint to give (a stop in flight is polled below instead).
  const ended = upgrade?.step === 'Savepointing' ? undefined : await endedJob(client);
  if (ended?.finalSavepoint !== undefined) {
    const location = ended.finalSavepoint;
    log('info', `${where}: the job has ended, stopped with savepoint ${location}`);
    return rollOut(
      newStart('savepoint', ended.endedAtMs, location),
      { location, time: rfc3339(ended.endedAtMs), trigger: 'upgrade' },
      `, restoring ${location}`,
    );
  }
  if (upgrade?.step === 'Failed' && upgrade.generation === generation) {
    return keep({
      upgraded: [
        'False',
        'SavepointFailed',
        `generation ${generation} not ${suspending ? 'suspended' : 'deployed'}, the running job is kept: the savepoint failed: ${upgrade.error ?? ''}`,
      ],
    });
  }
  if (client === undefined) return failed("the job manager's REST token Secret does not exist");
  if (ended !== undefined) {
    return failed(
      `the job has ended (${ended.status}) without a stop savepoint to restore (upgradeMode last-state deploys from its newest checkpoint)`,
    );
  }

  // A stop in flight (for this generation or an earlier one: it is a stop of the running job all
  // the same) is polled; otherwise one is asked for.
  if (upgrade?.step === 'Savepointing' && upgrade.requestId !== undefined) {
    const requestedAt = upgrade.requestedAt ?? rfc3339(now());
    const polled = await poll(client, upgrade.requestId, upgrade.requestedAtMs);
    if (polled.kind === 'completed') {
      const savepoint: SavepointInfo = {
        location: polled.folder,
        time: rfc3339(polled.requestedAtMs),
        trigger: 'upgrade',
      };
      return rollOut(
        newStart('savepoint', polled.requestedAtMs, polled.folder),
        savepoint,
        `, restoring ${polled.folder}`,
      );
    }
    if (polled.kind === 'failed') return failed(polled.error, requestedAt);
    if (now() > Date.parse(requestedAt) + resolved.savepointTimeoutMs) {
      return failed(
        `no savepoint within savepointTimeoutMs (${resolved.savepointTimeoutMs} ms)${polled.kind === 'unreachable' ? `; last: ${polled.error}` : ''}`,
        requestedAt,
      );
    }
    return keep({
      status: { ...keep().status, upgrade: { ...upgrade, generation } },
      upgraded: [
        'False',
        'Savepointing',
        `taking a savepoint before ${suspending ? 'suspending' : 'deploying'} generation ${generation}`,
      ],
      requeueAfterMs: SAVEPOINT_POLL_MS,
    });
  }
  // A job still being deployed (a change right after the SluiceJob was made, or while the job
  // manager restarts) is waited for rather than failed: its job manager would refuse.
  if (job.status?.phase !== 'Running') {
    return keep({
      upgraded: [
        'False',
        'WaitingForJob',
        `generation ${generation} waits for the job to run to take its savepoint (upgradeMode last-state deploys without one)`,
      ],
    });
  }
  let request: JobManagerSavepoint;
  try {
    request = await client.stop();
  } catch (error) {
    return failed(errorText(error));
  }
  log(
    'info',
    `${where}: stop with savepoint ${request.id} asked for, before ${suspending ? 'suspending' : 'deploying'} generation ${generation}`,
  );
  return keep({
    status: {
      ...keep().status,
      upgrade: {
        generation,
        step: 'Savepointing',
        requestId: request.id,
        requestedAt: rfc3339(now()),
        requestedAtMs: request.requestedAtMs,
      },
    },
    upgraded: [
      'False',
      'Savepointing',
      `taking a savepoint before ${suspending ? 'suspending' : 'deploying'} generation ${generation}`,
    ],
    requeueAfterMs: SAVEPOINT_POLL_MS,
  });
}

/** A job manager's job that has ended, and the savepoint it was stopped with, if it was. */
interface EndedJob {
  readonly status: string;
  readonly finalSavepoint: string | undefined;
  /** When it ended, on the job manager's clock. */
  readonly endedAtMs: number;
}

/** The job, if its job manager answers and says it has ended; undefined otherwise (running, or no answer). */
async function endedJob(client: JobManagerClient | undefined): Promise<EndedJob | undefined> {
  if (client === undefined) return undefined;
  let job: Awaited<ReturnType<JobManagerClient['job']>>;
  try {
    job = await client.job();
  } catch {
    // Unreachable: decided as without an answer (the stop request then says why it fails).
    return undefined;
  }
  if (!TERMINAL_JOB_STATUSES.has(job.status)) return undefined;
  const finalSavepoint =
    job.status === 'stopped' && typeof job.finalSavepoint === 'string' ? job.finalSavepoint : undefined;
  return { status: job.status, finalSavepoint, endedAtMs: job.startedAtMs + job.durationMs };
}

function previousUpgraded(job: SluiceJob): UpgradeStep['upgraded'] {
  const previous = job.status?.conditions?.find((c) => c.type === 'Upgraded');
  return previous === undefined ? undefined : [previous.status, previous.reason, previous.message];
}

type Polled =
  | { kind: 'completed'; folder: string; requestedAtMs: number }
  | { kind: 'failed'; error: string }
  | { kind: 'in-progress' }
  | { kind: 'unreachable'; error: string };

async function poll(
  client: JobManagerClient,
  id: number,
  requestedAtMs: number | undefined,
): Promise<Polled> {
  let answer: JobManagerSavepoint;
  try {
    answer = await client.savepoint(id);
  } catch (error) {
    const status = (error as { status?: number }).status;
    // The job manager restarted: its requests are gone with it, and so is this one.
    if (status === 404)
      return {
        kind: 'failed',
        error: `the job manager no longer knows savepoint request ${id} (it restarted)`,
      };
    return { kind: 'unreachable', error: errorText(error) };
  }
  if (requestedAtMs !== undefined && answer.requestedAtMs !== requestedAtMs) {
    return { kind: 'failed', error: `the job manager restarted: its request ${id} is another savepoint` };
  }
  if (answer.status === 'completed' && answer.folder !== null) {
    return { kind: 'completed', folder: answer.folder, requestedAtMs: answer.requestedAtMs };
  }
  if (answer.status === 'failed') return { kind: 'failed', error: answer.error ?? 'the savepoint failed' };
  return { kind: 'in-progress' };
}

export interface SavepointOnDemand {
  readonly savepointRequest: SavepointProgress | undefined;
  readonly lastSavepoint: SavepointInfo | undefined;
  readonly requeueAfterMs: number | undefined;
}

/** `spec.savepointTriggerNonce`: asks for a savepoint for a new nonce, polls one in flight. */
export async function savepointOnDemand(
  inputs: UpgradeInputs,
  lastSavepoint: SavepointInfo | undefined,
  upgrading: boolean,
): Promise<SavepointOnDemand> {
  const { job, resolved, client, now, log } = inputs;
  const where = `SluiceJob ${resolved.namespace}/${resolved.name}`;
  const request = job.status?.savepointRequest;
  const nonce = resolved.savepointTriggerNonce;
  const unchanged = { savepointRequest: request, lastSavepoint, requeueAfterMs: undefined };
  const failed = (error: string, base: Omit<SavepointProgress, 'state'>): SavepointOnDemand => {
    log('warn', `${where}: the savepoint for nonce ${base.nonce} failed: ${error}`);
    return {
      savepointRequest: { ...base, state: 'Failed', error },
      lastSavepoint,
      requeueAfterMs: undefined,
    };
  };
  // Asked for and not yet sent: a new nonce, or one waiting for the job to run.
  const waiting = request?.state === 'InProgress' && request.requestId === undefined;
  if (nonce !== undefined && (request?.nonce !== nonce || waiting)) {
    // An upgrade's savepoint goes first; the nonce is looked at again once it is deployed.
    if (upgrading) return { ...unchanged, requeueAfterMs: SAVEPOINT_POLL_MS };
    const base = { nonce, requestedAt: request?.nonce === nonce ? request.requestedAt : rfc3339(now()) };
    if (resolved.suspended) return failed('the job is suspended: no job manager runs', base);
    // A job being deployed (a nonce given with a new SluiceJob) is waited for: its job manager
    // would refuse. The status change that says it runs brings the next pass.
    if (job.status?.phase !== 'Running') {
      return { savepointRequest: { ...base, state: 'InProgress' }, lastSavepoint, requeueAfterMs: undefined };
    }
    if (client === undefined) return failed("the job manager's REST token Secret does not exist", base);
    try {
      const started = await client.triggerSavepoint();
      log('info', `${where}: savepoint ${started.id} asked for (nonce ${nonce})`);
      return {
        savepointRequest: {
          ...base,
          state: 'InProgress',
          requestId: started.id,
          requestedAtMs: started.requestedAtMs,
        },
        lastSavepoint,
        requeueAfterMs: SAVEPOINT_POLL_MS,
      };
    } catch (error) {
      return failed(errorText(error), base);
    }
  }
  if (request?.state !== 'InProgress' || request.requestId === undefined) return unchanged;
  const { state: _state, ...base } = request;
  if (client === undefined) return failed("the job manager's REST token Secret does not exist", base);
  const polled = await poll(client, request.requestId, request.requestedAtMs);
  if (polled.kind === 'completed') {
    log('info', `${where}: savepoint for nonce ${request.nonce} written to ${polled.folder}`);
    return {
      savepointRequest: { ...base, state: 'Completed', location: polled.folder },
      lastSavepoint: {
        location: polled.folder,
        time: rfc3339(polled.requestedAtMs),
        trigger: 'manual',
        nonce: request.nonce,
      },
      requeueAfterMs: undefined,
    };
  }
  if (polled.kind === 'failed') return failed(polled.error, base);
  if (now() > Date.parse(request.requestedAt) + resolved.savepointTimeoutMs) {
    return failed(
      `no savepoint within savepointTimeoutMs (${resolved.savepointTimeoutMs} ms)${polled.kind === 'unreachable' ? `; last: ${polled.error}` : ''}`,
      base,
    );
  }
  return { ...unchanged, requeueAfterMs: SAVEPOINT_POLL_MS };
}

export interface Observed {
  readonly lastCheckpoint: CheckpointInfo | undefined;
  readonly restarts: number | undefined;
  /** The start, settled if the new run has completed a checkpoint. */
  readonly start: JobStart;
  /**
   * The job has ended and its job manager, kept serving, says how (`failed`, `finished`,
   * `cancelled`, `stopped` with `finalSavepoint`): it runs nothing until it is replaced.
   */
  readonly ended?: { readonly status: string; readonly finalSavepoint: string | undefined };
}

/**
 * What the job manager reports, read into the status: the newest completed checkpoint, the
 * restarts, and whether an upgrade's start is settled. A job manager that cannot be reached
 * leaves the old values: the REST API informs the status, it never fails a reconciliation.
 */
export async function observeJobManager(
  inputs: UpgradeInputs,
  start: JobStart,
  deployed: ResolvedJob,
): Promise<Observed> {
  const { job, client, log } = inputs;
  const unchanged = { lastCheckpoint: job.status?.lastCheckpoint, restarts: job.status?.restarts, start };
  if (client === undefined) return unchanged;
  let running: Awaited<ReturnType<JobManagerClient['job']>>;
  let history: Awaited<ReturnType<JobManagerClient['checkpoints']>>;
  try {
    [running, history] = await Promise.all([client.job(), client.checkpoints()]);
  } catch (error) {
    log(
      'info',
      `SluiceJob ${deployed.namespace}/${deployed.name}: job manager not reachable: ${errorText(error)}`,
    );
    return unchanged;
  }
  const newest = history.find((c) => c.kind === 'checkpoint' && c.status === 'completed');
  const lastCheckpoint: CheckpointInfo | undefined =
    newest === undefined
      ? job.status?.lastCheckpoint
      : {
          id: newest.id,
          triggeredAt: rfc3339(newest.triggeredAtMs),
          completedAt: rfc3339(newest.triggeredAtMs + newest.durationMs),
          durationMs: newest.durationMs,
          ...(newest.bytes === null ? {} : { bytes: newest.bytes }),
          location: `${checkpointDir(deployed)}/chk-${newest.id}`,
        };
  // Settled: the job manager is the new one (started after the rollout began) and has written a
  // checkpoint of its own run, so a restart may resume from the newest checkpoint.
  const settled =
    start.settled ||
    (running.startedAtMs >= start.notBeforeMs &&
      history.some(
        (c) => c.kind === 'checkpoint' && c.status === 'completed' && c.triggeredAtMs >= running.startedAtMs,
      ));
  if (settled && !start.settled) {
    log(
      'info',
      `SluiceJob ${deployed.namespace}/${deployed.name}: the upgraded run has checkpointed; a restart now resumes from its newest checkpoint`,
    );
  }
  const ended = TERMINAL_JOB_STATUSES.has(running.status)
    ? {
        status: running.status,
        finalSavepoint: typeof running.finalSavepoint === 'string' ? running.finalSavepoint : undefined,
      }
    : undefined;
  return {
    lastCheckpoint,
    restarts: running.restarts,
    start: settled ? { ...start, settled } : start,
    ...(ended === undefined ? {} : { ended }),
  };
}
