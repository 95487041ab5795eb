import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedLines } from '../../../examples/exactly-once-counts/job.ts';
import { buildImage } from './image/build-image.ts';
import { collectionPath } from './kube/kinds.ts';
import type { KubeRest } from './kube/rest.ts';
import { SLUICE_UID } from './manifests/pod-security.ts';
import { render } from './render.ts';
import { createNamespace, deleteNamespace } from './testing/namespaces.ts';
import { imageScratchDir, type RealNode, startRealNode } from './testing/real-node.ts';
import { testbedRuns, useTestbed } from './testing/use-testbed.ts';
import { waitUntil } from './testing/wait.ts';

/**
 * A job in real containers (kubelet + containerd + runc) from the image built here, deployed
 * with `render`'s manifests in their host-network variant: a job-manager Deployment and one
 * single-slot task-manager Deployment per slot, each pod on the host's network with its own
 * ports, checkpoints and the job's exactly-once output on a folder of the node. A task-manager
 * container is SIGKILLed mid-run and the job-manager pod deleted mid-run; the committed output
 * must be exactly the plain loop's (`expectedLines`), every event once with its count.
 *
 * Opt-in (SLUICE_K8S_REAL_NODE=1): it needs root and `testbed/node/install.sh`, and takes
 * minutes. docs/kubernetes.md ("A real node") has its figures.
 */
const enabled = process.env.SLUICE_K8S_REAL_NODE === '1';
if (!enabled)
  process.stderr.write(
    'real-node.test.ts: SKIPPED (opt-in, minutes, root): set SLUICE_K8S_REAL_NODE=1 after packages/k8s/testbed/node/install.sh\n',
  );

const JOB = {
  events: 30_000,
  keys: 50,
  ratePerSecond: 300,
  parallelism: 2,
  checkpointIntervalMs: 1_000,
} as const;
const IMAGE = 'sluice.local/exactly-once-counts:test';
/** The hang guard of each phase: far above what it takes (seconds to a minute here). */
const PHASE_MS = 300_000;

const started = performance.now();
const say = (what: string): void => {
  process.stderr.write(`real-node test +${((performance.now() - started) / 1000).toFixed(1)} s: ${what}\n`);
};

describe.runIf(enabled && testbedRuns(import.meta.url))('a job in real containers on a real node', () => {
  const testbed = useTestbed();
  let rest: KubeRest;
  let node: RealNode | undefined;
  let images: string | undefined;
  let namespace: string | undefined;
  let shared: string | undefined;

  beforeAll(async () => {
    rest = testbed().rest;
    images = await imageScratchDir();
    const archive = join(images, 'job.tar');
    const built = await buildImage({
      jobDir: fileURLToPath(new URL('../../../examples/exactly-once-counts', import.meta.url)),
      reference: IMAGE,
      out: archive,
    });
    say(`image built: ${(built.layerBytes / 1e6).toFixed(0)} MB layer`);
    node = await startRealNode({ kubeconfigPath: testbed().bed.kubeconfigPath });
    say(`node ${node.name} Ready (${node.dir})`);
    await node.importImage(archive);
    say('image imported into containerd');
    namespace = await createNamespace(rest, 'real-node');
    // The pods' shared folder: checkpoints, savepoints and the job's output; theirs to write.
    shared = await mkdtemp('/var/lib/sluice-k8s-node/shared-');
    await chown(shared, SLUICE_UID, SLUICE_UID);
  }, 900_000);

  afterAll(async () => {
    if (namespace !== undefined) {
      await deleteNamespace(rest, namespace);
      // The kubelet stops the containers as the namespace's pods go.
      await waitUntil(
        `pods of ${namespace} gone`,
        async () => (await podsOf(rest, namespace as string)).length === 0,
        PHASE_MS,
      ).catch((error: unknown) => say(String(error)));
    }
    await node?.stop();
    if (images !== undefined) await rm(images, { recursive: true, force: true });
    if (shared !== undefined) await rm(shared, { recursive: true, force: true });
  }, 600_000);

  it('recovers from a killed task-manager container and a deleted job-manager pod; the output is exact', async () => {
    const ns = namespace as string;
    const host = shared as string;
    const realNode = node as RealNode;
    // In a row: the control port, the data ports (one per slot), the health ports (job manager, slots).
    const [controlPort, ...next] = await freePorts(2 + 2 * JOB.parallelism);
    const objects = render({
      name: 'counts',
      namespace: ns,
      image: IMAGE,
      imagePullPolicy: 'Never',
      job: '/app/job.ts',
      parallelism: JOB.parallelism,
      checkpointIntervalMs: JOB.checkpointIntervalMs,
      savepointTimeoutMs: 10_000,
      args: {
        events: String(JOB.events),
        keys: String(JOB.keys),
        ratePerSecond: String(JOB.ratePerSecond),
        output: '/sluice/checkpoints/output',
      },
      // Two cores shared by everything: small requests, so every pod is scheduled.
      jobManagerResources: { requests: { cpu: '100m', memory: '256Mi' } },
      taskManagerResources: { requests: { cpu: '100m', memory: '256Mi' } },
      hostNetwork: {
        checkpointHostPath: host,
        controlPort: controlPort as number,
        dataPort: next[0] as number,
        healthPort: next[JOB.parallelism] as number,
        nodeName: realNode.name,
      },
    });
    for (const object of objects)
      await testbed().rest.call('POST', collectionPath(object as KubernetesObject), { body: object });
    say(`applied ${objects.length} objects`);

    const output = join(host, 'output');
    const latestCheckpoint = async (): Promise<number> => {
      const text = await readFile(join(host, 'counts', 'checkpoints', '_latest'), 'utf8').catch(() => '');
      return text === '' ? 0 : (JSON.parse(text) as { checkpointId: number }).checkpointId;
    };
    const jobManagerLog = async (pod: string) => realNode.containerLog(ns, pod, 'jobmanager');
    const describePods = async (): Promise<string> =>
      (await podsOf(testbed().rest, ns))
        .map(
          (p) =>
            `${p.metadata?.name} ${p.status?.phase} restarts=${p.status?.containerStatuses?.[0]?.restartCount} ${JSON.stringify(p.status?.containerStatuses?.[0]?.state)}`,
        )
        .join('\n');
    /** The last lines of every container's log, for a failure's message. */
    const podLogs = async (): Promise<string> => {
      const parts: string[] = [];
      for (const pod of await podsOf(testbed().rest, ns)) {
        const name = pod.metadata?.name as string;
        const container = pod.spec?.containers[0]?.name as string;
        const log = await realNode.containerLog(ns, name, container);
        parts.push(`--- ${name}/${container}\n${log.split('\n').slice(-20).join('\n')}`);
      }
      return parts.join('\n');
    };
    const phase = async <T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> => {
      try {
        const value = await waitUntil(what, check, PHASE_MS);
        say(what);
        return value;
      } catch (error) {
        throw new Error(`${String(error)}\npods:\n${await describePods()}\n${await podLogs()}`);
      }
    };

    const firstJobManager = await phase('every pod Running, the job checkpointing', async () => {
      const pods = await podsOf(testbed().rest, ns);
      if (pods.length !== 1 + JOB.parallelism || pods.some((p) => p.status?.phase !== 'Running'))
        return false;
      return (await latestCheckpoint()) >= 2 ? jobManagerPod(pods) : false;
    });

    // A task-manager container SIGKILLed once output has been committed, well before the end.
    await phase(
      'a tenth of the output committed',
      async () => (await committedLines(output)).length >= JOB.events / 10,
    );
    const victim = (await podsOf(testbed().rest, ns)).find(
      (p) => p.metadata?.labels?.['sluice.dev/slot'] === String(JOB.parallelism - 1),
    );
    const containerId = victim?.status?.containerStatuses?.[0]?.containerID;
    expect(containerId, 'the task-manager pod of the last slot has a container').toBeDefined();
    const checkpointAtKill = await latestCheckpoint();
    await realNode.killContainer(containerId as string);
    say(`killed task-manager container ${victim?.metadata?.name} at checkpoint ${checkpointAtKill}`);
    await phase('the killed container restarted, the job restarted and checkpointing again', async () => {
      const pod = await testbed().rest.get<V1Pod>(
        `/api/v1/namespaces/${ns}/pods/${victim?.metadata?.name as string}`,
      );
      if ((pod?.status?.containerStatuses?.[0]?.restartCount ?? 0) < 1) return false;
      if (!(await jobManagerLog(firstJobManager)).includes('"event":"job-restart"')) return false;
      return (await latestCheckpoint()) > checkpointAtKill + 1;
    });

    // The job-manager pod deleted (SIGTERM: it takes a savepoint and stops); its Deployment
    // makes a new pod, which resumes from the newest checkpoint.
    await phase(
      'two fifths of the output committed',
      async () => (await committedLines(output)).length >= (2 * JOB.events) / 5,
    );
    await testbed().rest.call('DELETE', `/api/v1/namespaces/${ns}/pods/${firstJobManager}`);
    say(`deleted job-manager pod ${firstJobManager}`);
    const secondJobManager = await phase('a new job-manager pod resumed from a checkpoint', async () => {
      const pods = await podsOf(testbed().rest, ns);
      const replacement = pods.find(
        (p) =>
          p.metadata?.labels?.['app.kubernetes.io/component'] === 'jobmanager' &&
          p.metadata.name !== firstJobManager,
      );
      const name = replacement?.metadata?.name;
      if (name === undefined) return false;
      return /resuming job 'exactly-once-counts' from checkpoint \d+/.test(await jobManagerLog(name))
        ? name
        : false;
    });
    // SIGTERM made the old job manager take a savepoint (the kubelet removed its log with the pod).
    expect(await readdir(join(host, 'counts', 'savepoints')).catch(() => [])).not.toEqual([]);

    const expected = [...expectedLines(JOB.events, JOB.keys)].sort();
    await phase('every event committed', async () => (await committedLines(output)).length >= JOB.events);
    // Exactly the plain loop's lines: none missing, none twice, every count right.
    expect((await committedLines(output)).sort()).toEqual(expected);
    // Still exact once later checkpoints (of the idle source) have committed.
    const done = await latestCheckpoint();
    await phase('two more checkpoints', async () => (await latestCheckpoint()) >= done + 2);
    expect((await committedLines(output)).sort()).toEqual(expected);
    const pods = await podsOf(testbed().rest, ns);
    expect(pods.map((p) => p.metadata?.name)).toContain(secondJobManager);
    say(`done: ${JOB.events} events exact after a killed task manager and a replaced job manager`);
  }, 1_200_000);
});

async function podsOf(rest: KubeRest, namespace: string): Promise<V1Pod[]> {
  const list = await rest.call<{ items: V1Pod[] }>('GET', `/api/v1/namespaces/${namespace}/pods`);
  return list.items;
}

function jobManagerPod(pods: V1Pod[]): string | false {
  const pod = pods.find((p) => p.metadata?.labels?.['app.kubernetes.io/component'] === 'jobmanager');
  return pod?.metadata?.name ?? false;
}

/** The lines of the sink's committed files (in-progress files start with '.'). */
async function committedLines(folder: string): Promise<string[]> {
  const lines: string[] = [];
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    if (name.startsWith('.')) continue;
    const text = await readFile(join(folder, name), 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (line !== '') lines.push(line);
  }
  return lines;
}

/** `count` ports free on 127.0.0.1 and in a row, from a random start. */
async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20_000 + (randomBytes(2).readUInt16BE() % 20_000);
    const ports = Array.from({ length: count }, (_, i) => first + i);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return ports;
  }
  throw new Error(`no ${count} free ports in a row on 127.0.0.1 after 50 tries`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
