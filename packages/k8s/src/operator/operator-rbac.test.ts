import { KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SLUICE_JOB } from '../crd/sluice-job-crd.ts';
import { collectionPath } from '../kube/kinds.ts';
import type { KubeRest } from '../kube/rest.ts';
import { OPERATOR_NAME, operatorManifests } from '../manifests/operator.ts';
import { createCheckpointVolume } from '../testing/checkpoint-volume.ts';
import { createNamespace, deleteNamespace, RESTRICTED } from '../testing/namespaces.ts';
import { K8S_TIMEOUT_MS, testbedRuns, useTestbed } from '../testing/use-testbed.ts';
import { waitUntil } from '../testing/wait.ts';
import { SluiceJobOperator } from './operator.ts';
import { sluiceJobPath } from './reconcile.ts';
import type { SluiceJob } from './sluice-job.ts';

vi.setConfig({ testTimeout: K8S_TIMEOUT_MS, hookTimeout: K8S_TIMEOUT_MS });

/**
 * The operator's own manifests: admitted in a restricted namespace, and its Role is enough — the
 * operator runs here with a token of its ServiceAccount, so the API server's RBAC refuses any
 * call the Role does not grant, and the job must still come up, be repaired and be rescaled.
 */
describe.runIf(testbedRuns(import.meta.url))("the operator's manifests and least-privilege Role", () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  let namespace: string;
  let operator: SluiceJobOperator | undefined;
  let removeVolume: (() => Promise<void>) | undefined;
  const logs: string[] = [];

  beforeAll(async () => {
    rest = testbed().rest;
    namespace = await createNamespace(rest, 'rbac', RESTRICTED);
    removeVolume = await createCheckpointVolume(rest, namespace, 'orders-checkpoints');
  });
  afterAll(async () => {
    await operator?.stop();
    if (namespace !== undefined) await deleteNamespace(rest, namespace);
    await removeVolume?.();
  });

  it('are admitted under the restricted Pod Security Standard', async () => {
    const objects = operatorManifests({ namespace, image: 'sluice/operator:1' });
    expect(objects.map((o) => o.kind)).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'Deployment']);
    for (const object of objects.slice(0, 3))
      await rest.call('POST', collectionPath(object), { body: object });
    const deployment = objects[3] as V1Deployment;
    const answer = await rest.send('POST', collectionPath(deployment), {
      body: deployment,
      query: { dryRun: 'All', fieldValidation: 'Strict' },
    });
    expect({ status: answer.status, warnings: answer.warnings }).toEqual({ status: 201, warnings: [] });
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'operator-probe', namespace },
      spec: deployment.spec?.template.spec,
    };
    const podAnswer = await rest.send('POST', collectionPath(pod), { body: pod, query: { dryRun: 'All' } });
    expect({ status: podAnswer.status, body: podAnswer.body }).toMatchObject({ status: 201 });
  });

  it('grants all the operator needs: with only its token it deploys, repairs and rescales a job', async () => {
    const { bed } = testbed();
    const token = await rest.call<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/${OPERATOR_NAME}/token`,
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 3600 },
        },
      },
    );
    const admin = testbed().kubeConfig;
    const caFile = admin.getCurrentCluster()?.caFile;
    const asOperator = new KubeConfig();
    asOperator.loadFromOptions({
      clusters: [{ name: 'testbed', server: bed.server, ...(caFile === undefined ? {} : { caFile }) }],
      users: [{ name: OPERATOR_NAME, token: token.status.token }],
      contexts: [{ name: 'operator', cluster: 'testbed', user: OPERATOR_NAME }],
      currentContext: 'operator',
    });
    // The token is really limited: listing pods in another namespace is refused.
    const { KubeRest } = await import('../kube/rest.ts');
    const limited = new KubeRest(asOperator);
    expect((await limited.send('GET', '/api/v1/namespaces/default/pods')).status).toBe(403);

    operator = new SluiceJobOperator({
      kubeConfig: asOperator,
      namespace,
      identity: 'rbac-operator',
      resyncMs: 5_000,
      log: (level, message) => logs.push(`${level}: ${message}`),
    });
    operator.start();
    await rest.call('POST', sluiceJobPath(namespace), {
      body: {
        apiVersion: SLUICE_JOB.apiVersion,
        kind: SLUICE_JOB.kind,
        metadata: { name: 'orders' },
        // No job manager runs on kwok to take a savepoint: upgrades resume the newest checkpoint.
        spec: { image: 'sluice/orders:1', job: '/app/job.js', parallelism: 3, upgradeMode: 'last-state' },
      },
    });
    const job = () => rest.call<SluiceJob>('GET', sluiceJobPath(namespace, 'orders'));
    const taskManagers = async () =>
      (
        await rest.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
          query: {
            labelSelector: 'app.kubernetes.io/instance=orders,app.kubernetes.io/component=taskmanager',
          },
        })
      ).items.filter((p) => p.metadata?.deletionTimestamp === undefined);
    await waitUntil('orders Running at parallelism 3', async () => {
      const current = await job();
      return current.status?.phase === 'Running' && current.status.readyTaskManagers === 3;
    });
    await rest.call('DELETE', `/api/v1/namespaces/${namespace}/pods/orders-taskmanager-0`);
    await waitUntil(
      'orders-taskmanager-0 replaced',
      async () => (await job()).status?.taskManagerReplacements === 1,
    );
    await rest.call('PATCH', sluiceJobPath(namespace, 'orders'), {
      body: { spec: { parallelism: 1 } },
      contentType: 'application/merge-patch+json',
    });
    await waitUntil('orders Running at parallelism 1 with one task manager', async () => {
      const current = await job();
      const pods = await taskManagers();
      return current.status?.phase === 'Running' && current.status.parallelism === 1 && pods.length === 1;
    });
    expect(logs.filter((line) => /forbidden|HTTP 403/i.test(line))).toEqual([]);
  });
});
