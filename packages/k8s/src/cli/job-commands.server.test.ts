import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KubeRest } from '../kube/rest.ts';
import { SluiceJobOperator } from '../operator/operator.ts';
import { createCheckpointVolume } from '../testing/checkpoint-volume.ts';
import { createNamespace, deleteNamespace, RESTRICTED } from '../testing/namespaces.ts';
import { K8S_TIMEOUT_MS, testbedRuns, useTestbed } from '../testing/use-testbed.ts';
import { waitUntil } from '../testing/wait.ts';
import { main } from './main.ts';

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

vi.setConfig({ testTimeout: K8S_TIMEOUT_MS, hookTimeout: K8S_TIMEOUT_MS });

/** `sluice-k8s deploy | status | delete` against a real API server, the operator running. */
describe.runIf(testbedRuns(import.meta.url))('sluice-k8s deploy, status and delete', () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  let namespace: string;
  let kubeconfig: string;
  let operator: SluiceJobOperator | undefined;
  let removeVolume: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const { bed, kubeConfig } = testbed();
    rest = testbed().rest;
    kubeconfig = bed.kubeconfigPath;
    namespace = await createNamespace(rest, 'deploy', RESTRICTED);
    removeVolume = await createCheckpointVolume(rest, namespace, 'events-checkpoints');
    operator = new SluiceJobOperator({ kubeConfig, namespace, identity: 'deploy-test', resyncMs: 5_000 });
    operator.start();
  });
  afterAll(async () => {
    await operator?.stop();
    if (namespace !== undefined) await deleteNamespace(rest, namespace);
    await removeVolume?.();
  });

  const deploy = (...flags: string[]) =>
    run(
      'deploy',
      '/app/job.js',
      '--name',
      'events',
      '-n',
      namespace,
      '--image',
      'sluice/events:1',
      '--kubeconfig',
      kubeconfig,
      // No job manager runs on kwok to take a savepoint: a new parallelism resumes the newest checkpoint.
      '--upgrade-mode',
      'last-state',
      ...flags,
    );

  it('deploys a job and waits until it runs, then applies a new parallelism', async () => {
    expect(await deploy('-p', '2', '--arg', 'topic=events', '--wait')).toEqual({
      code: 0,
      stdout: `sluicejob ${namespace}/events created\nsluicejob ${namespace}/events running: 2 task managers\n`,
      stderr: '',
    });
    expect(await deploy('-p', '3', '--arg', 'topic=events', '--wait', '--timeout', '600')).toEqual({
      code: 0,
      stdout: `sluicejob ${namespace}/events configured\nsluicejob ${namespace}/events running: 3 task managers\n`,
      stderr: '',
    });
    expect((await deploy('-p', '3', '--arg', 'topic=events')).stdout).toBe(
      `sluicejob ${namespace}/events unchanged\n`,
    );
  });

  it('prints the status', async () => {
    const { code, stdout } = await run('status', 'events', '-n', namespace, '--kubeconfig', kubeconfig);
    expect(code).toBe(0);
    expect(stdout).toMatch(/phase: +Running/);
    expect(stdout).toMatch(/parallelism: +3 asked, 3 deployed, 3 ready/);
    expect(stdout).toMatch(/Ready: True \(Running\)/);
  });

  it('refuses flags deploy cannot honour, naming them', async () => {
    expect(await deploy('-p', '1', '--storage-size', '5Gi')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/deploy does not make the checkpoint claim/),
    });
    expect(await deploy('-p', '0')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/deploy: parallelism must be an integer from 1 to 1024, got 0/),
    });
    expect(await run('status', 'events', '--bogus')).toMatchObject({
      code: 2,
      stderr: 'sluice-k8s: status does not take --bogus\n',
    });
  });

  it('deletes the job, and its pods go with it', async () => {
    expect(await run('delete', 'events', '-n', namespace, '--kubeconfig', kubeconfig)).toMatchObject({
      code: 0,
    });
    await waitUntil('every pod of the job gone', async () => {
      const pods = await rest.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`, {
        query: { labelSelector: 'app.kubernetes.io/instance=events' },
      });
      return pods.items.length === 0;
    });
    expect(await run('status', 'events', '-n', namespace, '--kubeconfig', kubeconfig)).toMatchObject({
      code: 1,
      stderr: `sluice-k8s: no sluicejob ${namespace}/events (SLUICE_K8S_DEPLOY)\n`,
    });
  });
});
