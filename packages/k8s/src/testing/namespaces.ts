/**
 * Test namespaces: each test makes its own (a unique name), so tests sharing one testbed never
 * see each other's objects. Optionally enforcing a Pod Security Standard.
 */
import { randomBytes } from 'node:crypto';
import type { KubeRest } from '../kube/rest.ts';
import { waitUntil } from './wait.ts';

export async function createNamespace(
  rest: KubeRest,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await rest.call('POST', '/api/v1/namespaces', {
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
  });
  // Pods cannot be created before the controller manager has made the namespace's default account.
  await waitUntil(
    `ServiceAccount ${name}/default`,
    async () => (await rest.get(`/api/v1/namespaces/${name}/serviceaccounts/default`)) !== undefined,
  );
  return name;
}

export async function deleteNamespace(rest: KubeRest, name: string): Promise<void> {
  await rest.send('DELETE', `/api/v1/namespaces/${name}`);
}

/** The labels that make a namespace enforce the "restricted" Pod Security Standard. */
export const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
} as const;
