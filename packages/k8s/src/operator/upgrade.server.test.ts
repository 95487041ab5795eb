import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { V1ConfigMap, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.ts';
import { installSluiceJobCrd } from '../crd/install.ts';
import { SLUICE_JOB } from '../crd/sluice-job-crd.ts';
import type { KubeRest } from '../kube/rest.ts';
import { createCheckpointVolume } from '../testing/checkpoint-volume.ts';
import { type LocalJobManager, startLocalJobManager } from '../testing/local-job-manager.ts';
import { createNamespace, deleteNamespace, RESTRICTED } from '../testing/namespaces.ts';
import { K8S_TIMEOUT_MS, testbedRuns, useTestbed } from '../testing/use-testbed.ts';
import { waitUntil } from '../testing/wait.ts';
import { SluiceJobOperator } from './operator.ts';
import { type ReconcileContext, reconcileSluiceJob, sluiceJobPath } from './reconcile.ts';
import type { SluiceJob } from './sluice-job.ts';

vi.setConfig({ testTimeout: K8S_TIMEOUT_MS, hookTimeout: K8S_TIMEOUT_MS });

const TOKEN = 'a-rest-token-for-the-operator-tests-0123456789';

/**
 * Upgrades, rescaling and savepoints against a real control plane (kwok plays the pods) and a
 * REAL job manager: kwok's pods run nothing, so a `sluice jobmanager` with its task managers runs
 * as local processes, started as the pod would start it (REST token, SLUICE_RESTORE), and the
 * operator is pointed at its REST API. Its savepoints are real folders; the test checks that the
 * Deployment the operator rolls out restores exactly the folder the job manager wrote, and that a
 * job manager started that way (at the new parallelism) runs.
 */
describe.runIf(testbedRuns(import.meta.url))('upgrades through savepoints, with a real job manager', () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  let namespace: string;
  let operator: SluiceJobOperator;
  let startOperator: () => Promise<void>;
  let removeVolume: (() => Promise<void>) | undefined;
  let work: string;
  let jobManager: LocalJobManager | undefined;
  /** Where the operator finds the job manager; a refused port when none runs. */
  let jobManagerUrl = 'http://127.0.0.1:1';
  const logs: string[] = [];

  beforeAll(async () => {
    const { rest: client, kubeConfig } = testbed();
    rest = client;
    await installSluiceJobCrd(rest);
    namespace = await createNamespace(rest, 'upgrade', RESTRICTED);
    removeVolume = await createCheckpointVolume(rest, namespace, 'sums-checkpoints');
    work = mkdtempSync(join(tmpdir(), 'sluice-upgrade-test-'));
    mkdirSync(join(work, 'checkpoints'));
    mkdirSync(join(work, 'savepoints'));
    // The operator makes this Secret when it is missing; the test makes it first, to know the token.
    await rest.call('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'sums-rest-token' },
        data: { token: Buffer.from(TOKEN).toString('base64') },
      },
    });
    jobManager = await startLocalJobManager({
      parallelism: 4,
      taskManagers: 2,
      checkpointDir: join(work, 'checkpoints'),
      savepointDir: join(work, 'savepoints'),
      token: TOKEN,
    });
    jobManagerUrl = jobManager.url;
    startOperator = async () => {
      operator = new SluiceJobOperator({
        kubeConfig,
        namespace,
        identity: 'upgrade-test',
        resyncMs: 2_000,
        jobManagerUrl: () => jobManagerUrl,
        log: (level, message) => logs.push(`${level}: ${message}`),
      });
      operator.start();
      await waitUntil('the operator leading', async () => operator.leading);
    };
    await startOperator();
  });

  afterEach(async (context) => {
    if (context.task.result?.state !== 'fail' || namespace === undefined) return;
    const current = await rest.get<SluiceJob>(jobPath());
    process.stderr.write(
      `upgrade.server.test.ts diagnostics: status ${JSON.stringify(current?.status)}\noperator log (last 30):\n${logs.slice(-30).join('\n')}\n`,
    );
  });

  afterAll(async () => {
    await operator?.stop();
    await jobManager?.kill();
    if (namespace !== undefined) await deleteNamespace(rest, namespace);
    await removeVolume?.();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  const jobPath = () => sluiceJobPath(namespace, 'sums');
  const job = () => rest.call<SluiceJob>('GET', jobPath());
  const patchSpec = (spec: Record<string, unknown>) =>
    rest.call<SluiceJob>('PATCH', jobPath(), {
      body: { spec },
      contentType: 'application/merge-patch+json',
    });
  const deployment = () =>
    rest.call<V1Deployment>('GET', `/apis/apps/v1/namespaces/${namespace}/deployments/sums-jobmanager`);
  const configMap = async () =>
    (await rest.call<V1ConfigMap>('GET', `/api/v1/namespaces/${namespace}/configmaps/sums-config`)).data ??
    {};
  const taskManagers = async () =>
    (
      await rest.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
        query: { labelSelector: 'app.kubernetes.io/instance=sums,app.kubernetes.io/component=taskmanager' },
      })
    ).items;
  const savepointFolders = () => readdirSync(join(work, 'savepoints')).sort();
  /**
   * The SluiceJob once a pass has deployed generation `generation` to the end: its objects
   * applied and the `Upgraded` condition written (the start alone is recorded before the objects
   * change).
   */
  const deployedGeneration = (generation: number) =>
    waitUntil(`generation ${generation} deployed`, async () => {
      const current = await job();
      const upgraded = current.status?.conditions?.find((c) => c.type === 'Upgraded');
      return current.status?.start?.generation === generation &&
        current.status.upgrade === undefined &&
        upgraded?.status === 'True' &&
        upgraded.observedGeneration === generation
        ? current
        : undefined;
    });
  const jobManagerContainer = async () => (await deployment()).spec?.template.spec?.containers[0];
  /** What the job-manager pod does when it starts: a job manager as the ConfigMap says. */
  const startJobManagerAsThePod = async (parallelism: number) => {
    await jobManager?.kill();
    jobManager = await startLocalJobManager({
      parallelism,
      taskManagers: 2,
      checkpointDir: join(work, 'checkpoints'),
      savepointDir: join(work, 'savepoints'),
      token: TOKEN,
      restore: (await configMap()).SLUICE_RESTORE,
    });
    jobManagerUrl = jobManager.url;
    return jobManager;
  };

  it('deploys the job with its REST API, and reads the last completed checkpoint from it', async () => {
    await rest.call('POST', sluiceJobPath(namespace), {
      body: {
        apiVersion: SLUICE_JOB.apiVersion,
        kind: SLUICE_JOB.kind,
        metadata: { name: 'sums' },
        // A nonce given with the job: its savepoint is taken once the job runs.
        spec: {
          image: 'sluice/sums:1',
          job: '/app/job.js',
          parallelism: 4,
          checkpointIntervalMs: 500,
          savepointTriggerNonce: 0,
        },
      },
    });
    const running = await waitUntil('sums Running, its first savepoint written', async () => {
      const current = await job();
      return current.status?.phase === 'Running' &&
        current.status.lastCheckpoint !== undefined &&
        current.status.savepointRequest?.state === 'Completed'
        ? current
        : undefined;
    });
    expect(running.status?.savepointRequest?.nonce).toBe(0);
    expect(existsSync(join(running.status?.savepointRequest?.location as string, '_metadata'))).toBe(true);
    // The CRD's default.
    expect(running.spec.upgradeMode).toBe('savepoint');
    expect(running.status?.start).toMatchObject({ mode: 'initial', generation: 1, settled: true });
    expect(running.status?.restarts).toBe(0);
    const checkpoint = running.status?.lastCheckpoint;
    expect(checkpoint?.id).toBeGreaterThan(0);
    expect(checkpoint?.location).toBe(`/sluice/checkpoints/sums/checkpoints/chk-${checkpoint?.id}`);
    // The job manager serves its API on the rest port, the token from the operator's Secret.
    const container = await jobManagerContainer();
    // Kept up after the job has ended: an upgrade reads where the stop's savepoint went.
    expect(container?.args?.slice(-5)).toEqual([
      '--web',
      '8081',
      '--web-host',
      '0.0.0.0',
      '--keep-serving-after-end',
    ]);
    expect(container?.env?.find((e) => e.name === 'SLUICE_WEB_TOKEN')?.valueFrom?.secretKeyRef).toEqual({
      name: 'sums-rest-token',
      key: 'token',
    });
    expect(container?.ports?.find((p) => p.name === 'rest')?.containerPort).toBe(8081);
    expect(await configMap()).toMatchObject({ SLUICE_RESTORE: '', SLUICE_FRESH: '' });
    // Only the operator's pods may reach the REST port.
    const policy = await rest.call<{ spec: { ingress: { from: unknown[]; ports: { port: number }[] }[] } }>(
      'GET',
      `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies/sums-jobmanager`,
    );
    expect(policy.spec.ingress.find((rule) => rule.ports[0]?.port === 8081)?.from).toEqual([
      { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'sluice-operator' } } },
    ]);
  });

  it('upgrades the image through a savepoint: the new Deployment restores exactly the folder the job manager wrote', async () => {
    const before = savepointFolders();
    const patched = await patchSpec({ image: 'sluice/sums:2' });
    const upgraded = await deployedGeneration(patched.metadata.generation ?? 0);
    const start = upgraded.status?.start;
    expect(start?.mode).toBe('savepoint');
    const folder = start?.savepoint as string;
    // A real savepoint, new, written by the job manager into its savepoint folder.
    expect(savepointFolders()).toEqual([...before, basename(folder)].sort());
    expect(existsSync(join(folder, '_metadata'))).toBe(true);
    expect(upgraded.status?.lastSavepoint).toMatchObject({ location: folder, trigger: 'upgrade' });
    expect(upgraded.status?.conditions?.find((c) => c.type === 'Upgraded')).toMatchObject({
      status: 'True',
      reason: 'RolledOut',
    });
    // The new job manager restores that savepoint: the ConfigMap says so to every start of the pod.
    expect(await configMap()).toMatchObject({ SLUICE_RESTORE: folder, SLUICE_FRESH: '' });
    const container = await jobManagerContainer();
    expect(container?.image).toBe('sluice/sums:2');
    expect(container?.env?.find((e) => e.name === 'SLUICE_RESTORE')?.valueFrom?.configMapKeyRef).toEqual({
      name: 'sums-config',
      key: 'SLUICE_RESTORE',
    });
    expect((await deployment()).spec?.template.metadata?.annotations?.['sluice.dev/start']).toBe(
      `savepoint ${folder} (generation ${patched.metadata.generation})`,
    );
    // The old job was stopped with that savepoint (not cancelled after it): its job manager, kept
    // serving after the end, says so, and the savepoint was its last checkpoint — none completed
    // after it, so nothing it processed after the savepoint was committed.
    const old = jobManager as LocalJobManager;
    expect(old.running()).toBe(true);
    expect(await old.api('/api/job')).toMatchObject({ status: 'stopped', finalSavepoint: folder });
    const history = await old.api<{ latest: { id: number; kind: string; status: string } }>(
      '/api/checkpoints',
    );
    expect(history.latest).toMatchObject({ kind: 'savepoint', status: 'completed' });
    expect(old.log()).toMatch(/stopped through the REST API/);
    // A job manager whose job has ended is reported as such (here the operator still reaches the
    // old one: kwok's new pod runs nothing), not as a job being deployed.
    const finished = await waitUntil('sums Finished, Ready False JobEnded', async () => {
      const current = await job();
      return current.status?.phase === 'Finished' ? current : undefined;
    });
    expect(finished.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'JobEnded',
      message: expect.stringContaining(`the job has ended (stopped, with savepoint ${folder})`),
    });
    // The rollout's SIGTERM ends it, with the exit code of a job stopped through the API.
    expect(await old.terminate()).toBe(0);
    // The new pod's job manager restores exactly that savepoint (kwok runs nothing: started here),
    // and no checkpoint of the old job is newer: no output it committed is produced again.
    const restored = await startJobManagerAsThePod(4);
    expect(restored.log()).toContain(`restoring ${folder} (checkpoint ${history.latest.id}, a savepoint)`);
    expect(restored.log()).not.toMatch(/resuming job 'keyed-sum' from checkpoint/);
    expect(restored.log()).not.toMatch(/WARNING: restoring checkpoint/);
    await waitUntil('every task manager on sluice/sums:2', async () => {
      const pods = await taskManagers();
      return (
        pods.length === 4 &&
        pods.every(
          (p) =>
            p.metadata?.deletionTimestamp === undefined && p.spec?.containers[0]?.image === 'sluice/sums:2',
        )
      );
    });
  });

  it('rescales 4 → 2 through a savepoint; a job manager restoring it at parallelism 2 runs, and the start settles', async () => {
    const previous = (await job()).status?.start?.savepoint;
    const patched = await patchSpec({ parallelism: 2 });
    const upgraded = await deployedGeneration(patched.metadata.generation ?? 0);
    const folder = upgraded.status?.start?.savepoint as string;
    expect(upgraded.status?.start?.mode).toBe('savepoint');
    // A savepoint of its own, taken at parallelism 4.
    expect(folder).not.toBe(previous);
    expect(existsSync(join(folder, '_metadata'))).toBe(true);
    expect(await configMap()).toMatchObject({ SLUICE_RESTORE: folder });
    expect((await jobManagerContainer())?.args?.slice(0, 4)).toEqual([
      'jobmanager',
      '/app/job.js',
      '-p',
      '2',
    ]);
    await waitUntil('exactly 2 task-manager pods', async () => {
      const pods = (await taskManagers()).filter((p) => p.metadata?.deletionTimestamp === undefined);
      return (
        pods.length === 2 &&
        pods
          .map((p) => p.metadata?.name)
          .sort()
          .join() === 'sums-taskmanager-0,sums-taskmanager-1'
      );
    });
    expect((await job()).status?.parallelism).toBe(2);

    // What the new pod would do: a job manager at -p 2 restoring the savepoint the ConfigMap names.
    const restored = await startJobManagerAsThePod(2);
    // It restored the savepoint: it did not resume the newest checkpoint of its folder, and the
    // stopped job completed no checkpoint after it.
    expect(restored.log()).toContain(`restoring ${folder} (checkpoint`);
    expect(restored.log()).not.toMatch(/resuming job 'keyed-sum' from checkpoint/);
    expect(restored.log()).not.toMatch(/WARNING: restoring checkpoint/);
    // Once that run has completed a checkpoint, a restart must resume it, not the savepoint.
    const settled = await waitUntil('the start settled, the ConfigMap back to resuming', async () => {
      const current = await job();
      const data = await configMap();
      return current.status?.start?.settled === true && data.SLUICE_RESTORE === '' ? current : undefined;
    });
    expect(settled.status?.restarts).toBe(0);
    expect(settled.status?.start?.savepoint).toBe(folder);

    // And so it does: the job manager started again (a crash, a lost node) with what the
    // ConfigMap says now resumes the newest checkpoint of the run at parallelism 2.
    const again = await startJobManagerAsThePod(2);
    expect(again.log()).toMatch(/resuming job 'keyed-sum' from checkpoint \d+/);
  });

  it('sluice-k8s savepoint: a savepoint on demand, reported in status.lastSavepoint', async () => {
    let stdout = '';
    const code = await main(
      ['savepoint', 'sums', '-n', namespace, '--kubeconfig', testbed().bed.kubeconfigPath, '--wait'],
      { stdout: (t) => (stdout += t), stderr: (t) => (stdout += t) },
    );
    expect(code).toBe(0);
    const current = await job();
    const last = current.status?.lastSavepoint;
    expect(last).toMatchObject({ trigger: 'manual', nonce: 1 });
    expect(current.spec.savepointTriggerNonce).toBe(1);
    expect(stdout).toContain(`savepoint written to ${last?.location}`);
    expect(existsSync(last?.location as string)).toBe(true);
    expect(current.status?.conditions?.find((c) => c.type === 'Savepoint')).toMatchObject({
      status: 'True',
      reason: 'Completed',
    });
    // `status` shows it, with the last checkpoint and how the deployed generation started.
    let printed = '';
    expect(
      await main(['status', 'sums', '-n', namespace, '--kubeconfig', testbed().bed.kubeconfigPath], {
        stdout: (t) => (printed += t),
        stderr: (t) => (printed += t),
      }),
    ).toBe(0);
    expect(printed).toContain(`savepoint:      ${last?.location} at ${last?.time} (manual)`);
    expect(printed).toMatch(
      /checkpoint: +\d+ completed at \S+ \(\/sluice\/checkpoints\/sums\/checkpoints\/chk-\d+\)/,
    );
    expect(printed).toMatch(/upgrade mode: +savepoint; deployed generation \d+ \(savepoint from \S+\)/);
  });

  it('last-state and stateless upgrades deploy at once, resuming or starting fresh, without a savepoint', async () => {
    const before = savepointFolders();
    const lastState = await patchSpec({ upgradeMode: 'last-state', args: { round: '1' } });
    const resumed = await deployedGeneration(lastState.metadata.generation ?? 0);
    expect(resumed.status?.start).toMatchObject({ mode: 'last-state', settled: true });
    expect(await configMap()).toMatchObject({
      SLUICE_RESTORE: '',
      SLUICE_FRESH: '',
      SLUICE_JOB_ARGS: '{"round":"1"}',
    });
    expect((await deployment()).spec?.template.metadata?.annotations?.['sluice.dev/start']).toBe(
      `last-state (generation ${lastState.metadata.generation})`,
    );

    const stateless = await patchSpec({ upgradeMode: 'stateless', args: { round: '2' } });
    const fresh = await deployedGeneration(stateless.metadata.generation ?? 0);
    expect(fresh.status?.start).toMatchObject({ mode: 'stateless' });
    expect(await configMap()).toMatchObject({ SLUICE_RESTORE: '', SLUICE_FRESH: 'true' });
    expect((await deployment()).spec?.template.metadata?.annotations?.['sluice.dev/start']).toBe(
      `stateless (generation ${stateless.metadata.generation})`,
    );
    expect(savepointFolders()).toEqual(before);
  });

  it('a savepoint that fails rolls nothing out, keeps the running job, and says why', async () => {
    await patchSpec({ upgradeMode: 'savepoint' });
    const deployedBefore = (await job()).status?.deployedSpec;
    const configBefore = await configMap();
    // The job manager goes away: nothing answers the operator's savepoint request.
    await jobManager?.kill();
    jobManager = undefined;
    const patched = await patchSpec({ image: 'sluice/sums:3' });
    const failed = await waitUntil('the Upgraded condition False, SavepointFailed', async () => {
      const current = await job();
      const upgraded = current.status?.conditions?.find((c) => c.type === 'Upgraded');
      // (WaitingForJob first, while the last rollout's job-manager pod is not ready yet.)
      return upgraded?.reason === 'SavepointFailed' &&
        upgraded.observedGeneration === patched.metadata.generation
        ? current
        : undefined;
    });
    const upgraded = failed.status?.conditions?.find((c) => c.type === 'Upgraded');
    expect(upgraded?.reason).toBe('SavepointFailed');
    expect(upgraded?.message).toMatch(
      new RegExp(
        `generation ${patched.metadata.generation} not deployed, the running job is kept: the savepoint failed: POST http://127.0.0.1:\\d+/api/stop: no answer`,
      ),
    );
    expect(failed.status?.upgrade).toMatchObject({ generation: patched.metadata.generation, step: 'Failed' });
    expect(failed.status?.deployedSpec).toEqual(deployedBefore);
    // Give the operator a few more passes: still nothing rolled out.
    const passes = operator.reconciliations;
    await waitUntil('three more reconciliations', async () => operator.reconciliations >= passes + 3);
    expect((await jobManagerContainer())?.image).toBe('sluice/sums:2');
    expect(await configMap()).toEqual(configBefore);
    expect((await taskManagers()).every((p) => p.spec?.containers[0]?.image === 'sluice/sums:2')).toBe(true);
    expect(logs.filter((line) => line.startsWith('error'))).toEqual([]);

    // Back to the image that runs: nothing to upgrade any more, and the condition says so.
    const reverted = await patchSpec({ image: 'sluice/sums:2' });
    const upToDate = await waitUntil('the Upgraded condition UpToDate', async () => {
      const current = await job();
      const upgraded = current.status?.conditions?.find((c) => c.type === 'Upgraded');
      return upgraded?.reason === 'UpToDate' && upgraded.observedGeneration === reverted.metadata.generation
        ? current
        : undefined;
    });
    expect(upToDate.status?.upgrade).toBeUndefined();
    expect(upToDate.status?.conditions?.find((c) => c.type === 'Upgraded')?.status).toBe('True');
  });

  it('resumes an upgrade where a stopped operator left it: the savepoint asked for is polled, never asked for again', async () => {
    // Its savepoint is asked for only once the job is Running.
    await waitUntil('sums Running', async () => (await job()).status?.phase === 'Running');
    await operator.stop();
    jobManager = await startLocalJobManager({
      parallelism: 2,
      taskManagers: 2,
      checkpointDir: join(work, 'checkpoints'),
      savepointDir: join(work, 'savepoints'),
      token: TOKEN,
    });
    jobManagerUrl = jobManager.url;
    const before = savepointFolders();
    const patched = await patchSpec({ image: 'sluice/sums:4' });
    // One pass, as the stopped operator made it: it asks for the savepoint and records the request.
    const context: ReconcileContext = {
      rest,
      now: Date.now,
      log: (level, message) => logs.push(`${level}: ${message}`),
      jobManagerUrl: () => jobManagerUrl,
    };
    await reconcileSluiceJob(context, namespace, 'sums');
    const asked = await job();
    expect(asked.status?.upgrade).toMatchObject({
      step: 'Savepointing',
      generation: patched.metadata.generation,
    });
    expect(asked.status?.phase).toBe('Upgrading');
    expect((await jobManagerContainer())?.image).toBe('sluice/sums:2');

    // Another operator takes over from the status.
    await startOperator();
    const upgraded = await deployedGeneration(patched.metadata.generation ?? 0);
    const folder = upgraded.status?.start?.savepoint as string;
    expect(upgraded.status?.lastSavepoint?.location).toBe(folder);
    expect(savepointFolders()).toEqual([...before, basename(folder)].sort());
    expect(folder).toMatch(new RegExp(`-${asked.status?.upgrade?.requestId}$`));
    expect((await jobManagerContainer())?.image).toBe('sluice/sums:4');
    expect(await configMap()).toMatchObject({ SLUICE_RESTORE: folder });
  });

  it('suspends through a savepoint (savepoint mode) and resumes restoring it', async () => {
    // The last upgrade's job manager, as its pod starts it.
    await startJobManagerAsThePod(2);
    await waitUntil('sums Running', async () => (await job()).status?.phase === 'Running');
    const before = savepointFolders();
    const suspending = await patchSpec({ suspend: true });
    const suspended = await waitUntil('sums Suspended', async () => {
      const current = await job();
      return current.status?.phase === 'Suspended' && current.status.deployedSuspended === true
        ? current
        : undefined;
    });
    const folder = suspended.status?.start?.savepoint as string;
    expect(suspended.status?.start).toMatchObject({
      mode: 'savepoint',
      generation: suspending.metadata.generation,
      settled: false,
    });
    expect(savepointFolders()).toEqual([...before, basename(folder)].sort());
    expect(suspended.status?.lastSavepoint).toMatchObject({ location: folder, trigger: 'upgrade' });
    expect((await deployment()).spec?.replicas).toBe(0);
    expect(await taskManagers()).toEqual([]);
    expect(await configMap()).toMatchObject({ SLUICE_RESTORE: folder });
    // The suspended job was stopped with that savepoint; its job manager, kept serving, says so
    // (until the Deployment's scale to 0 ends it: kwok runs nothing, so the local one is still up).
    expect(await (jobManager as LocalJobManager).api('/api/job')).toMatchObject({
      status: 'stopped',
      finalSavepoint: folder,
    });

    const resuming = await patchSpec({ suspend: false });
    // The resumed pod's job manager, as the ConfigMap tells it to start: restoring the savepoint.
    const restored = await startJobManagerAsThePod(2);
    expect(restored.log()).toContain(`restoring ${folder} (checkpoint`);
    const resumed = await waitUntil('sums Running again', async () => {
      const current = await job();
      return current.status?.phase === 'Running' &&
        current.status.observedGeneration === resuming.metadata.generation
        ? current
        : undefined;
    });
    // The resumed job manager restores the suspension's savepoint; nothing else was taken.
    expect(resumed.status?.start).toMatchObject({ mode: 'savepoint', savepoint: folder });
    expect(await configMap()).toMatchObject({ SLUICE_RESTORE: folder });
    expect((await deployment()).spec?.replicas).toBe(1);
    expect(savepointFolders()).toEqual([...before, basename(folder)].sort());
  });
});
