import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { installSluiceJobCrd } from '../crd/install.ts';
import { SLUICE_JOB } from '../crd/sluice-job-crd.ts';
import type { KubeRest } from '../kube/rest.ts';
import { createCheckpointVolume } from '../testing/checkpoint-volume.ts';
import { createNamespace, deleteNamespace, RESTRICTED } from '../testing/namespaces.ts';
import { K8S_TIMEOUT_MS, testbedRuns, useTestbed } from '../testing/use-testbed.ts';
import { waitUntil } from '../testing/wait.ts';
import { SluiceJobOperator } from './operator.ts';
import { sluiceJobPath } from './reconcile.ts';
import type { SluiceJob } from './sluice-job.ts';

vi.setConfig({ testTimeout: K8S_TIMEOUT_MS, hookTimeout: K8S_TIMEOUT_MS });

/**
 * The operator against a real control plane: kwok plays the node, so pods are scheduled and
 * become Running and Ready without containers. The namespace enforces the "restricted" Pod
 * Security Standard, so every pod the operator makes is admitted under it or the test fails.
 */
describe.runIf(testbedRuns(import.meta.url))('the SluiceJob operator with kwok nodes', () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  let namespace: string;
  let operator: SluiceJobOperator;
  let removeVolume: (() => Promise<void>) | undefined;
  const logs: string[] = [];

  beforeAll(async () => {
    const { rest: client, kubeConfig } = testbed();
    rest = client;
    await installSluiceJobCrd(rest);
    namespace = await createNamespace(rest, 'operator', RESTRICTED);
    removeVolume = await createCheckpointVolume(rest, namespace, 'clicks-checkpoints');
    operator = new SluiceJobOperator({
      kubeConfig,
      namespace,
      identity: 'operator-a',
      resyncMs: 5_000,
      log: (level, message) => logs.push(`${level}: ${message}`),
    });
    operator.start();
    await waitUntil('operator-a leading', async () => operator.leading);
  });

  // On a failure, what the cluster looked like: the job's status, its pods, the node.
  afterEach(async (context) => {
    if (context.task.result?.state !== 'fail' || namespace === undefined) return;
    const [current, pods, node] = await Promise.all([
      rest.get<SluiceJob>(sluiceJobPath(namespace, 'clicks')),
      rest.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`),
      rest.get<{ status?: { conditions?: unknown[] } }>(`/api/v1/nodes/${testbed().bed.nodeName}`),
    ]);
    const podLines = pods.items.map(
      (p) =>
        `${p.metadata?.name} ${p.status?.phase} ready=${running(p)}${p.metadata?.deletionTimestamp ? ' deleting' : ''}`,
    );
    process.stderr.write(
      `operator.test.ts diagnostics: status ${JSON.stringify(current?.status)}\npods: ${podLines.join(', ')}\n` +
        `node: ${JSON.stringify(node?.status?.conditions)}\noperator log (last 20): ${logs.slice(-20).join('\n')}\n`,
    );
  });

  afterAll(async () => {
    await operator?.stop();
    if (namespace !== undefined) await deleteNamespace(rest, namespace);
    await removeVolume?.();
  });

  const jobPath = () => sluiceJobPath(namespace, 'clicks');
  const taskManagers = async (): Promise<V1Pod[]> => {
    const list = await rest.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
      query: { labelSelector: 'app.kubernetes.io/instance=clicks,app.kubernetes.io/component=taskmanager' },
    });
    return list.items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  };
  const running = (pod: V1Pod) =>
    pod.metadata?.deletionTimestamp === undefined &&
    pod.status?.phase === 'Running' &&
    pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  const jobManagerPods = async (): Promise<V1Pod[]> =>
    (
      await rest.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
        query: { labelSelector: 'app.kubernetes.io/instance=clicks,app.kubernetes.io/component=jobmanager' },
      })
    ).items;
  const job = () => rest.call<SluiceJob>('GET', jobPath());

  it('runs a SluiceJob at parallelism 4 as a job manager and exactly 4 task-manager pods, owned by it', async () => {
    const created = await rest.call<SluiceJob>('POST', sluiceJobPath(namespace), {
      body: {
        apiVersion: SLUICE_JOB.apiVersion,
        kind: SLUICE_JOB.kind,
        metadata: { name: 'clicks' },
        // No job manager runs on kwok to take a savepoint: these upgrades resume the newest
        // checkpoint (upgrade.server.test.ts runs a real job manager for the savepoint mode).
        spec: {
          image: 'sluice/clicks:1',
          job: '/app/job.js',
          parallelism: 4,
          checkpointIntervalMs: 5000,
          upgradeMode: 'last-state',
        },
      },
    });
    const status = await waitUntil('SluiceJob clicks Running', async () => {
      const current = await job();
      return current.status?.phase === 'Running' ? current.status : undefined;
    });
    expect(status).toMatchObject({
      phase: 'Running',
      parallelism: 4,
      readyTaskManagers: 4,
      jobManagerReady: true,
      taskManagerReplacements: 0,
      observedGeneration: created.metadata.generation,
    });
    expect(status.conditions?.map((c) => [c.type, c.status])).toEqual([
      ['Ready', 'True'],
      ['JobManagerReady', 'True'],
      ['TaskManagersReady', 'True'],
    ]);

    const pods = await taskManagers();
    expect(pods.map((p) => p.metadata?.name)).toEqual([0, 1, 2, 3].map((i) => `clicks-taskmanager-${i}`));
    expect(pods.every(running)).toBe(true);
    for (const pod of pods) {
      expect(pod.metadata?.ownerReferences).toEqual([
        {
          apiVersion: SLUICE_JOB.apiVersion,
          kind: 'SluiceJob',
          name: 'clicks',
          uid: created.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(pod.spec?.containers[0]?.args).toContain('--slots');
      expect(pod.spec?.nodeName).toBe(testbed().bed.nodeName);
    }
    const deployment = await rest.call<V1Deployment>(
      'GET',
      `/apis/apps/v1/namespaces/${namespace}/deployments/clicks-jobmanager`,
    );
    expect(deployment.metadata?.ownerReferences?.[0]?.uid).toBe(created.metadata.uid);
    expect(deployment.spec?.template.spec?.containers[0]?.args?.slice(0, 4)).toEqual([
      'jobmanager',
      '/app/job.js',
      '-p',
      '4',
    ]);
    expect((await jobManagerPods()).filter(running)).toHaveLength(1);
    // The disruption budget counts the pods against the SluiceJob's scale subresource.
    const budget = await waitUntil('the disruption budget computed', async () => {
      const pdb = await rest.get<{
        status?: { expectedPods?: number; currentHealthy?: number; disruptionsAllowed?: number };
      }>(`/apis/policy/v1/namespaces/${namespace}/poddisruptionbudgets/clicks-taskmanager`);
      return pdb?.status?.expectedPods === 4 && pdb.status.currentHealthy === 4 ? pdb.status : undefined;
    });
    expect(budget.disruptionsAllowed).toBe(1);
    // The same NetworkPolicies as rendered manifests, owned by the SluiceJob.
    for (const component of ['taskmanager', 'jobmanager']) {
      const policy = await rest.call<{
        metadata: { ownerReferences: { uid: string }[] };
        spec: { policyTypes: string[] };
      }>('GET', `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies/clicks-${component}`);
      expect(policy.metadata.ownerReferences[0]?.uid).toBe(created.metadata.uid);
      expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    }
    // The operator made the cluster secret, and owns it.
    const secret = await rest.call<{
      data: { secret: string };
      metadata: { ownerReferences: { uid: string }[] };
    }>('GET', `/api/v1/namespaces/${namespace}/secrets/clicks-cluster-secret`);
    expect(Buffer.from(secret.data.secret, 'base64').length).toBeGreaterThanOrEqual(16);
    expect(secret.metadata.ownerReferences[0]?.uid).toBe(created.metadata.uid);
  });

  it('replaces a deleted task-manager pod and counts the replacement', async () => {
    const before = (await taskManagers()).find((p) => p.metadata?.name === 'clicks-taskmanager-2');
    const oldUid = before?.metadata?.uid;
    expect(oldUid).toBeDefined();
    await rest.call('DELETE', `/api/v1/namespaces/${namespace}/pods/clicks-taskmanager-2`);
    await waitUntil('a new clicks-taskmanager-2 running', async () => {
      const pod = (await taskManagers()).find((p) => p.metadata?.name === 'clicks-taskmanager-2');
      return pod !== undefined && pod.metadata?.uid !== oldUid && running(pod);
    });
    const status = await waitUntil('status counts one replacement, Running', async () => {
      const current = await job();
      return current.status?.taskManagerReplacements === 1 && current.status.phase === 'Running'
        ? current.status
        : undefined;
    });
    expect(status.readyTaskManagers).toBe(4);
    expect((await taskManagers()).filter(running)).toHaveLength(4);
  });

  it('replaces a task-manager pod that failed', async () => {
    const before = (await taskManagers()).find((p) => p.metadata?.name === 'clicks-taskmanager-1');
    // What a kubelet reports when the container exits and the pod cannot restart it.
    await rest.call('PATCH', `/api/v1/namespaces/${namespace}/pods/clicks-taskmanager-1/status`, {
      body: { status: { phase: 'Failed', reason: 'Error' } },
      contentType: 'application/merge-patch+json',
    });
    await waitUntil('a new clicks-taskmanager-1 running', async () => {
      const pod = (await taskManagers()).find((p) => p.metadata?.name === 'clicks-taskmanager-1');
      return pod !== undefined && pod.metadata?.uid !== before?.metadata?.uid && running(pod);
    });
    await waitUntil('status counts two replacements, Running', async () => {
      const current = await job();
      return current.status?.taskManagerReplacements === 2 && current.status.phase === 'Running';
    });
  });

  it('rescales from 4 to 2: two task-manager pods go, the job manager runs at -p 2', async () => {
    await rest.call('PATCH', jobPath(), {
      body: { spec: { parallelism: 2 } },
      contentType: 'application/merge-patch+json',
    });
    await waitUntil('exactly slots 0 and 1 left', async () => {
      const pods = await taskManagers();
      return (
        pods.map((p) => p.metadata?.name).join() === 'clicks-taskmanager-0,clicks-taskmanager-1' &&
        pods.every(running)
      );
    });
    const status = await waitUntil('status at parallelism 2, Running', async () => {
      const current = await job();
      return current.status?.parallelism === 2 &&
        current.status.phase === 'Running' &&
        current.status.observedGeneration === current.metadata.generation
        ? current.status
        : undefined;
    });
    expect(status.readyTaskManagers).toBe(2);
    const deployment = await rest.call<V1Deployment>(
      'GET',
      `/apis/apps/v1/namespaces/${namespace}/deployments/clicks-jobmanager`,
    );
    expect(deployment.spec?.template.spec?.containers[0]?.args?.slice(0, 4)).toEqual([
      'jobmanager',
      '/app/job.js',
      '-p',
      '2',
    ]);
    await waitUntil('one job-manager pod, running the new spec', async () => {
      const pods = await jobManagerPods();
      return (
        pods.length === 1 &&
        running(pods[0] as V1Pod) &&
        pods[0]?.spec?.containers[0]?.args?.slice(0, 4).join(' ') === 'jobmanager /app/job.js -p 2'
      );
    });
  });

  it('moves every pod to a new image when the spec changes (not counted as replacements)', async () => {
    await rest.call('PATCH', jobPath(), {
      body: { spec: { image: 'sluice/clicks:2' } },
      contentType: 'application/merge-patch+json',
    });
    await waitUntil('every pod on sluice/clicks:2, running', async () => {
      const pods = [...(await taskManagers()), ...(await jobManagerPods())];
      return (
        pods.length === 3 &&
        pods.every((p) => running(p) && p.spec?.containers[0]?.image === 'sluice/clicks:2')
      );
    });
    const status = await waitUntil('status Running for the new generation', async () => {
      const current = await job();
      return current.status?.phase === 'Running' &&
        current.status.observedGeneration === current.metadata.generation
        ? current.status
        : undefined;
    });
    expect(status.taskManagerReplacements).toBe(2);
  });

  it('gets a new job-manager pod from its Deployment when the old one is deleted', async () => {
    const [before] = (await jobManagerPods()).filter(running);
    await rest.call('DELETE', `/api/v1/namespaces/${namespace}/pods/${before?.metadata?.name}`);
    await waitUntil('another job-manager pod running, the job Running', async () => {
      const pods = (await jobManagerPods()).filter(running);
      const current = await job();
      return (
        pods.length === 1 &&
        pods[0]?.metadata?.uid !== before?.metadata?.uid &&
        current.status?.phase === 'Running'
      );
    });
  });

  it('suspends the job (no pod left) and resumes it', async () => {
    await rest.call('PATCH', jobPath(), {
      body: { spec: { suspend: true } },
      contentType: 'application/merge-patch+json',
    });
    const suspended = await waitUntil('SluiceJob Suspended', async () => {
      const current = await job();
      return current.status?.phase === 'Suspended' ? current.status : undefined;
    });
    expect(suspended.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'Suspended' });
    expect(await taskManagers()).toEqual([]);
    expect(await jobManagerPods()).toEqual([]);
    const deployment = await rest.call<V1Deployment>(
      'GET',
      `/apis/apps/v1/namespaces/${namespace}/deployments/clicks-jobmanager`,
    );
    expect(deployment.spec?.replicas).toBe(0);

    await rest.call('PATCH', jobPath(), {
      body: { spec: { suspend: false } },
      contentType: 'application/merge-patch+json',
    });
    const resumed = await waitUntil('SluiceJob Running again', async () => {
      const current = await job();
      return current.status?.phase === 'Running' &&
        current.status.observedGeneration === current.metadata.generation
        ? current.status
        : undefined;
    });
    expect(resumed.readyTaskManagers).toBe(2);
    expect((await taskManagers()).filter(running)).toHaveLength(2);
    expect((await jobManagerPods()).filter(running)).toHaveLength(1);
    // Pods made again after a suspension are not replacements of lost ones.
    expect(resumed.taskManagerReplacements).toBe(2);
  });

  it('reports a spec it cannot run as Failed, naming the field', async () => {
    // The schema cannot see every rule the operator applies: a name too long for pod names.
    const name = 'a-job-name-that-is-far-too-long-for-its-pod-names';
    await rest.call('POST', sluiceJobPath(namespace), {
      body: {
        apiVersion: SLUICE_JOB.apiVersion,
        kind: SLUICE_JOB.kind,
        metadata: { name },
        spec: { image: 'sluice/clicks:1', job: '/app/job.js', parallelism: 1 },
      },
    });
    const status = await waitUntil('SluiceJob Failed', async () => {
      const current = await rest.call<SluiceJob>('GET', sluiceJobPath(namespace, name));
      return current.status?.phase === 'Failed' ? current.status : undefined;
    });
    expect(status.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'InvalidSpec' });
    expect(status.conditions?.[0]?.message).toMatch(
      new RegExp(`SluiceJob ${namespace}/${name}: name .* at most 40 characters`),
    );
    await rest.call('DELETE', sluiceJobPath(namespace, name));
  });

  it('leaves nothing behind when the SluiceJob is deleted (garbage collection by owner)', async () => {
    await rest.call('DELETE', jobPath());
    await waitUntil('every object of the job gone', async () => {
      const selector = { labelSelector: 'app.kubernetes.io/instance=clicks' };
      const [pods, deployments, services, configMaps, accounts, budgets, policies] = await Promise.all([
        rest.call<{ items: unknown[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, { query: selector }),
        rest.call<{ items: unknown[] }>('GET', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
          query: selector,
        }),
        rest.call<{ items: unknown[] }>('GET', `/api/v1/namespaces/${namespace}/services`, {
          query: selector,
        }),
        rest.call<{ items: unknown[] }>('GET', `/api/v1/namespaces/${namespace}/configmaps`, {
          query: selector,
        }),
        rest.call<{ items: unknown[] }>('GET', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
          query: selector,
        }),
        rest.call<{ items: unknown[] }>(
          'GET',
          `/apis/policy/v1/namespaces/${namespace}/poddisruptionbudgets`,
          {
            query: selector,
          },
        ),
        rest.call<{ items: unknown[] }>(
          'GET',
          `/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies`,
          {
            query: selector,
          },
        ),
      ]);
      const secret = await rest.get(`/api/v1/namespaces/${namespace}/secrets/clicks-cluster-secret`);
      return (
        [pods, deployments, services, configMaps, accounts, budgets, policies].every(
          (l) => l.items.length === 0,
        ) && secret === undefined
      );
    });
    // The checkpoint claim is the user's, not the job's: it stays.
    expect(
      await rest.get(`/api/v1/namespaces/${namespace}/persistentvolumeclaims/clicks-checkpoints`),
    ).toBeDefined();
    expect(logs.filter((line) => line.startsWith('error'))).toEqual([]);
  });
});
