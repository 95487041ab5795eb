/**
 * What may talk to what, and how many task managers a voluntary disruption (a node drain) may
 * take at once.
 *
 * NetworkPolicies: task manager ↔ task manager on the data port, task manager → job manager on
 * the control port, and DNS (the task managers find the job manager's Service by name); nothing
 * else in or out. Policies add up, so a job whose sources and sinks live elsewhere (Kafka) gets
 * its egress from a policy of the user's own, selecting the same pods.
 */
import type {
  KubernetesObject,
  V1LabelSelector,
  V1NetworkPolicyEgressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1PodDisruptionBudget,
} from '@kubernetes/client-node';
import { PORTS, type ResolvedJob } from '../job-spec.ts';
import { type ManagedBy, names, objectLabels, selectorLabels } from './names.ts';

/**
 * A NetworkPolicy as the API server reads it. The client library's model names the ingress
 * rule's `from` `_from` (a reserved word in its generator), which is not what YAML must say.
 */
export interface NetworkPolicy extends KubernetesObject {
  spec: {
    podSelector: V1LabelSelector;
    policyTypes: ('Ingress' | 'Egress')[];
    ingress: { from: V1NetworkPolicyPeer[]; ports: V1NetworkPolicyPort[] }[];
    egress: V1NetworkPolicyEgressRule[];
  };
}

function dnsEgress(): V1NetworkPolicyEgressRule {
  return {
    to: [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      },
    ],
    ports: [
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ],
  };
}

export function networkPolicies(job: ResolvedJob, managedBy: ManagedBy): NetworkPolicy[] {
  const taskManagers: V1NetworkPolicyPeer = {
    podSelector: { matchLabels: selectorLabels(job, 'taskmanager') },
  };
  const jobManager: V1NetworkPolicyPeer = { podSelector: { matchLabels: selectorLabels(job, 'jobmanager') } };
  const data = [{ protocol: 'TCP', port: PORTS.data }];
  const control = [{ protocol: 'TCP', port: PORTS.control }];
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: names.networkPolicy(job, 'taskmanager'),
        namespace: job.namespace,
        labels: objectLabels(job, managedBy, 'taskmanager'),
      },
      spec: {
        podSelector: { matchLabels: selectorLabels(job, 'taskmanager') },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [taskManagers], ports: data }],
        egress: [{ to: [taskManagers], ports: data }, { to: [jobManager], ports: control }, dnsEgress()],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name: names.networkPolicy(job, 'jobmanager'),
        namespace: job.namespace,
        labels: objectLabels(job, managedBy, 'jobmanager'),
      },
      spec: {
        podSelector: { matchLabels: selectorLabels(job, 'jobmanager') },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [taskManagers], ports: control }],
        // The job manager dials nobody: task managers connect to it.
        egress: [dnsEgress()],
      },
    },
  ];
}

/**
 * Any task manager lost restarts the job from its last checkpoint; a drain that takes them one
 * at a time, each back before the next goes, keeps the job able to restart at all times.
 */
export function taskManagerDisruptionBudget(job: ResolvedJob, managedBy: ManagedBy): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: names.disruptionBudget(job),
      namespace: job.namespace,
      labels: objectLabels(job, managedBy, 'taskmanager'),
    },
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(job, 'taskmanager') },
    },
  };
}
