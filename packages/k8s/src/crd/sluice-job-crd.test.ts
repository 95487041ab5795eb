import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KubeRest } from '../kube/rest.ts';
import { resourcePath } from '../kube/rest.ts';
import { createNamespace, deleteNamespace } from '../testing/namespaces.ts';
import { K8S_TIMEOUT_MS, testbedRuns, useTestbed } from '../testing/use-testbed.ts';
import { installSluiceJobCrd } from './install.ts';
import { SLUICE_JOB } from './sluice-job-crd.ts';

vi.setConfig({ testTimeout: K8S_TIMEOUT_MS, hookTimeout: K8S_TIMEOUT_MS });

describe.runIf(testbedRuns(import.meta.url))('the SluiceJob CRD on a real API server', () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  let namespace: string;
  beforeAll(async () => {
    rest = testbed().rest;
    await installSluiceJobCrd(rest);
    // Installing twice updates in place.
    await installSluiceJobCrd(rest);
    namespace = await createNamespace(rest, 'crd');
  });
  afterAll(async () => {
    if (namespace !== undefined) await deleteNamespace(rest, namespace);
  });

  const valid = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: SLUICE_JOB.apiVersion,
    kind: SLUICE_JOB.kind,
    metadata: { name },
    spec: { image: 'sluice/clicks:1', job: '/app/job.js', parallelism: 4, ...spec },
  });
  const create = (object: object) =>
    rest.send<{ message?: string; status?: unknown }>(
      'POST',
      resourcePath(SLUICE_JOB.apiVersion, SLUICE_JOB.plural, namespace),
      {
        body: object,
        query: { fieldValidation: 'Strict' },
      },
    );

  it('accepts a valid SluiceJob and keeps its status apart from its spec', async () => {
    const full = valid('clicks', {
      maxParallelism: 128,
      args: { topic: 'clicks' },
      checkpointIntervalMs: 5000,
      logLevel: 'debug',
      taskManager: { resources: { limits: { cpu: '2', memory: '2Gi' } } },
      imagePullPolicy: 'Never',
    });
    const answer = await create({ ...full, status: { phase: 'Running' } });
    expect(answer.status).toBe(201);
    // The status subresource: status written with the object is dropped.
    expect((answer.body as { status?: unknown }).status).toBeUndefined();
    const path = resourcePath(SLUICE_JOB.apiVersion, SLUICE_JOB.plural, namespace, 'clicks');
    await rest.call('PATCH', `${path}/status`, {
      body: { status: { phase: 'Running', parallelism: 4, readyTaskManagers: 4, selector: 'a=b' } },
      contentType: 'application/merge-patch+json',
    });
    const stored = await rest.call<{ spec: { parallelism: number }; status: { phase: string } }>('GET', path);
    expect(stored.status.phase).toBe('Running');
    // The scale subresource reads the parallelism.
    const scale = await rest.call<{ spec: { replicas: number }; status: { replicas: number } }>(
      'GET',
      `${path}/scale`,
    );
    expect(scale.spec.replicas).toBe(4);
    expect(scale.status.replicas).toBe(4);
  });

  it('shows parallelism, ready task managers and phase as printer columns', async () => {
    // What `kubectl get sluicejobs` asks for: the server renders the table from the CRD's columns.
    const table = await rest.call<{ columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] }>(
      'GET',
      resourcePath(SLUICE_JOB.apiVersion, SLUICE_JOB.plural, namespace),
      { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    );
    expect(table.columnDefinitions.map((c) => c.name)).toEqual([
      'Name',
      'Parallelism',
      'Ready',
      'Phase',
      'Checkpoint',
      'Image',
      'Age',
    ]);
    expect(table.rows.map((r) => r.cells.slice(0, 4))).toEqual([['clicks', 4, 4, 'Running']]);
  });

  it.each([
    ['no parallelism', { parallelism: undefined }, /spec.parallelism: Required value/],
    [
      'parallelism 0',
      { parallelism: 0 },
      /spec.parallelism: Invalid value: 0: spec.parallelism in body should be greater than or equal to 1/,
    ],
    [
      'parallelism above maxParallelism',
      { parallelism: 8, maxParallelism: 4 },
      /parallelism must not exceed maxParallelism/,
    ],
    ['a relative job path', { job: 'job.js' }, /spec.job in body should match '\^\/'/],
    ['an empty image', { image: '' }, /spec.image in body should be at least 1 chars long/],
    ['an unknown log level', { logLevel: 'loud' }, /spec.logLevel: Unsupported value: "loud"/],
    ['a non-string argument', { args: { limit: 10 } }, /spec.args.limit: Invalid value: "integer"/],
    [
      'a memory limit that is no quantity',
      { jobManager: { resources: { limits: { memory: 'lots' } } } },
      /spec.jobManager.resources.limits.memory in body should match/,
    ],
    ['an unknown field', { paralelism: 3 }, /unknown field "spec.paralelism"/],
    ['an unknown upgrade mode', { upgradeMode: 'rolling' }, /spec.upgradeMode: Unsupported value: "rolling"/],
    [
      'a savepoint nonce that is no integer',
      { savepointTriggerNonce: 'now' },
      /spec.savepointTriggerNonce: Invalid value/,
    ],
  ])('refuses %s', async (_what, change, message) => {
    const object = valid('refused');
    const spec: Record<string, unknown> = { ...object.spec, ...change };
    for (const [key, value] of Object.entries(spec)) if (value === undefined) delete spec[key];
    const answer = await create({ ...object, spec });
    expect(answer.status, JSON.stringify(answer.body)).toBeGreaterThanOrEqual(400);
    expect(answer.body.message).toMatch(message);
  });
});
