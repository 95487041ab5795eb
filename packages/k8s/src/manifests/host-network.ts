/**
 * A variant of the rendered manifests for a node without a pod network: every pod on the host's
 * network (`hostNetwork: true`), every process listening on 127.0.0.1, checkpoints in a folder of
 * the node (`hostPath`) instead of a ReadWriteMany claim. It runs a job on one machine — a
 * single-node test cluster, an edge box — where pods have no addresses of their own, no Service
 * routes and no DNS: the test node of this project (docs/kubernetes.md, "A real node") is one.
 *
 * Pods sharing the host's network cannot share ports, so each gets its own: the job manager the
 * control port and the first health port; task manager `slot` the data port `dataPort + slot`
 * and the health port `healthPort + 1 + slot`. Identical replicas of one Deployment would clash,
 * so the task managers become one single-replica Deployment per slot, `<name>-taskmanager-<slot>`
 * (each replaced by its ReplicaSet when lost); the PodDisruptionBudget still selects them all.
 * Task managers dial the job manager at 127.0.0.1, advertise 127.0.0.1 to each other, and take
 * their pod's name as their id (the default id, from the host name and pid, would be the same in
 * every pod).
 *
 * What this gives up: the NetworkPolicies are left out (they do not apply to pods on the host's
 * network), and `hostNetwork` and `hostPath` are refused by the "baseline" and "restricted" Pod
 * Security Standards: the namespace must allow privileged pods (the containers themselves keep
 * the restricted security context: non-root, read-only root, no capabilities).
 */
import type { KubernetesObject, V1Container, V1Deployment, V1PodSpec } from '@kubernetes/client-node';
import { K8sConfigError } from '../errors.ts';
import type { ResolvedJob } from '../job-spec.ts';
import { LABELS, names } from './names.ts';

export interface HostNetworkOptions {
  /** The folder of the node mounted at the checkpoint path (created if missing). */
  readonly checkpointHostPath: string;
  /** The job manager's control port on 127.0.0.1. */
  readonly controlPort: number;
  /** Task manager `slot` listens for data on `dataPort + slot`. */
  readonly dataPort: number;
  /** The job manager's health port; task manager `slot` uses `healthPort + 1 + slot`. */
  readonly healthPort: number;
  /** Pin every pod to this node (`kubernetes.io/hostname`): the pods must share a machine. */
  readonly nodeName?: string;
}

const LOOPBACK = '127.0.0.1';
const PORT_MAX = 65535;

/** Rewrites `render`'s objects for the host's network; see the module comment. */
export function onHostNetwork(
  objects: readonly KubernetesObject[],
  job: ResolvedJob,
  options: HostNetworkOptions,
): KubernetesObject[] {
  checkOptions(job, options);
  const out: KubernetesObject[] = [];
  for (const object of objects) {
    if (object.kind === 'PersistentVolumeClaim' || object.kind === 'NetworkPolicy') continue;
    if (object.kind === 'Deployment' && object.metadata?.name === names.jobManager(job)) {
      const deployment = structuredClone(object) as V1Deployment;
      const spec = podSpecOf(deployment);
      adaptPod(spec, options);
      const main = only(spec);
      setFlag(main, '--bind-host', LOOPBACK);
      setFlag(main, '--port', String(options.controlPort));
      setFlag(main, '--health-port', String(options.healthPort));
      setPorts(main, { control: options.controlPort, health: options.healthPort });
      out.push(deployment);
      continue;
    }
    if (object.kind === 'Deployment' && object.metadata?.name === names.taskManagers(job)) {
      for (let slot = 0; slot < job.parallelism; slot++)
        out.push(taskManagerForSlot(object, job, slot, options));
      continue;
    }
    out.push(object);
  }
  return out;
}

function taskManagerForSlot(
  template: KubernetesObject,
  job: ResolvedJob,
  slot: number,
  options: HostNetworkOptions,
): V1Deployment {
  const deployment = structuredClone(template) as V1Deployment;
  const name = names.taskManagerPod(job, slot);
  const slotLabel = { [LABELS.slot]: String(slot) };
  deployment.metadata = {
    ...deployment.metadata,
    name,
    labels: { ...deployment.metadata?.labels, ...slotLabel },
  };
  const spec = deployment.spec;
  if (spec === undefined) throw new Error(`assertion: rendered Deployment ${name} has no spec`);
  spec.replicas = 1;
  spec.selector = { matchLabels: { ...spec.selector.matchLabels, ...slotLabel } };
  spec.template.metadata = {
    ...spec.template.metadata,
    labels: { ...spec.template.metadata?.labels, ...slotLabel },
  };
  const pod = podSpecOf(deployment);
  adaptPod(pod, options);
  const main = only(pod);
  const dataPort = options.dataPort + slot;
  const healthPort = options.healthPort + 1 + slot;
  setFlag(main, '--jobmanager', `${LOOPBACK}:${options.controlPort}`);
  setFlag(main, '--bind-host', LOOPBACK);
  setFlag(main, '--advertise-host', LOOPBACK);
  setFlag(main, '--data-port', String(dataPort));
  setFlag(main, '--health-port', String(healthPort));
  setPorts(main, { data: dataPort, health: healthPort });
  // POD_IP would be the node's address, which the processes do not use here. The default task
  // manager id, tm-<hostname>-<pid>, is the same in every pod on the host's network (the node's
  // name, pid 1): the pod's name tells them apart.
  main.env = [
    ...(main.env ?? []).filter((variable) => variable.name !== 'POD_IP'),
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  ];
  main.args = [...(main.args ?? []), '--id', '$(POD_NAME)'];
  return deployment;
}

function adaptPod(spec: V1PodSpec, options: HostNetworkOptions): void {
  spec.hostNetwork = true;
  spec.dnsPolicy = 'ClusterFirstWithHostNet';
  if (options.nodeName !== undefined)
    spec.nodeSelector = { ...spec.nodeSelector, 'kubernetes.io/hostname': options.nodeName };
  spec.volumes = spec.volumes?.map((volume) =>
    volume.persistentVolumeClaim === undefined
      ? volume
      : { name: volume.name, hostPath: { path: options.checkpointHostPath, type: 'DirectoryOrCreate' } },
  );
  const main = only(spec);
  // Probes go to the pod's address by default; a pod on the host's network of a node without
  // an address has none, and the processes listen on 127.0.0.1 only.
  for (const probe of [main.startupProbe, main.livenessProbe, main.readinessProbe]) {
    if (probe?.httpGet !== undefined) probe.httpGet.host = LOOPBACK;
  }
}

/** Replaces the value after `flag` in the container's arguments; the flag must be there. */
function setFlag(container: V1Container, flag: string, value: string): void {
  const args = container.args ?? [];
  const at = args.indexOf(flag);
  if (at < 0 || at + 1 >= args.length)
    throw new Error(`assertion: container ${container.name} has no ${flag} argument to rewrite`);
  args[at + 1] = value;
}

/** Sets the named container ports' numbers (probes name ports, so they follow). */
function setPorts(container: V1Container, numbers: Record<string, number>): void {
  for (const port of container.ports ?? []) {
    const number = port.name === undefined ? undefined : numbers[port.name];
    if (number !== undefined) port.containerPort = number;
  }
}

function podSpecOf(deployment: V1Deployment): V1PodSpec {
  const spec = deployment.spec?.template.spec;
  if (spec === undefined)
    throw new Error(`assertion: rendered Deployment ${deployment.metadata?.name} has no pod spec`);
  return spec;
}

function only(spec: V1PodSpec): V1Container {
  const main = spec.containers[0];
  if (main === undefined || spec.containers.length !== 1)
    throw new Error('assertion: a rendered pod has exactly one container');
  return main;
}

function checkOptions(job: ResolvedJob, options: HostNetworkOptions): void {
  const fail = (field: string, problem: string): never => {
    throw new K8sConfigError(`render options: hostNetwork.${field} ${problem}`);
  };
  if (typeof options.checkpointHostPath !== 'string' || !options.checkpointHostPath.startsWith('/'))
    fail('checkpointHostPath', `must be an absolute path, got ${JSON.stringify(options.checkpointHostPath)}`);
  const ranges: [string, number, number][] = [
    ['controlPort', options.controlPort, options.controlPort],
    ['dataPort', options.dataPort, options.dataPort + job.parallelism - 1],
    ['healthPort', options.healthPort, options.healthPort + job.parallelism],
  ];
  for (const [field, first, last] of ranges) {
    if (!Number.isInteger(first) || first < 1 || last > PORT_MAX)
      fail(field, `must leave ports ${first} to ${last} within 1 to ${PORT_MAX}`);
  }
  for (const [field, first, last] of ranges) {
    for (const [other, otherFirst, otherLast] of ranges) {
      if (field < other && first <= otherLast && otherFirst <= last)
        fail(field, `ports ${first}-${last} overlap ${other}'s ${otherFirst}-${otherLast}`);
    }
  }
}
