// Least-privilege RBAC of the speaker, and of the hooks when the module runs under plain shell-operator.
import { GROUP, INTERNAL_GROUP, MODULE_NAMESPACE } from '../lib/model';
import {
  IPADDRESSPOOL_POLICY,
  L2LBSERVICE_POLICY,
  SERVICE_ANNOTATIONS_POLICY,
  SPEAKER_LEASE_POLICY,
} from './admission';
import { DASHBOARD_CONFIGMAP } from './dashboard';
import { clusterMeta, clusterName, HOOKS_NAME, namespacedMeta, SPEAKER_NAME } from './meta';
import type { KubernetesObject, ObjectMeta } from './types';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];

/** What the hooks do to the module's own objects: shell-operator's CreateOrUpdate gets, then creates or patches. */
const APPLY = ['get', 'create', 'update', 'patch'];

function rule(apiGroup: string, resources: string[], verbs: string[], resourceNames?: string[]): PolicyRule {
  return { apiGroups: [apiGroup], resources, verbs, ...(resourceNames ? { resourceNames } : {}) };
}

/**
 * Lets the hooks apply one named object: creating can't be limited by name (the request has none
 * yet when it is authorized), everything after can.
 */
function applyNamed(apiGroup: string, resources: string[], ...names: string[]): PolicyRule[] {
  return [
    rule(apiGroup, resources, ['create']),
    rule(apiGroup, resources, ['get', 'update', 'patch'], names),
  ];
}

const SPEAKER_CLUSTER_ROLE = clusterName(SPEAKER_NAME);

/** Events, in the core and the events.k8s.io flavours, since clients differ in which they write. */
function eventRules(verbs: string[]): PolicyRule[] {
  return [rule('', ['events'], verbs), rule('events.k8s.io', ['events'], verbs)];
}

/**
 * What the speaker calls (images/speaker/cluster.ts): it reads L2LBServices and L2LoadBalancers,
 * writes L2LBService status, and nothing else cluster-wide (no Nodes, EndpointSlices or Events).
 */
export const SPEAKER_CLUSTER_RULES: readonly PolicyRule[] = [
  rule(INTERNAL_GROUP, ['l2lbservices'], READ),
  rule(INTERNAL_GROUP, ['l2lbservices/status'], ['patch']),
  rule(GROUP, ['l2loadbalancers'], READ),
];

/** The speakers' Leases live in the module namespace only. The speaker renews with merge patches. */
export const SPEAKER_NAMESPACE_RULES: readonly PolicyRule[] = [
  rule('coordination.k8s.io', ['leases'], ['get', 'list', 'watch', 'create', 'update', 'patch']),
];

export const HOOKS_CLUSTER_RULES: readonly PolicyRule[] = [
  // The control loop (hooks/reconcile.ts).
  rule('', ['services'], READ),
  rule('', ['services/status'], ['get', 'patch', 'update']),
  rule('', ['nodes'], [...READ, 'patch']),
  rule(GROUP, ['l2loadbalancers'], READ),
  rule(GROUP, ['l2loadbalancers/status'], ['get', 'patch', 'update']),
  rule(INTERNAL_GROUP, ['l2lbservices'], [...READ, ...WRITE]),
  rule('discovery.k8s.io', ['endpointslices'], READ),
  // Namespace labels, for L2LoadBalancer spec.serviceAllocation.namespaceSelector.
  rule('', ['namespaces'], READ),
  ...eventRules(['create', 'patch']),
  // The module's own objects (hooks/module_objects.ts): whether MetalLB and prometheus-operator are
  // installed, the namespace, the speaker's ClusterRole and binding, the IPAddressPools, and the
  // admission policies that keep L2LBServices and speaker Leases to the module (templates/admission.ts).
  rule('apiextensions.k8s.io', ['customresourcedefinitions'], READ),
  ...applyNamed('', ['namespaces'], MODULE_NAMESPACE),
  ...applyNamed('rbac.authorization.k8s.io', ['clusterroles', 'clusterrolebindings'], SPEAKER_CLUSTER_ROLE),
  // Any IPAddressPool by RBAC (a create cannot be limited by name); only the module's own ones by the
  // admission policy IPADDRESSPOOL_POLICY (templates/admission.ts).
  rule('metallb.io', ['ipaddresspools'], [...READ, ...WRITE]),
  ...applyNamed(
    'admissionregistration.k8s.io',
    ['validatingadmissionpolicies', 'validatingadmissionpolicybindings'],
    L2LBSERVICE_POLICY,
    SPEAKER_LEASE_POLICY,
    SERVICE_ANNOTATIONS_POLICY,
    IPADDRESSPOOL_POLICY,
  ),
  // Kubernetes lets a ServiceAccount grant only what it holds (an `escalate` limited by resourceNames
  // does not cover creating the role), so the hooks hold the speaker's status write themselves.
  rule(INTERNAL_GROUP, ['l2lbservices/status'], ['patch']),
];

/** In the module namespace: Leases and the settings ConfigMap to read, the speaker's objects to apply. */
export const HOOKS_NAMESPACE_RULES: readonly PolicyRule[] = [
  // Reading Leases is what the control loop needs; writing them only lets the hooks grant the speaker's Role.
  ...SPEAKER_NAMESPACE_RULES,
  rule('', ['configmaps'], READ),
  rule('', ['serviceaccounts'], APPLY),
  rule('apps', ['daemonsets'], APPLY),
  rule('rbac.authorization.k8s.io', ['roles', 'rolebindings'], APPLY),
  rule('monitoring.coreos.com', ['podmonitors', 'prometheusrules'], APPLY),
  ...applyNamed('', ['configmaps'], DASHBOARD_CONFIGMAP),
  // The heartbeat key (templates/heartbeat-key.ts): shell-operator's CreateIfNotExists is a create
  // that ignores AlreadyExists, so create is all it takes; the hooks can read no Secret.
  rule('', ['secrets'], ['create']),
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
