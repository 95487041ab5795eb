import { spawnSync } from 'node:child_process';
import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './cli/main.ts';
import { collectionPath } from './kube/kinds.ts';
import type { KubeRest } from './kube/rest.ts';
import { render } from './render.ts';
import { createNamespace, deleteNamespace, RESTRICTED } from './testing/namespaces.ts';
import { testbedBinary } from './testing/testbed-paths.ts';
import { testbedRuns, useTestbed } from './testing/use-testbed.ts';

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
