import { describe, expect, it } from 'vitest';
import { JobManagerApiError } from '../errors.ts';
import { resolveJob, type SluiceJobSpec } from '../job-spec.ts';
import type { JobManagerClient, JobManagerJob, JobManagerSavepoint } from './jobmanager-client.ts';
import type { SluiceJob, SluiceJobStatus } from './sluice-job.ts';
import { deployedSpecOf, observeJobManager, savepointOnDemand, upgradeStep } from './upgrade.ts';

/**
 * The upgrade steps, pass by pass, with a job manager that answers as told and a clock that
 * moves when the test says. What they do against a real API server and a real job manager is
 * upgrade.server.test.ts's; here, the branches that are hard to bring about there.
 */

const T0 = Date.parse('2026-12-05T09:00:00Z');
const SAVEPOINT = '/sluice/checkpoints/sums/savepoints/savepoint-2026-12-05T09-00-00-000Z-7';
const v1: SluiceJobSpec = { image: 'sluice/sums:1', job: '/app/job.js', parallelism: 4 };

/**
 * A job manager whose savepoint request 7 (a savepoint, or a stop with one) is in the state
 * `answer` gives, and whose job is as `job` says (running by default).
 */
function jobManager(
  answer: () => JobManagerSavepoint | Error,
  job: Partial<JobManagerJob> = {},
): JobManagerClient & { triggered: number; stopped: number } {
  const request = { id: 7, status: 'in-progress' as const, requestedAtMs: T0, folder: null, error: null };
  const client = {
    triggered: 0,
    stopped: 0,
    job: async () => ({
      name: 'sums',
      status: 'running',
      startedAtMs: T0 + 5_000,
      durationMs: 1_000,
      parallelism: 2,
      restarts: 1,
      finalSavepoint: null,
      ...job,
    }),
    checkpoints: async () => [],
    triggerSavepoint: async () => {
      client.triggered++;
      return request;
    },
    stop: async () => {
      client.stopped++;
      return request;
    },
    savepoint: async () => {
      const result = answer();
      if (result instanceof Error) throw result;
      return result;
    },
  };
  return client;
}

const inProgress = (): JobManagerSavepoint => ({
  id: 7,
  status: 'in-progress',
  requestedAtMs: T0,
  folder: null,
  error: null,
});
const completed = (): JobManagerSavepoint => ({ ...inProgress(), status: 'completed', folder: SAVEPOINT });

function sluiceJob(spec: SluiceJobSpec, status: SluiceJobStatus, generation = 2): SluiceJob {
  return {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'SluiceJob',
    metadata: { name: 'sums', namespace: 'shop', uid: 'u', generation },
    spec,
    status,
  };
}

const deployedV1: SluiceJobStatus = {
  phase: 'Running',
  deployedSpec: deployedSpecOf(v1),
  deployedSuspended: false,
  start: {
    mode: 'initial',
    generation: 1,
    settled: true,
    rolledOutAt: '2026-12-05T08:00:00Z',
    notBeforeMs: 0,
  },
};

function step(job: SluiceJob, client: JobManagerClient | undefined, nowMs = T0) {
  const resolved = resolveJob('sums', 'shop', job.spec, 'test');
  return upgradeStep({ job, resolved, client, now: () => nowMs, log: () => {} });
}

describe('an upgrade in savepoint mode, pass by pass', () => {
  const v2 = { ...v1, parallelism: 2 };

  it('stops the job with a savepoint and keeps the running spec; the next pass rolls out restoring it', async () => {
    const client = jobManager(inProgress);
    const first = await step(sluiceJob(v2, deployedV1), client);
    expect([client.stopped, client.triggered]).toEqual([1, 0]);
    expect(first.deploySpec).toEqual(deployedSpecOf(v1));
    expect(first.status.upgrade).toMatchObject({
      generation: 2,
      step: 'Savepointing',
      requestId: 7,
      requestedAtMs: T0,
    });
    expect(first.upgraded?.[1]).toBe('Savepointing');
    expect(first.requeueAfterMs).toBeGreaterThan(0);

    const waiting = await step(
      sluiceJob(v2, { ...deployedV1, upgrade: first.status.upgrade }),
      client,
      T0 + 1_000,
    );
    expect(client.stopped).toBe(1);
    expect(waiting.deploySpec.parallelism).toBe(4);

    const done = jobManager(completed);
    const rolled = await step(
      sluiceJob(v2, { ...deployedV1, upgrade: first.status.upgrade }),
      done,
      T0 + 2_000,
    );
    expect(done.stopped).toBe(0);
    expect(rolled.deploySpec.parallelism).toBe(2);
    expect(rolled.start).toMatchObject({
      mode: 'savepoint',
      savepoint: SAVEPOINT,
      settled: false,
      notBeforeMs: T0,
    });
    expect(rolled.status.upgrade).toBeUndefined();
    expect(rolled.status.lastSavepoint).toEqual({
      location: SAVEPOINT,
      time: '2026-12-05T09:00:00Z',
      trigger: 'upgrade',
    });
    expect(rolled.upgraded?.[0]).toBe('True');
  });

  it('rolls out from the savepoint a job manager says its job was stopped with, though no stop is recorded', async () => {
    // The operator asked for the stop and crashed before recording it; or the stop completed after
    // the timeout failed the upgrade. The job manager (kept serving, not ready) reports the end.
    const stoppedJob = { status: 'stopped', startedAtMs: T0, durationMs: 2_000, finalSavepoint: SAVEPOINT };
    const notReady = { ...deployedV1, phase: 'Deploying' as const };
    const timedOut = { ...notReady, upgrade: { generation: 2, step: 'Failed' as const, error: 'timeout' } };
    for (const status of [notReady, timedOut]) {
      const client = jobManager(inProgress, stoppedJob);
      const rolled = await step(sluiceJob(v2, status), client);
      expect(client.stopped).toBe(0);
      expect(rolled.deploySpec.parallelism).toBe(2);
      expect(rolled.start).toMatchObject({
        mode: 'savepoint',
        savepoint: SAVEPOINT,
        notBeforeMs: T0 + 2_000,
      });
      expect(rolled.status.lastSavepoint).toMatchObject({ location: SAVEPOINT, trigger: 'upgrade' });
      expect(rolled.upgraded?.[1]).toBe('RolledOut');
    }
    // Ended any other way, it has no savepoint to give: nothing rolled out, and the condition says why.
    const failedJob = jobManager(inProgress, { status: 'failed' });
    const kept = await step(sluiceJob(v2, notReady), failedJob);
    expect(failedJob.stopped).toBe(0);
    expect(kept.deploySpec.parallelism).toBe(4);
    expect(kept.upgraded?.[1]).toBe('SavepointFailed');
    expect(kept.upgraded?.[2]).toMatch(/the job has ended \(failed\) without a stop savepoint to restore/);
  });

  it('fails, rolling nothing out, when the savepoint fails, times out, or its request is gone', async () => {
    const asked = {
      ...deployedV1,
      upgrade: {
        generation: 2,
        step: 'Savepointing' as const,
        requestId: 7,
        requestedAt: '2026-12-05T09:00:00Z',
        requestedAtMs: T0,
      },
    };
    const cases: [() => JobManagerSavepoint | Error, number, RegExp][] = [
      [
        () => ({ ...inProgress(), status: 'failed', error: 'a slot failed' }),
        T0,
        /the savepoint failed: a slot failed/,
      ],
      [inProgress, T0 + 30_001, /no savepoint within savepointTimeoutMs \(30000 ms\)/],
      [
        () => new JobManagerApiError('no answer', undefined),
        T0 + 30_001,
        /within savepointTimeoutMs .*; last: no answer/,
      ],
      [() => new JobManagerApiError('gone', 404), T0, /no longer knows savepoint request 7 \(it restarted\)/],
      [() => ({ ...completed(), requestedAtMs: T0 + 99 }), T0, /its request 7 is another savepoint/],
    ];
    for (const [answer, nowMs, message] of cases) {
      const result = await step(sluiceJob(v2, asked), jobManager(answer), nowMs);
      expect(result.deploySpec.parallelism).toBe(4);
      expect(result.status.upgrade).toMatchObject({ generation: 2, step: 'Failed' });
      expect(result.upgraded?.[1]).toBe('SavepointFailed');
      expect(result.upgraded?.[2]).toMatch(message);
    }
    // Unreachable within the timeout: polled again.
    const again = await step(
      sluiceJob(v2, asked),
      jobManager(() => new JobManagerApiError('no answer', undefined)),
      T0 + 1,
    );
    expect(again.status.upgrade?.step).toBe('Savepointing');
  });

  it('does not try again for the generation whose savepoint failed; a new generation does', async () => {
    const failed = { ...deployedV1, upgrade: { generation: 2, step: 'Failed' as const, error: 'x' } };
    const client = jobManager(inProgress);
    expect((await step(sluiceJob(v2, failed), client)).upgraded?.[1]).toBe('SavepointFailed');
    expect(client.stopped).toBe(0);
    await step(sluiceJob({ ...v2, parallelism: 3 }, failed, 3), client);
    expect(client.stopped).toBe(1);
  });

  it('waits for a job that is not Running yet instead of failing', async () => {
    const client = jobManager(inProgress);
    const result = await step(sluiceJob(v2, { ...deployedV1, phase: 'Deploying' }), client);
    expect(client.stopped).toBe(0);
    expect(result.upgraded?.[1]).toBe('WaitingForJob');
    expect(result.status.upgrade).toBeUndefined();
  });
});

describe('the other modes and suspension', () => {
  it('last-state and stateless deploy at once', async () => {
    const client = jobManager(inProgress);
    const lastState = await step(
      sluiceJob({ ...v1, image: 'x:2', upgradeMode: 'last-state' }, deployedV1),
      client,
    );
    expect(lastState.start).toMatchObject({ mode: 'last-state', settled: true, generation: 2 });
    const stateless = await step(
      sluiceJob({ ...v1, image: 'x:2', upgradeMode: 'stateless' }, deployedV1),
      client,
    );
    expect(stateless.start).toMatchObject({ mode: 'stateless', settled: false });
    expect([client.stopped, client.triggered]).toEqual([0, 0]);
  });

  it('a change while suspended restores the suspension savepoint; a resume without one keeps the start', async () => {
    const suspendedWithSavepoint: SluiceJobStatus = {
      ...deployedV1,
      deployedSuspended: true,
      start: {
        mode: 'savepoint',
        savepoint: SAVEPOINT,
        generation: 2,
        settled: false,
        rolledOutAt: '2026-12-05T09:00:00Z',
        notBeforeMs: T0,
      },
    };
    const client = jobManager(inProgress);
    const changed = await step(
      sluiceJob({ ...v1, image: 'x:2', suspend: true }, suspendedWithSavepoint, 3),
      client,
    );
    expect(changed.start).toMatchObject({ mode: 'savepoint', savepoint: SAVEPOINT, generation: 3 });
    expect(changed.deploySuspended).toBe(true);
    const resumed = await step(sluiceJob(v1, suspendedWithSavepoint, 3), client);
    expect(resumed.start).toBe(suspendedWithSavepoint.start);
    expect(resumed.deploySuspended).toBe(false);
    expect([client.stopped, client.triggered]).toEqual([0, 0]);
  });
});

describe('a savepoint on demand and what the job manager reports', () => {
  it('a new nonce is asked for once, polled, then reported; a job not Running is waited for', async () => {
    const resolved = (spec: SluiceJobSpec) => resolveJob('sums', 'shop', spec, 'test');
    const spec = { ...v1, savepointTriggerNonce: 5 };
    const client = jobManager(completed);
    const inputs = (status: SluiceJobStatus) => ({
      job: sluiceJob(spec, status),
      resolved: resolved(spec),
      client,
      now: () => T0,
      log: () => {},
    });
    const waiting = await savepointOnDemand(inputs({ ...deployedV1, phase: 'Deploying' }), undefined, false);
    expect(waiting.savepointRequest).toMatchObject({ nonce: 5, state: 'InProgress' });
    expect(client.triggered).toBe(0);
    const asked = await savepointOnDemand(
      inputs({ ...deployedV1, savepointRequest: waiting.savepointRequest }),
      undefined,
      false,
    );
    expect(client.triggered).toBe(1);
    const done = await savepointOnDemand(
      inputs({ ...deployedV1, savepointRequest: asked.savepointRequest }),
      undefined,
      false,
    );
    expect(done.savepointRequest).toMatchObject({ nonce: 5, state: 'Completed', location: SAVEPOINT });
    expect(done.lastSavepoint).toMatchObject({ location: SAVEPOINT, trigger: 'manual', nonce: 5 });
    const seen = await savepointOnDemand(
      inputs({ ...deployedV1, savepointRequest: done.savepointRequest }),
      done.lastSavepoint,
      false,
    );
    expect(seen.savepointRequest).toBe(done.savepointRequest);
    expect(client.triggered).toBe(1);
  });

  it('settles a start once the job manager started after it has checkpointed; unreachable keeps the old values', async () => {
    const resolved = resolveJob('sums', 'shop', v1, 'test');
    const start = {
      mode: 'savepoint' as const,
      savepoint: SAVEPOINT,
      generation: 2,
      settled: false,
      rolledOutAt: '2026-12-05T09:00:00Z',
      notBeforeMs: T0,
    };
    const checkpointed = {
      ...jobManager(completed),
      checkpoints: async () => [
        {
          id: 12,
          kind: 'checkpoint' as const,
          status: 'completed' as const,
          triggeredAtMs: T0 + 6_000,
          durationMs: 40,
          bytes: 900,
        },
      ],
    };
    const inputs = (client: JobManagerClient) => ({
      job: sluiceJob(v1, {
        ...deployedV1,
        lastCheckpoint: { id: 3, triggeredAt: 'x', completedAt: 'x', durationMs: 1, location: 'y' },
        restarts: 0,
      }),
      resolved,
      client,
      now: () => T0,
      log: () => {},
    });
    const observed = await observeJobManager(inputs(checkpointed), start, resolved);
    expect(observed.start.settled).toBe(true);
    expect(observed.restarts).toBe(1);
    expect(observed.lastCheckpoint).toEqual({
      id: 12,
      triggeredAt: '2026-12-05T09:00:06Z',
      completedAt: '2026-12-05T09:00:06Z',
      durationMs: 40,
      bytes: 900,
      location: '/sluice/checkpoints/sums/checkpoints/chk-12',
    });
    // The old job manager (started before the savepoint) does not settle it.
    const old = {
      ...checkpointed,
      job: async () => ({
        name: 'sums',
        status: 'running',
        startedAtMs: T0 - 1,
        durationMs: 1,
        parallelism: 4,
        restarts: 0,
      }),
    };
    expect((await observeJobManager(inputs(old), start, resolved)).start.settled).toBe(false);
    const unreachable = {
      ...checkpointed,
      job: async () => Promise.reject(new JobManagerApiError('no answer', undefined)),
    };
    const kept = await observeJobManager(inputs(unreachable), start, resolved);
    expect(kept).toEqual({
      lastCheckpoint: { id: 3, triggeredAt: 'x', completedAt: 'x', durationMs: 1, location: 'y' },
      restarts: 0,
      start,
    });
  });
});
