import { spawnSync } from 'node:child_process';
import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from './cli/main.ts';
import { collectionPath } from './kube/kinds.ts';
import type { KubeRest } from './kube/rest.ts';
import { render } from './render.ts';
import { createCheckpointVolume } from './testing/checkpoint-volume.ts';
import { createNamespace, deleteNamespace, RESTRICTED } from './testing/namespaces.ts';
import { testbedBinary } from './testing/testbed-paths.ts';
import { K8S_TIMEOUT_MS, testbedRuns, useTestbed } from './testing/use-testbed.ts';
import { waitUntil } from './testing/wait.ts';

vi.setConfig({ testTimeout: K8S_TIMEOUT_MS, hookTimeout: K8S_TIMEOUT_MS });

/**
 * Every rendered manifest against a real API server, as `kubectl apply --dry-run=server
 * --validate=strict` would send it: field validation, defaulting, admission — in a namespace
 * that enforces the "restricted" Pod Security Standard. Nothing is stored (dryRun=All).
 */
describe.runIf(testbedRuns(import.meta.url))('rendered manifests on a real API server', () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  let namespace: string;
  beforeAll(async () => {
    rest = testbed().rest;
    namespace = await createNamespace(rest, 'render', RESTRICTED);
    // A pod is admitted only once its ServiceAccount exists, which a dry run does not store.
    const account = render({
      name: 'clicks',
      namespace,
      image: 'sluice/clicks:1',
      job: '/app/job.js',
      parallelism: 1,
    })[0];
    await rest.call('POST', collectionPath(account as KubernetesObject), { body: account });
  });
  afterAll(async () => {
    if (namespace !== undefined) await deleteNamespace(rest, namespace);
  });

  const dryRun = (object: KubernetesObject) =>
    rest.send('POST', collectionPath(object), {
      body: object,
      query: { dryRun: 'All', fieldValidation: 'Strict' },
    });

  it('accepts every object, strictly validated, without a warning', async () => {
    // Another job than the one whose ServiceAccount exists, so every object is new.
    const objects = render({
      name: 'orders',
      namespace,
      image: 'sluice/clicks:1',
      job: '/app/job.js',
      parallelism: 4,
    });
    for (const object of objects) {
      const answer = await dryRun(object);
      expect({
        object: `${object.kind}/${object.metadata?.name}`,
        status: answer.status,
        body: answer.body,
      }).toMatchObject({
        status: 201,
      });
      // A Deployment whose pods the namespace would refuse is stored with a Pod Security warning.
      expect(answer.warnings, `${object.kind}/${object.metadata?.name}`).toEqual([]);
    }
  });

  it('admits the pods of every Deployment under the restricted Pod Security Standard', async () => {
    const objects = render({
      name: 'clicks',
      namespace,
      image: 'sluice/clicks:1',
      job: '/app/job.js',
      parallelism: 2,
    });
    const deployments = objects.filter((o): o is V1Deployment => o.kind === 'Deployment');
    expect(deployments).toHaveLength(2);
    for (const deployment of deployments) {
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${deployment.metadata?.name}-probe`,
          namespace,
          labels: deployment.spec?.template.metadata?.labels,
        },
        spec: deployment.spec?.template.spec,
      };
      const answer = await dryRun(pod);
      expect({ pod: pod.metadata.name, status: answer.status, body: answer.body }).toMatchObject({
        status: 201,
      });
    }
  });

  it('is what `sluice-k8s render | kubectl apply --dry-run=server -f -` applies', async () => {
    let yaml = '';
    const code = await main(
      ['render', '/app/job.js', '--name', 'payments', '-n', namespace, '--image', 'sluice/pay:1', '-p', '3'],
      {
        stdout: (text) => (yaml += text),
        stderr: (text) => {
          throw new Error(`render wrote to stderr: ${text}`);
        },
      },
    );
    expect(code).toBe(0);
    const kubectl = spawnSync(
      testbedBinary('kubectl'),
      [
        '--kubeconfig',
        testbed().bed.kubeconfigPath,
        'apply',
        '--dry-run=server',
        '--validate=strict',
        '-f',
        '-',
      ],
      { input: yaml, encoding: 'utf8', timeout: 120_000 },
    );
    expect({ status: kubectl.status, stderr: kubectl.stderr }).toEqual({ status: 0, stderr: '' });
    const lines = kubectl.stdout.trim().split('\n');
    expect(lines).toHaveLength(12);
    expect(lines.every((line) => line.endsWith('created (server dry run)'))).toBe(true);
  });

  it('comes up when applied for real: one job-manager pod and a running pod per slot, under the restricted standard', async () => {
    const ns = await createNamespace(rest, 'render-apply', RESTRICTED);
    const removeVolume = await createCheckpointVolume(rest, ns, 'ledger-checkpoints', false);
    try {
      for (const object of render({
        name: 'ledger',
        namespace: ns,
        image: 'sluice/ledger:1',
        job: '/app/job.js',
        parallelism: 3,
        // The class of the volume made above (the testbed has no provisioner).
        checkpointStorage: { storageClassName: 'sluice-test', size: '1Gi' },
      })) {
        await rest.call('POST', collectionPath(object), { body: object });
      }
      const pods = (component: string) =>
        rest.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${ns}/pods`, {
          query: {
            labelSelector: `app.kubernetes.io/instance=ledger,app.kubernetes.io/component=${component}`,
          },
        });
      const running = (pod: V1Pod) =>
        pod.status?.phase === 'Running' &&
        pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
      let seen = '';
      await waitUntil('3 task-manager pods and 1 job-manager pod running', async () => {
        const [tms, jms] = await Promise.all([pods('taskmanager'), pods('jobmanager')]);
        seen = [...tms.items, ...jms.items]
          .map((p) => `${p.metadata?.name}:${p.status?.phase}:${running(p)}`)
          .join(' ');
        return (
          tms.items.length === 3 &&
          tms.items.every(running) &&
          jms.items.length === 1 &&
          jms.items.every(running)
        );
      }).catch(async (error: unknown) => {
        // Say why: the pods as last seen and the namespace's events (scheduling, binding).
        const events = await rest.call<{ items: { reason: string; message: string }[] }>(
          'GET',
          `/api/v1/namespaces/${ns}/events`,
        );
        const why = events.items.map((e) => `${e.reason}: ${e.message}`).join(' | ');
        throw new Error(`${String(error)}; pods seen last: ${seen}; events: ${why}`);
      });
      // The disruption controller may first count the pods before they are ready: wait for its
      // status to see them healthy, as the operator's test does.
      const budget = await waitUntil('the disruption budget computed', async () => {
        const pdb = await rest.get<{
          status?: { expectedPods?: number; currentHealthy?: number; disruptionsAllowed?: number };
        }>(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/ledger-taskmanager`);
        return pdb?.status?.expectedPods === 3 && pdb.status.currentHealthy === 3 ? pdb.status : undefined;
      });
      expect(budget.disruptionsAllowed).toBe(1);
      const [tm] = (await pods('taskmanager')).items;
      expect(tm?.spec?.containers[0]?.args).toContain('--slots');
      expect(tm?.spec?.securityContext?.runAsUser).toBe(10001);
    } finally {
      await deleteNamespace(rest, ns);
      await removeVolume();
    }
  });

  it('is checked for real: the same namespace refuses a pod that would run as root', async () => {
    const [, , , , , , , jm] = render({
      name: 'clicks',
      namespace,
      image: 'sluice/clicks:1',
      job: '/app/job.js',
      parallelism: 1,
    });
    const spec = structuredClone((jm as V1Deployment).spec?.template.spec);
    if (spec?.securityContext === undefined) throw new Error('rendered pod spec without a security context');
    spec.securityContext.runAsNonRoot = false;
    spec.securityContext.runAsUser = 0;
    const answer = await dryRun({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'root-pod', namespace },
      spec,
    } as KubernetesObject);
    expect(answer.status).toBe(403);
    expect((answer.body as { message: string }).message).toMatch(/violates PodSecurity "restricted:latest"/);
  });

  it('is checked for real: strict field validation refuses a misspelt field', async () => {
    const objects = render({
      name: 'clicks',
      namespace,
      image: 'sluice/clicks:1',
      job: '/app/job.js',
      parallelism: 1,
    });
    const service = structuredClone(objects.find((o) => o.kind === 'Service')) as KubernetesObject & {
      spec: Record<string, unknown>;
    };
    service.spec.selectr = {};
    const answer = await dryRun(service);
    expect(answer.status).toBe(400);
    expect((answer.body as { message: string }).message).toMatch(/unknown field "spec.selectr"/);
  });
});
