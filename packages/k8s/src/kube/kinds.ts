/**
 * The REST collection of each kind this package writes. A fixed table rather than API
 * discovery: these kinds are stable across every supported Kubernetes, and a kind missing here
 * is our bug, reported as such.
 */
import { resourcePath } from './rest.ts';

const PLURALS: Readonly<Record<string, string>> = {
  ServiceAccount: 'serviceaccounts',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  ConfigMap: 'configmaps',
  Secret: 'secrets',
  PersistentVolumeClaim: 'persistentvolumeclaims',
  PersistentVolume: 'persistentvolumes',
  Service: 'services',
  Deployment: 'deployments',
  Pod: 'pods',
  PodDisruptionBudget: 'poddisruptionbudgets',
  NetworkPolicy: 'networkpolicies',
  Namespace: 'namespaces',
  Lease: 'leases',
  CustomResourceDefinition: 'customresourcedefinitions',
  SluiceJob: 'sluicejobs',
};

export interface ObjectRef {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

/** The collection path of `object`'s kind (where it is created), in its namespace if it has one. */
export function collectionPath(object: ObjectRef): string {
  const { apiVersion, kind } = object;
  const plural = kind === undefined ? undefined : PLURALS[kind];
  if (apiVersion === undefined || plural === undefined) {
    throw new Error(`no REST path known for ${apiVersion}/${kind}: add it to kube/kinds.ts`);
  }
  return resourcePath(apiVersion, plural, object.metadata?.namespace);
}

/** The path of `object` itself. */
export function objectPath(object: ObjectRef): string {
  const name = object.metadata?.name;
  if (name === undefined) throw new Error(`${object.kind} without metadata.name`);
  return `${collectionPath(object)}/${name}`;
}
