import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionPath } from '../kube/kinds.ts';
import type { KubeRest } from '../kube/rest.ts';
import { render } from '../render.ts';
import { createNamespace, deleteNamespace } from '../testing/namespaces.ts';
import { testbedRuns, useTestbed } from '../testing/use-testbed.ts';

/**
 * The host-network variant of the manifests on a real API server: every object strictly
 * validated (dry run), in a namespace that allows privileged pods; and what the docs say of the
 * Pod Security Standards checked for real — a namespace enforcing "baseline" refuses its pods.
 */
describe.runIf(testbedRuns(import.meta.url))('host-network manifests on a real API server', () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  const namespaces: string[] = [];
  beforeAll(() => {
    rest = testbed().rest;
  });
  afterAll(async () => {
    for (const name of namespaces) await deleteNamespace(rest, name);
  });

  const renderIn = (namespace: string) =>
    render({
      name: 'clicks',
      namespace,
      image: 'sluice/clicks:1',
      job: '/app/job.ts',
      parallelism: 3,
      hostNetwork: { checkpointHostPath: '/srv/sluice', controlPort: 7000, dataPort: 7100, healthPort: 7200 },
    });
  const dryRun = (object: KubernetesObject) =>
    rest.send('POST', collectionPath(object), {
      body: object,
      query: { dryRun: 'All', fieldValidation: 'Strict' },
    });
  const podOf = (deployment: V1Deployment, namespace: string): KubernetesObject =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${deployment.metadata?.name}-probe`, namespace },
      spec: deployment.spec?.template.spec,
    }) as KubernetesObject;

  it('accepts every object, strictly validated, without a warning, where privileged pods are allowed', async () => {
    const namespace = await createNamespace(rest, 'host-network', {
      'pod-security.kubernetes.io/enforce': 'privileged',
    });
    namespaces.push(namespace);
    const objects = renderIn(namespace);
    expect(objects.filter((o) => o.kind === 'Deployment')).toHaveLength(4);
    for (const object of objects) {
      const answer = await dryRun(object);
      expect({
        object: `${object.kind}/${object.metadata?.name}`,
        status: answer.status,
        body: answer.body,
      }).toMatchObject({ status: 201 });
      expect(answer.warnings, `${object.kind}/${object.metadata?.name}`).toEqual([]);
    }
  });

  it('is refused under the "baseline" Pod Security Standard (host network, host path)', async () => {
    const namespace = await createNamespace(rest, 'host-network-baseline', {
      'pod-security.kubernetes.io/enforce': 'baseline',
      'pod-security.kubernetes.io/enforce-version': 'latest',
    });
    namespaces.push(namespace);
    const objects = renderIn(namespace);
    // A pod is admitted only once its ServiceAccount exists, which a dry run does not store.
    const account = objects.find((o) => o.kind === 'ServiceAccount') as KubernetesObject;
    await rest.call('POST', collectionPath(account), { body: account });
    const deployments = objects.filter((o): o is V1Deployment & KubernetesObject => o.kind === 'Deployment');
    for (const deployment of deployments) {
      const answer = await dryRun(podOf(deployment, namespace));
      expect(answer.status, `${deployment.metadata?.name}`).toBe(403);
      expect((answer.body as { message: string }).message).toMatch(
        /violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\), hostPath volumes/,
      );
    }
  });
});
