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
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, inject } from 'vitest';
import { TestbedError } from './testbed-error.ts';
import { BUILD_SCRIPT, missingTestbedFiles } from './testbed-paths.ts';
import { startTestbed, type Testbed } from './testbed.ts';

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
    `${basename(fileURLToPath(fileUrl))}: SKIPPED, the Kubernetes testbed is not built (missing ${missing.join(', ')}). ` +
      `Build it once with 'bash ${BUILD_SCRIPT}' (needs Go >= 1.25 and the Go module proxy; ~16 min cold). CI=true never skips.\n`,
  );
  return false;
}

/**
 * Registers the hooks that bring the testbed up for the enclosing suite; call it inside a
 * `describe`. The returned function gives the testbed and a fresh client configuration.
 */
export function useTestbed(): () => { bed: TestbedHandle; kubeConfig: KubeConfig } {
  let bed: TestbedHandle | undefined;
  let own: Testbed | undefined;
  beforeAll(async () => {
    const broker = inject('sluiceK8sTestbedBroker') as string | undefined;
    if (broker === undefined) {
      own = await startTestbed();
      bed = own;
      return;
    }
    const answer = await fetch(broker, { method: 'POST' });
    const text = await answer.text();
    if (!answer.ok) throw new TestbedError(`the shared testbed did not start: ${text}`);
    bed = JSON.parse(text) as TestbedHandle;
  }, 600_000);
  afterAll(async () => {
    await own?.stop();
  }, 120_000);
  return () => {
    if (bed === undefined)
      throw new Error('the testbed is not up: useTestbed() must be called inside the describe that uses it');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(bed.kubeconfigPath);
    return { bed, kubeConfig };
  };
}
