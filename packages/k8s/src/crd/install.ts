/**
 * Installs (or updates) the SluiceJob CRD and waits until the API server serves it: the same
 * as `sluice-k8s crd | kubectl apply -f -` followed by `kubectl wait --for condition=established`.
 */
import { KubernetesApiError } from '../errors.ts';
import type { KubeRest } from '../kube/rest.ts';
import { SLUICE_JOB, sluiceJobCrd } from './sluice-job-crd.ts';

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const ESTABLISH_TIMEOUT_MS = 120_000;

interface CrdStatus {
  metadata?: { resourceVersion?: string };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

export async function installSluiceJobCrd(
  rest: KubeRest,
  options: { now?: () => number } = {},
): Promise<void> {
  const now = options.now ?? Date.now;
  const crd = sluiceJobCrd();
  const name = `${SLUICE_JOB.plural}.${SLUICE_JOB.group}`;
  const created = await rest.send('POST', CRD_PATH, { body: crd });
  if (created.status === 409) {
    const current = await rest.call<CrdStatus>('GET', `${CRD_PATH}/${name}`);
    const metadata = { ...(crd.metadata as object), resourceVersion: current.metadata?.resourceVersion };
    await rest.call('PUT', `${CRD_PATH}/${name}`, { body: { ...crd, metadata } });
  } else if (created.status !== 201) {
    const body = created.body as { message?: string } | undefined;
    throw new KubernetesApiError(
      `creating CRD ${name} answered HTTP ${created.status}: ${body?.message ?? ''}`,
      created.status,
    );
  }
  const deadline = now() + ESTABLISH_TIMEOUT_MS;
  for (;;) {
    const current = await rest.call<CrdStatus>('GET', `${CRD_PATH}/${name}`);
    const conditions = current.status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) return;
    const refused = conditions.find((c) => c.type === 'NamesAccepted' && c.status === 'False');
    if (refused !== undefined)
      throw new KubernetesApiError(`CRD ${name}: names not accepted: ${refused.message ?? ''}`, undefined);
    if (now() > deadline)
      throw new KubernetesApiError(
        `CRD ${name} not established within ${ESTABLISH_TIMEOUT_MS / 1000} s`,
        undefined,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
