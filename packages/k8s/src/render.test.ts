import type {
  V1Container,
  V1Deployment,
  V1PersistentVolumeClaim,
  V1PodSpec,
  V1Role,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { K8sConfigError } from './errors.ts';
import { PORTS } from './job-spec.ts';
import type { NetworkPolicy } from './manifests/policies.ts';
import { type RenderOptions, render, toYaml } from './render.ts';

const SECRET = 'a-test-secret-of-32-characters!!';
const base: RenderOptions = {
  name: 'clicks',
  namespace: 'shop',
  image: 'registry.local/clicks:1',
  job: '/app/job.js',
  parallelism: 4,
  secret: SECRET,
};

function byKind<T>(
  objects: readonly { kind?: string; metadata?: { name?: string } }[],
  kind: string,
  name?: string,
): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as T;
}

function podSpecs(objects: ReturnType<typeof render>): [string, V1PodSpec][] {
  return objects
    .filter((o) => o.kind === 'Deployment')
    .map((o) => [o.metadata?.name ?? '', (o as V1Deployment).spec?.template.spec as V1PodSpec]);
}

function onlyContainer(spec: V1PodSpec): V1Container {
  expect(spec.containers).toHaveLength(1);
  return spec.containers[0] as V1Container;
}

describe('render', () => {
  it('renders every object a job needs, each in the namespace, in apply order', () => {
    const objects = render(base);
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      'ServiceAccount/clicks',
      'Role/clicks-pods',
      'RoleBinding/clicks-pods',
      'ConfigMap/clicks-config',
      'Secret/clicks-cluster-secret',
      'PersistentVolumeClaim/clicks-checkpoints',
      'Service/clicks-jobmanager',
      'Deployment/clicks-jobmanager',
      'Deployment/clicks-taskmanager',
      'PodDisruptionBudget/clicks-taskmanager',
      'NetworkPolicy/clicks-taskmanager',
      'NetworkPolicy/clicks-jobmanager',
    ]);
    for (const object of objects) expect(object.metadata?.namespace, object.kind).toBe('shop');
  });

  it('runs one job manager and one single-slot task-manager pod per unit of parallelism', () => {
    const objects = render({ ...base, parallelism: 6, maxParallelism: 64, checkpointIntervalMs: 2500 });
    const jm = byKind<V1Deployment>(objects, 'Deployment', 'clicks-jobmanager');
    const tm = byKind<V1Deployment>(objects, 'Deployment', 'clicks-taskmanager');
    expect(jm.spec?.replicas).toBe(1);
    expect(jm.spec?.strategy?.type).toBe('Recreate');
    expect(tm.spec?.replicas).toBe(6);
    const jmArgs = onlyContainer(jm.spec?.template.spec as V1PodSpec).args ?? [];
    expect(jmArgs.slice(0, 4)).toEqual(['jobmanager', '/app/job.js', '-p', '6']);
    const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];
    expect(flag(jmArgs, '--max-parallelism')).toBe('64');
    expect(flag(jmArgs, '--checkpoint-interval')).toBe('2500');
    expect(flag(jmArgs, '--checkpoint-dir')).toBe('/sluice/checkpoints/clicks/checkpoints');
    expect(flag(jmArgs, '--savepoint-dir')).toBe('/sluice/checkpoints/clicks/savepoints');
    expect(flag(jmArgs, '--bind-host')).toBe('0.0.0.0');
    expect(flag(jmArgs, '--port')).toBe(String(PORTS.control));
    expect(flag(jmArgs, '--secret-file')).toBe('/etc/sluice/secret/secret');
    expect(flag(jmArgs, '--health-port')).toBe(String(PORTS.health));
    const tmArgs = onlyContainer(tm.spec?.template.spec as V1PodSpec).args ?? [];
    expect(tmArgs[0]).toBe('taskmanager');
    expect(flag(tmArgs, '--jobmanager')).toBe(`clicks-jobmanager:${PORTS.control}`);
    expect(flag(tmArgs, '--slots')).toBe('1');
    expect(flag(tmArgs, '--advertise-host')).toBe('$(POD_IP)');
    expect(flag(tmArgs, '--data-port')).toBe(String(PORTS.data));
    // Task managers reach the job manager before it is ready (it is ready once they have).
    expect(byKind<V1Service>(objects, 'Service').spec?.publishNotReadyAddresses).toBe(true);
    // The job manager's grace period covers the savepoint SIGTERM takes.
    expect(jm.spec?.template.spec?.terminationGracePeriodSeconds).toBeGreaterThan(30);
  });

  it('gives every pod a restricted-profile security context, a read-only root, resources and probes', () => {
    for (const [name, spec] of podSpecs(render(base))) {
      expect(spec.automountServiceAccountToken, name).toBe(false);
      expect(spec.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(spec.securityContext?.runAsUser).toBeGreaterThan(0);
      const container = onlyContainer(spec);
      expect(container.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        privileged: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(Object.keys(container.resources?.requests ?? {}).sort(), name).toEqual(['cpu', 'memory']);
      expect(Object.keys(container.resources?.limits ?? {}).sort(), name).toEqual(['cpu', 'memory']);
      expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
      expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
      expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
      expect(container.ports?.find((p) => p.name === 'health')?.containerPort).toBe(PORTS.health);
      // The only writable places are volumes.
      expect(container.volumeMounts?.map((m) => m.mountPath).sort()).toEqual([
        '/etc/sluice/secret',
        '/sluice/checkpoints',
        '/tmp',
      ]);
      expect(spec.volumes?.find((v) => v.name === 'checkpoints')?.persistentVolumeClaim?.claimName).toBe(
        'clicks-checkpoints',
      );
    }
  });

  it('takes resources from the options, the rest from the defaults', () => {
    const objects = render({
      ...base,
      taskManagerResources: { limits: { memory: '2Gi' }, requests: { memory: '2Gi' } },
    });
    const tm = byKind<V1Deployment>(objects, 'Deployment', 'clicks-taskmanager');
    expect(onlyContainer(tm.spec?.template.spec as V1PodSpec).resources).toEqual({
      requests: { cpu: '500m', memory: '2Gi' },
      limits: { cpu: '1', memory: '2Gi' },
    });
  });

  it('lets task managers reach each other on the data port and the job manager on the control port, nothing else', () => {
    const objects = render(base);
    const tm = byKind<NetworkPolicy>(objects, 'NetworkPolicy', 'clicks-taskmanager');
    const jm = byKind<NetworkPolicy>(objects, 'NetworkPolicy', 'clicks-jobmanager');
    const tmSelector = { matchLabels: tm.spec.podSelector.matchLabels };
    const jmSelector = { matchLabels: jm.spec.podSelector.matchLabels };
    expect(tm.spec.podSelector.matchLabels?.['app.kubernetes.io/component']).toBe('taskmanager');
    expect(jm.spec.podSelector.matchLabels?.['app.kubernetes.io/component']).toBe('jobmanager');
    expect(tm.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(tm.spec.ingress).toEqual([
      { from: [{ podSelector: tmSelector }], ports: [{ protocol: 'TCP', port: PORTS.data }] },
    ]);
    expect(tm.spec.egress.slice(0, 2)).toEqual([
      { to: [{ podSelector: tmSelector }], ports: [{ protocol: 'TCP', port: PORTS.data }] },
      { to: [{ podSelector: jmSelector }], ports: [{ protocol: 'TCP', port: PORTS.control }] },
    ]);
    expect(tm.spec.egress[2]?.ports?.map((p) => `${p.protocol}/${p.port}`)).toEqual(['UDP/53', 'TCP/53']);
    expect(jm.spec.ingress).toEqual([
      { from: [{ podSelector: tmSelector }], ports: [{ protocol: 'TCP', port: PORTS.control }] },
    ]);
    expect(jm.spec.egress).toHaveLength(1);
  });

  it('stores checkpoints on a ReadWriteMany claim, with the given class and size', () => {
    const objects = render({ ...base, checkpointStorage: { storageClassName: 'nfs', size: '50Gi' } });
    const claim = byKind<V1PersistentVolumeClaim>(objects, 'PersistentVolumeClaim');
    expect(claim.spec).toEqual({
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: '50Gi' } },
      storageClassName: 'nfs',
    });
  });

  it('grants the job no more than reading its own ConfigMap', () => {
    const roleObject = byKind<V1Role>(render(base), 'Role');
    expect(roleObject.rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['clicks-config'], verbs: ['get'] },
    ]);
  });

  it('puts the given secret in the Secret, makes a random one otherwise, and renders none for an existing Secret', () => {
    const given = byKind<V1Secret>(render(base), 'Secret');
    expect(Buffer.from(given.data?.secret ?? '', 'base64').toString('utf8')).toBe(SECRET);
    const { secret: _omit, ...noSecret } = base;
    const first = byKind<V1Secret>(render(noSecret), 'Secret').data?.secret;
    const second = byKind<V1Secret>(render(noSecret), 'Secret').data?.secret;
    expect(Buffer.from(first ?? '', 'base64')).toHaveLength(64);
    expect(first).not.toBe(second);
    const existing = render({ ...base, existingSecret: 'vault-synced' });
    expect(existing.some((o) => o.kind === 'Secret')).toBe(false);
    const jm = byKind<V1Deployment>(existing, 'Deployment', 'clicks-jobmanager');
    expect(
      jm.spec?.template.spec?.volumes?.find((v) => v.name === 'cluster-secret')?.secret?.secretName,
    ).toBe('vault-synced');
  });

  it('refuses bad options, naming the option', () => {
    const refused = (options: Partial<RenderOptions>, text: RegExp) =>
      expect(() => render({ ...base, ...options })).toThrowError(
        expect.objectContaining({ code: 'SLUICE_K8S_CONFIG', message: expect.stringMatching(text) }),
      );
    refused({ parallelism: 0 }, /parallelism must be an integer from 1 to 1024, got 0/);
    refused({ parallelism: 2.5 }, /parallelism/);
    refused({ parallelism: 8, maxParallelism: 4 }, /parallelism 8 exceeds maxParallelism 4/);
    refused({ name: 'Clicks' }, /name 'Clicks'/);
    refused({ namespace: 'no_underscores' }, /namespace/);
    refused({ job: 'job.js' }, /job must be an absolute path/);
    refused({ image: '' }, /image must be a non-empty string/);
    refused({ secret: 'short' }, /secret is 5 bytes; the cluster secret needs at least 16/);
    refused({ logLevel: 'loud' as RenderOptions['logLevel'] }, /logLevel must be one of/);
    refused({ jobManagerResources: { limits: { memory: 'lots' } } }, /jobManager.resources.limits.memory/);
    expect(() => render({ ...base, parallelism: -1 })).toThrow(K8sConfigError);
  });

  it('prints YAML that reads back as the same objects', () => {
    const objects = render(base);
    const documents = parseAllDocuments(toYaml(objects));
    expect(documents.map((d) => d.toJS())).toEqual(JSON.parse(JSON.stringify(objects)));
  });
});
