/**
 * What a Kubernetes test file uses: whether the testbed can run here, and the running testbed.
 *
 * CI (`CI=true`) always runs these files and fails them when the testbed is missing or does not
 * start. Elsewhere — a user's `pnpm test` on a machine with only Node — missing binaries skip
 * them, with a notice on stderr saying how to build the testbed.
 *
 * Under the root vitest config one testbed serves every file of the run (vitest-global-setup.ts);
 * run under another config, a file starts and stops its own.
 */
import { request } from 'node:http';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, inject } from 'vitest';
import { sluiceJobCrd } from '../crd/sluice-job-crd.ts';
import { KubeRest } from '../kube/rest.ts';
import { startTestbed, type Testbed } from './testbed.ts';
import { TestbedError } from './testbed-error.ts';
import { BUILD_SCRIPT, missingTestbedFiles, testbedCacheDir } from './testbed-paths.ts';

/**
 * Timeout of a Kubernetes test or hook: above the hang guards of the waits inside it, so on a
 * loaded machine a wait decides, never vitest's default minute.
 */
export const K8S_TIMEOUT_MS = 300_000;

export interface TestbedHandle {
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly nodeName: string;
}

/** True when this file's Kubernetes tests run; prints why not on stderr otherwise. */
export function testbedRuns(fileUrl: string): boolean {
  const missing = missingTestbedFiles();
  if (missing.length === 0 || process.env.CI === 'true') return true;
  process.stderr.write(
    `${basename(fileURLToPath(fileUrl))}: SKIPPED, the Kubernetes testbed is not built (${missing.length} files missing under ${testbedCacheDir()}). ` +
      `Build it once with 'bash ${BUILD_SCRIPT}' (needs Go >= 1.25 and the Go module proxy; 10 to 20 min cold). CI=true never skips.\n`,
  );
  return false;
}

/**
 * Registers the hooks that bring the testbed up for the enclosing suite; call it inside a
 * `describe`. The returned function gives the testbed and a fresh client configuration.
 */
export function useTestbed(): () => { bed: TestbedHandle; kubeConfig: KubeConfig; rest: KubeRest } {
  let bed: TestbedHandle | undefined;
  let own: Testbed | undefined;
  beforeAll(async () => {
    const broker = inject('sluiceK8sTestbedBroker') as string | undefined;
    if (broker === undefined) {
      own = await startTestbed({ crds: [sluiceJobCrd()] });
      bed = own;
      return;
    }
    const answer = await post(broker);
    if (answer.status !== 200) throw new TestbedError(`the shared testbed did not start: ${answer.body}`);
    bed = JSON.parse(answer.body) as TestbedHandle;
  }, 600_000);
  afterAll(async () => {
    await own?.stop();
  }, 120_000);
  return () => {
    if (bed === undefined)
      throw new Error('the testbed is not up: useTestbed() must be called inside the describe that uses it');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(bed.kubeconfigPath);
    return { bed, kubeConfig, rest: new KubeRest(kubeConfig) };
  };
}

/** POST without a client-side timeout: a first start may take minutes on a loaded machine. */
function post(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
