import type { KubernetesObject, V1Container, V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { K8sConfigError } from '../errors.ts';
import { render } from '../render.ts';

const hostNetwork = {
  checkpointHostPath: '/srv/sluice',
  controlPort: 7000,
  dataPort: 7100,
  healthPort: 7200,
  nodeName: 'edge-1',
};

function renderOnHost(parallelism: number, overrides: Partial<typeof hostNetwork> = {}): KubernetesObject[] {
  return render({
    name: 'clicks',
    namespace: 'shop',
    image: 'sluice/clicks:1',
    job: '/app/job.ts',
    parallelism,
    secret: 'x'.repeat(32),
    hostNetwork: { ...hostNetwork, ...overrides },
  });
}

const flag = (container: V1Container, name: string): string | undefined => {
  const args = container.args ?? [];
  const at = args.indexOf(name);
  return at < 0 ? undefined : args[at + 1];
};

const deployments = (objects: KubernetesObject[]) =>
  objects.filter((o): o is V1Deployment & KubernetesObject => o.kind === 'Deployment');
const mainOf = (d: V1Deployment): V1Container => d.spec?.template.spec?.containers[0] as V1Container;

describe("render's host-network variant", () => {
  it('makes one single-replica task-manager Deployment per slot, each with its own ports, and drops the claim and policies', () => {
    const objects = renderOnHost(3);
    const kinds = objects.map((o) => `${o.kind}/${o.metadata?.name}`);
    expect(kinds).not.toContain('PersistentVolumeClaim/clicks-checkpoints');
    expect(objects.some((o) => o.kind === 'NetworkPolicy')).toBe(false);
    expect(deployments(objects).map((d) => d.metadata?.name)).toEqual([
      'clicks-jobmanager',
      'clicks-taskmanager-0',
      'clicks-taskmanager-1',
      'clicks-taskmanager-2',
    ]);

    const [jobManager, ...taskManagers] = deployments(objects);
    const jm = mainOf(jobManager as V1Deployment);
    expect([flag(jm, '--bind-host'), flag(jm, '--port'), flag(jm, '--health-port')]).toEqual([
      '127.0.0.1',
      '7000',
      '7200',
    ]);
    const seen = new Set<string>();
    taskManagers.forEach((deployment, slot) => {
      expect(deployment.spec?.replicas).toBe(1);
      const labels = deployment.spec?.template.metadata?.labels ?? {};
      expect(labels['sluice.dev/slot']).toBe(String(slot));
      expect(deployment.spec?.selector.matchLabels?.['sluice.dev/slot']).toBe(String(slot));
      const tm = mainOf(deployment);
      expect({
        jobmanager: flag(tm, '--jobmanager'),
        bind: flag(tm, '--bind-host'),
        advertise: flag(tm, '--advertise-host'),
        data: flag(tm, '--data-port'),
        health: flag(tm, '--health-port'),
        id: flag(tm, '--id'),
      }).toEqual({
        jobmanager: '127.0.0.1:7000',
        bind: '127.0.0.1',
        advertise: '127.0.0.1',
        data: String(7100 + slot),
        health: String(7201 + slot),
        id: '$(POD_NAME)',
      });
      expect(tm.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe(
        'metadata.name',
      );
      expect(tm.env?.some((e) => e.name === 'POD_IP')).toBe(false);
      expect(tm.ports?.map((p) => p.containerPort)).toEqual([7100 + slot, 7201 + slot]);
      for (const port of [7100 + slot, 7201 + slot]) {
        expect(seen.has(String(port))).toBe(false);
        seen.add(String(port));
      }
    });

    for (const deployment of deployments(objects)) {
      const pod = deployment.spec?.template.spec;
      expect(pod?.hostNetwork).toBe(true);
      expect(pod?.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'edge-1' });
      expect(pod?.volumes?.find((v) => v.name === 'checkpoints')).toEqual({
        name: 'checkpoints',
        hostPath: { path: '/srv/sluice', type: 'DirectoryOrCreate' },
      });
      const main = mainOf(deployment);
      for (const probe of [main.startupProbe, main.livenessProbe, main.readinessProbe])
        expect(probe?.httpGet?.host).toBe('127.0.0.1');
      // The containers keep the restricted security context.
      expect(main.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    }
  });

  it('leaves the default render as it was', () => {
    const plain = render({
      name: 'clicks',
      namespace: 'shop',
      image: 'sluice/clicks:1',
      job: '/app/job.ts',
      parallelism: 3,
      secret: 'x'.repeat(32),
    });
    expect(deployments(plain).map((d) => d.metadata?.name)).toEqual([
      'clicks-jobmanager',
      'clicks-taskmanager',
    ]);
    expect(plain.some((o) => o.kind === 'PersistentVolumeClaim')).toBe(true);
  });

  it('refuses overlapping port ranges and a relative host path, naming the option', () => {
    // Data ports 7100-7103 and health ports 7102-7106 overlap.
    expect(() => renderOnHost(4, { healthPort: 7102 })).toThrow(
      /hostNetwork\.dataPort ports 7100-7103 overlap healthPort's 7102-7106/,
    );
    expect(() => renderOnHost(2, { controlPort: 7201 })).toThrow(
      /hostNetwork\.controlPort ports 7201-7201 overlap/,
    );
    expect(() => renderOnHost(2, { dataPort: 65535 })).toThrow(
      /hostNetwork\.dataPort must leave ports 65535 to 65536/,
    );
    expect(() => renderOnHost(1, { checkpointHostPath: 'data' })).toThrow(K8sConfigError);
  });
});
