// What the speakers act on may be written only by the module itself. A speaker announces the address
// of an L2LBService whose `spec.nodes` names its node first while its Lease is fresh, so whoever can
// write an L2LBService or a speaker Lease can make a node answer ARP for an address of their choosing
// (the speaker still refuses addresses outside every pool, lib/speaker/pools.ts). RBAC alone cannot
// say this: a namespace admin may be granted `*` on every resource of their namespace. These
// ValidatingAdmissionPolicies (CEL, in the API server, no webhook to run) say it for everyone.
//
// Members of `system:masters` pass: that group bypasses RBAC and is the break-glass identity of a
// cluster; no namespace user is in it.
import { INTERNAL_GROUP, LEASE_PREFIX, MODULE_NAMESPACE } from '../lib/model';
import { HOOKS_NAME, moduleLabels, SPEAKER_NAME } from './meta';
import type { KubernetesObject } from './types';

const serviceAccountUser = (namespace: string, name: string): string =>
  `system:serviceaccount:${namespace}:${name}`;

/** The hooks: under plain shell-operator their own ServiceAccount, under Deckhouse the deckhouse one. */
export const HOOKS_USERS: readonly string[] = [
  serviceAccountUser(MODULE_NAMESPACE, HOOKS_NAME),
  serviceAccountUser('d8-system', 'deckhouse'),
];
export const SPEAKER_USER = serviceAccountUser(MODULE_NAMESPACE, SPEAKER_NAME);
/**
 * Who deletes on the module's behalf: the garbage collector (an L2LBService is owned by its Service)
 * and the namespace controller, with per-controller credentials or kube-controller-manager's own.
 */
export const CLEANUP_USERS: readonly string[] = [
  serviceAccountUser('kube-system', 'generic-garbage-collector'),
  serviceAccountUser('kube-system', 'namespace-controller'),
  'system:kube-controller-manager',
];

export const L2LBSERVICE_POLICY = 'd8-l2-load-balancer-l2lbservices';
export const SPEAKER_LEASE_POLICY = 'd8-l2-load-balancer-speaker-leases';
/** Set on a bound ServiceAccount token of a Pod: the node the Pod runs on (Kubernetes 1.32+). */
const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

const cel = (s: string): string => `'${s}'`;
const celList = (xs: readonly string[]): string => `[${xs.map(cel).join(', ')}]`;

const NOT_BREAK_GLASS = {
  name: 'not-system-masters',
  expression: "!(has(request.userInfo.groups) && 'system:masters' in request.userInfo.groups)",
};
const CLEANUP = `(request.operation == 'DELETE' && request.userInfo.username in ${celList(CLEANUP_USERS)})`;

function policy(name: string, spec: Record<string, unknown>): KubernetesObject[] {
  const apiVersion = 'admissionregistration.k8s.io/v1';
  const metadata = { name, labels: moduleLabels() };
  return [
    { apiVersion, kind: 'ValidatingAdmissionPolicy', metadata, spec: { failurePolicy: 'Fail', ...spec } },
    {
      apiVersion,
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata,
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ];
}

/** L2LBServices: the hooks write them, the speakers only their status. */
function l2lbServicePolicy(): KubernetesObject[] {
  return policy(L2LBSERVICE_POLICY, {
    matchConstraints: {
      resourceRules: [
        {
          apiGroups: [INTERNAL_GROUP],
          apiVersions: ['*'],
          operations: ['CREATE', 'UPDATE', 'DELETE'],
          resources: ['l2lbservices', 'l2lbservices/status'],
        },
      ],
    },
    matchConditions: [NOT_BREAK_GLASS],
    // The admission request leaves out an empty subResource.
    variables: [{ name: 'subresource', expression: "has(request.subResource) ? request.subResource : ''" }],
    validations: [
      {
        expression: [
          `request.userInfo.username in ${celList(HOOKS_USERS)}`,
          `(variables.subresource == 'status' && request.userInfo.username == ${cel(SPEAKER_USER)})`,
          CLEANUP,
        ].join(' || '),
        messageExpression:
          "'l2-load-balancer: ' + request.userInfo.username + ' may not ' + request.operation + ' L2LBService ' + " +
          "request.namespace + '/' + request.name + (variables.subresource == '' ? '' : '/' + variables.subresource) + " +
          "': only the module writes these objects (its hooks the object, its speakers the status). " +
          'Ask for addresses with the Service annotations network.deckhouse.io/l2-load-balancer-name, ' +
          "network.deckhouse.io/l2-load-balancer-external-ips-count and network.deckhouse.io/load-balancer-ips.'",
        reason: 'Forbidden',
      },
    ],
  });
}

/**
 * Speaker Leases (`l2lb-speaker-<node>` in the module namespace): only the speakers write them, and a
 * speaker whose token is bound to a Pod on a node only the Lease of that node.
 */
function speakerLeasePolicy(): KubernetesObject[] {
  return policy(SPEAKER_LEASE_POLICY, {
    matchConstraints: {
      resourceRules: [
        {
          apiGroups: ['coordination.k8s.io'],
          apiVersions: ['*'],
          operations: ['CREATE', 'UPDATE', 'DELETE'],
          resources: ['leases'],
        },
      ],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': MODULE_NAMESPACE } },
    },
    matchConditions: [
      { name: 'speaker-lease', expression: `request.name.startsWith(${cel(LEASE_PREFIX)})` },
      NOT_BREAK_GLASS,
    ],
    variables: [
      {
        name: 'node',
        expression:
          `has(request.userInfo.extra) && ${cel(NODE_NAME_EXTRA)} in request.userInfo.extra && ` +
          `size(request.userInfo.extra[${cel(NODE_NAME_EXTRA)}]) > 0 ? ` +
          `request.userInfo.extra[${cel(NODE_NAME_EXTRA)}][0] : ''`,
      },
    ],
    validations: [
      {
        expression: `request.userInfo.username == ${cel(SPEAKER_USER)} || ${CLEANUP}`,
        messageExpression:
          "'l2-load-balancer: ' + request.userInfo.username + ' may not ' + request.operation + ' Lease ' + " +
          "request.namespace + '/' + request.name + ': speaker Leases decide which node announces an address; " +
          "only the speakers write them.'",
        reason: 'Forbidden',
      },
      {
        expression: `variables.node == '' || request.name == ${cel(LEASE_PREFIX)} + variables.node`,
        messageExpression:
          "'l2-load-balancer: the speaker on node ' + variables.node + ' may write only its own Lease " +
          `${LEASE_PREFIX}' + variables.node + ', not ' + request.name`,
        reason: 'Forbidden',
      },
    ],
  });
}

export function admissionPolicies(): KubernetesObject[] {
  return [...l2lbServicePolicy(), ...speakerLeasePolicy()];
}
