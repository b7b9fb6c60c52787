// Least-privilege RBAC of the speaker, and of the hooks when the module runs under plain shell-operator.
import { GROUP, INTERNAL_GROUP, MODULE_NAMESPACE } from '../lib/model';
import { clusterMeta, HOOKS_NAME, namespacedMeta, SPEAKER_NAME } from './meta';
import type { KubernetesObject, ObjectMeta } from './types';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];

function rule(apiGroup: string, resources: string[], verbs: string[]): PolicyRule {
  return { apiGroups: [apiGroup], resources, verbs };
}

/** Events, in the core and the events.k8s.io flavours, since clients differ in which they write. */
function eventRules(verbs: string[]): PolicyRule[] {
  return [rule('', ['events'], verbs), rule('events.k8s.io', ['events'], verbs)];
}

export const SPEAKER_CLUSTER_RULES: readonly PolicyRule[] = [
  rule(INTERNAL_GROUP, ['l2lbservices'], READ),
  rule(INTERNAL_GROUP, ['l2lbservices/status'], ['patch']),
  rule(GROUP, ['l2loadbalancers'], READ),
  rule('discovery.k8s.io', ['endpointslices'], ['list', 'watch']),
  rule('', ['nodes'], ['get']),
  ...eventRules(['create']),
];

/** The speakers' Leases live in the module namespace only. */
export const SPEAKER_NAMESPACE_RULES: readonly PolicyRule[] = [
  rule('coordination.k8s.io', ['leases'], ['get', 'list', 'watch', 'create', 'update']),
];

export const HOOKS_CLUSTER_RULES: readonly PolicyRule[] = [
  rule('', ['services'], READ),
  rule('', ['services/status'], ['get', 'patch', 'update']),
  rule('', ['nodes'], [...READ, 'patch']),
  rule(GROUP, ['l2loadbalancers'], READ),
  rule(GROUP, ['l2loadbalancers/status'], ['get', 'patch', 'update']),
  rule(INTERNAL_GROUP, ['l2lbservices'], [...READ, ...WRITE]),
  rule('discovery.k8s.io', ['endpointslices'], READ),
  ...eventRules(['create', 'patch']),
  // Whether MetalLB is installed decides if the pools are mirrored as IPAddressPools.
  rule('apiextensions.k8s.io', ['customresourcedefinitions'], READ),
  rule('metallb.io', ['ipaddresspools'], [...READ, ...WRITE]),
];

/** The speakers' Leases and the settings ConfigMap (standalone) live in the module namespace. */
export const HOOKS_NAMESPACE_RULES: readonly PolicyRule[] = [
  rule('coordination.k8s.io', ['leases'], READ),
  rule('', ['configmaps'], READ),
];

function serviceAccount(name: string): KubernetesObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: namespacedMeta(name, name) };
}

/** A Role or ClusterRole and the binding that grants it to the ServiceAccount of the same component. */
function grant(
  kind: 'Role' | 'ClusterRole',
  metadata: ObjectMeta,
  account: string,
  rules: readonly PolicyRule[],
) {
  const apiVersion = 'rbac.authorization.k8s.io/v1';
  return [
    { apiVersion, kind, metadata, rules: [...rules] },
    {
      apiVersion,
      kind: `${kind}Binding`,
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: metadata.name },
      subjects: [{ kind: 'ServiceAccount', name: account, namespace: MODULE_NAMESPACE }],
    },
  ];
}

export function speakerRbac(): KubernetesObject[] {
  return [
    serviceAccount(SPEAKER_NAME),
    ...grant('ClusterRole', clusterMeta(SPEAKER_NAME, SPEAKER_NAME), SPEAKER_NAME, SPEAKER_CLUSTER_RULES),
    ...grant('Role', namespacedMeta(SPEAKER_NAME, SPEAKER_NAME), SPEAKER_NAME, SPEAKER_NAMESPACE_RULES),
  ];
}

export function hooksRbac(): KubernetesObject[] {
  return [
    serviceAccount(HOOKS_NAME),
    ...grant('ClusterRole', clusterMeta(HOOKS_NAME, HOOKS_NAME), HOOKS_NAME, HOOKS_CLUSTER_RULES),
    ...grant('Role', namespacedMeta(HOOKS_NAME, HOOKS_NAME), HOOKS_NAME, HOOKS_NAMESPACE_RULES),
  ];
}
