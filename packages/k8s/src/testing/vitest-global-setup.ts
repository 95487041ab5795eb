/**
 * Vitest global setup (named in the root vitest.config.ts): one testbed for the whole run,
 * started lazily. Most runs hold no Kubernetes test, so nothing starts here; instead a small
 * HTTP endpoint on 127.0.0.1 starts the testbed on the first request from a test file (see
 * use-testbed.ts) and hands every later one the same. It is stopped when the run ends.
 */
import { createServer } from 'node:http';
import type { TestProject } from 'vitest/node';
import type { Testbed } from './testbed.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The URL test files ask for the shared testbed (use-testbed.ts). */
    sluiceK8sTestbedBroker: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let starting: Promise<Testbed> | undefined;
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/testbed') {
      res.writeHead(404).end();
      return;
    }
    starting ??= Promise.all([import('./testbed.ts'), import('../crd/sluice-job-crd.ts')]).then(
      ([{ startTestbed }, { sluiceJobCrd }]) => startTestbed({ crds: [sluiceJobCrd()] }),
    );
    starting.then(
      (bed) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ kubeconfigPath: bed.kubeconfigPath, server: bed.server, nodeName: bed.nodeName }),
        );
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(error instanceof Error ? error.message : String(error));
      },
    );
  });
  // A testbed start can take minutes on a loaded machine; node's default would cut the answer.
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string')
    throw new Error('the testbed broker has no TCP address');
  project.provide('sluiceK8sTestbedBroker', `http://127.0.0.1:${address.port}/testbed`);
  return async () => {
    server.close();
    const bed = await starting?.catch(() => undefined);
    await bed?.stop();
  };
}
