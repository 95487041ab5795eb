import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { resolveJob } from '../job-spec.ts';
import { jobManagerDeployment } from '../manifests/workloads.ts';
import { desiredObjects, operatorJobManagerDeployment, START_ANNOTATION, startSettings } from './owned.ts';
import type { JobStart, SluiceJob } from './sluice-job.ts';
import { deployedSpecOf } from './upgrade.ts';

const spec = { image: 'sluice/clicks:1', job: '/app/job.js', parallelism: 4 };
const resolved = resolveJob('clicks', 'shop', spec, 'test');
const job: SluiceJob = {
  apiVersion: 'sluice.dev/v1alpha1',
  kind: 'SluiceJob',
  metadata: { name: 'clicks', namespace: 'shop', uid: 'u-1', generation: 3 },
  spec,
};
const start = (mode: JobStart['mode'], extra: Partial<JobStart> = {}): JobStart => ({
  mode,
  generation: 3,
  settled: mode === 'initial' || mode === 'last-state',
  rolledOutAt: '2026-12-05T09:00:00Z',
  notBeforeMs: 0,
  ...extra,
});
const savepoint = '/sluice/checkpoints/clicks/savepoints/savepoint-2026-12-05T09-00-00-000Z-1';

describe("the operator's job manager", () => {
  it('is the rendered one plus the REST API, its token and the start settings from the ConfigMap', () => {
    const rendered = jobManagerDeployment(resolved, 'sluice-operator').spec?.template.spec?.containers[0];
    const container = operatorJobManagerDeployment(resolved, start('initial')).spec?.template.spec
      ?.containers[0];
    expect(container?.args).toEqual([
      ...(rendered?.args ?? []),
      '--web',
      '8081',
      '--web-host',
      '0.0.0.0',
      '--keep-serving-after-end',
    ]);
    expect(container?.env?.slice(0, rendered?.env?.length)).toEqual(rendered?.env);
    expect(container?.env?.slice(rendered?.env?.length)).toEqual([
      { name: 'SLUICE_WEB_TOKEN', valueFrom: { secretKeyRef: { name: 'clicks-rest-token', key: 'token' } } },
      {
        name: 'SLUICE_RESTORE',
        valueFrom: { configMapKeyRef: { name: 'clicks-config', key: 'SLUICE_RESTORE' } },
      },
      {
        name: 'SLUICE_FRESH',
        valueFrom: { configMapKeyRef: { name: 'clicks-config', key: 'SLUICE_FRESH' } },
      },
    ]);
    // No restore or fresh flag in the arguments: a restarted container reads the ConfigMap again.
    expect(container?.args).not.toContain('--restore');
    expect(container?.args).not.toContain('--fresh');
    expect(container?.ports?.map((p) => p.name)).toEqual(['control', 'health', 'rest']);
  });

  it('says how it starts: the ConfigMap until the start settles, the template annotation for good', () => {
    expect(startSettings(start('savepoint', { savepoint }))).toEqual({ restore: savepoint, fresh: '' });
    expect(startSettings(start('savepoint', { savepoint, settled: true }))).toEqual({
      restore: '',
      fresh: '',
    });
    expect(startSettings(start('stateless'))).toEqual({ restore: '', fresh: 'true' });
    expect(startSettings(start('last-state'))).toEqual({ restore: '', fresh: '' });
    const objects = desiredObjects(job, resolved, start('savepoint', { savepoint }));
    const config = objects.find((o) => o.kind === 'ConfigMap') as V1ConfigMap;
    expect(config.data).toMatchObject({ SLUICE_RESTORE: savepoint, SLUICE_FRESH: '' });
    const deployment = objects.find((o) => o.kind === 'Deployment') as V1Deployment;
    expect(deployment.spec?.template.metadata?.annotations?.[START_ANNOTATION]).toBe(
      `savepoint ${savepoint} (generation 3)`,
    );
    // Settling changes the ConfigMap only: the pod is not rolled for it.
    const settled = desiredObjects(job, resolved, start('savepoint', { savepoint, settled: true }));
    const hash = (kind: string) =>
      settled.find((o) => o.kind === kind)?.metadata?.annotations?.['sluice.dev/spec-hash'];
    const before = (kind: string) =>
      objects.find((o) => o.kind === kind)?.metadata?.annotations?.['sluice.dev/spec-hash'];
    expect(hash('Deployment')).toBe(before('Deployment'));
    expect(hash('ConfigMap')).not.toBe(before('ConfigMap'));
  });

  it('is upgraded for a change of the job, not of suspend, upgradeMode or the savepoint nonce', () => {
    const deployed = deployedSpecOf({
      ...spec,
      suspend: true,
      upgradeMode: 'stateless',
      savepointTriggerNonce: 7,
    });
    expect(deployed).toEqual(spec);
  });
});

describe('spec.upgradeMode and spec.savepointTriggerNonce', () => {
  it('default to savepoint and none; a bad value is refused, naming the field', () => {
    expect(resolved.upgradeMode).toBe('savepoint');
    expect(resolved.savepointTriggerNonce).toBeUndefined();
    expect(() =>
      resolveJob('clicks', 'shop', { ...spec, upgradeMode: 'rolling' as never }, 'SluiceJob shop/clicks'),
    ).toThrow(
      'SluiceJob shop/clicks: upgradeMode must be one of savepoint, last-state, stateless, got "rolling"',
    );
    expect(() =>
      resolveJob('clicks', 'shop', { ...spec, savepointTriggerNonce: 1.5 }, 'SluiceJob shop/clicks'),
    ).toThrow(/savepointTriggerNonce must be an integer/);
  });
});
